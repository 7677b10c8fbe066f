"""Named crash points for the fault tests.

``fault_point("after_segments")`` ends the process at once, as ``kill -9`` would, when the
environment variable ``PARETORAY_FAULT_POINT`` names that point; otherwise it does nothing
(one dictionary lookup). The tests run a writer in a child process with the variable set,
then check what a restarted writer makes of the run directory. The points, in commit order:

- ``after_segments``: a group's segment files are written and fsynced, not yet committed;
- ``after_commit``: the manifest (or its journal) lists them; the coordinator's state
  record, idle rule and adapter have not run;
- ``after_adapt``: everything of the commit is done but the receipt was not returned.
"""

from __future__ import annotations

import os


def fault_point(name: str) -> None:
    """Die here when ``PARETORAY_FAULT_POINT == name`` (exit status 137, no cleanup)."""
    if os.environ.get("PARETORAY_FAULT_POINT") == name:
        os._exit(137)
