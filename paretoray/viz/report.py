"""``write_report``: one self-contained HTML file showing one or more runs, that opens offline.

The page is the dashboard's (:mod:`paretoray.viz.page`) with the runs' views and figures
embedded as JSON and plotly.js inlined from the installed ``plotly`` package, so opening the
file makes no network request.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from paretoray.errors import ConfigError

__all__ = ["report_html", "write_report"]


def _as_list(run_dirs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[str]:
    items = [run_dirs] if isinstance(run_dirs, str | os.PathLike) else list(run_dirs)
    if not items:
        raise ConfigError("run_dirs is empty: give at least one run directory to report on.")
    return [os.fspath(r) for r in items]


def report_html(run_dirs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> str:
    """The report page of ``run_dirs`` as a string (see :func:`write_report`)."""
    import plotly.offline

    from paretoray.viz.data import build_view
    from paretoray.viz.figures import figures_json
    from paretoray.viz.page import render_page

    dirs = _as_list(run_dirs)
    payload = []
    for i, run_dir in enumerate(dirs):
        view = build_view(run_dir)
        payload.append({"index": i, "view": view, "figures": figures_json(view)})
    names = ", ".join(p["view"]["name"] for p in payload)
    script = f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>'
    return render_page(payload, live=False, n_runs=len(dirs), plotly_script=script,
                       title=f"paretoray report: {names}")


def write_report(
    run_dirs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    path: str | os.PathLike[str],
) -> Path:
    """Write one self-contained HTML report of one or more runs, side by side.

    The file embeds plotly.js and the data (front, true front, preference rays, HV/IGD per
    round with session boundaries, per-shard progress, lineage): it opens offline and can be
    shared as is (about 5 MB, mostly plotly.js).

    Args:
        run_dirs: A run directory, or several to compare (local paths or pyarrow URIs).
        path: The HTML file to write (its folder must exist).

    Returns:
        The path written.

    Raises:
        ArchiveError: When a run directory is missing or unreadable.
        ConfigError: When ``run_dirs`` is empty or ``path``'s folder does not exist.
    """
    out = Path(path)
    if not out.parent.is_dir():
        raise ConfigError(f"Cannot write the report to {str(out)!r}: folder "
                          f"{str(out.parent)!r} does not exist. Create it or pick another path.")
    text = report_html(run_dirs)
    out.write_text(text, encoding="utf-8")
    return out
