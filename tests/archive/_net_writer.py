"""A network-run writer that appends points with checkpoints forever; killed by a test.

Every point's "parameters" hold its own objectives (``obj``), so a checkpoint can be matched
to the row that refers to it. Objectives shrink over the appends, so later points dominate
earlier ones and checkpoints are garbage-collected as the front moves.

Usage: python _net_writer.py RUN_DIR SEED
"""

from __future__ import annotations

import sys
import types
import warnings
from pathlib import Path

import numpy as np

# Import only paretoray.archive (not the package __init__, which loads torch): fast start.
_pkg = types.ModuleType("paretoray")
_pkg.__path__ = [str(Path(__file__).resolve().parents[2] / "paretoray")]
sys.modules.setdefault("paretoray", _pkg)

from paretoray.archive import Store  # noqa: E402


def main() -> None:
    run_dir, seed = sys.argv[1], int(sys.argv[2])
    warnings.simplefilter("ignore")  # stale-lock and orphan notices are expected here
    rng = np.random.default_rng(seed)
    with Store.open(run_dir) as store:
        print("ready", flush=True)
        for i in range(10_000):
            k = 64
            obj = rng.random((k, 2)) * 0.999 ** (store.n_rounds + i)
            params = {"obj": obj.astype(np.float64), "w": rng.random((k, 256), np.float32)}
            store.append(obj, preference=rng.dirichlet([1, 1], k), round=store.n_rounds,
                         shard=seed, member=np.arange(k), algorithm="epo", step=i,
                         params=params, metrics={"acc": rng.random(k)})


if __name__ == "__main__":
    main()
