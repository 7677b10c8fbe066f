"""Append until writes fail: RLIMIT_FSIZE makes every file larger than the limit fail with
EFBIG, as a full disk fails with ENOSPC. Prints what happened, one line per event.

Usage: python _full_disk.py RUN_DIR LIMIT_BYTES
"""

from __future__ import annotations

import resource
import signal
import sys
import types
import warnings
from pathlib import Path

import numpy as np

_pkg = types.ModuleType("paretoray")  # only paretoray.archive: no torch, a fast start
_pkg.__path__ = [str(Path(__file__).resolve().parents[2] / "paretoray")]
sys.modules.setdefault("paretoray", _pkg)

from paretoray.archive import Store  # noqa: E402
from paretoray.errors import ArchiveError  # noqa: E402


def main() -> None:
    run_dir, limit = sys.argv[1], int(sys.argv[2])
    rng = np.random.default_rng(0)
    store = Store.open(run_dir, compact_every=1000)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write instead of killing us
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    for k in (10, 100_000):  # the second segment is far larger than the limit
        try:
            res = store.append(rng.random((k, 2)), preference=[0.5, 0.5], x=rng.random((k, 3)),
                               round=3 + k // 100_000, shard=0, member=np.arange(k),
                               algorithm="epo", step=k)
            print("committed", res.segment, flush=True)
        except ArchiveError as err:
            print("error", str(err).replace("\n", " "), flush=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store.close()
    print("closed", *[str(w.message) for w in caught], flush=True)


if __name__ == "__main__":
    main()
