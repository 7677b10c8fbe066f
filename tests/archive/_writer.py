"""A writer that appends forever; the kill tests run it in a subprocess and SIGKILL it.

Usage: python _writer.py RUN_DIR SEED [--network]

``--network`` appends network points: every point's "parameters" hold its own objectives
(``obj``), so a checkpoint can be matched to the row that refers to it, and objectives
shrink over the appends, so later points dominate earlier ones and checkpoints are
garbage-collected as the front moves.
"""

from __future__ import annotations

import sys
import types
import warnings
from pathlib import Path

import numpy as np

# Import only paretoray.archive: skipping the package __init__ (which loads torch) makes the
# writer start in a fraction of a second, so the kill tests stay fast.
_pkg = types.ModuleType("paretoray")
_pkg.__path__ = [str(Path(__file__).resolve().parents[2] / "paretoray")]
sys.modules.setdefault("paretoray", _pkg)

from paretoray.archive import Store  # noqa: E402


def _vector_append(store: Store, rng: np.random.Generator, seed: int, i: int) -> None:
    k = 2000
    store.append(rng.random((k, 2)) + 0.01 * seed, preference=rng.dirichlet([1, 1], k),
                 x=rng.random((k, 8)), round=store.n_rounds, shard=seed,
                 member=np.arange(k), algorithm="epo", step=i)


def _network_append(store: Store, rng: np.random.Generator, seed: int, i: int) -> None:
    k = 64
    obj = rng.random((k, 2)) * 0.999 ** (store.n_rounds + i)
    params = {"obj": obj.astype(np.float64), "w": rng.random((k, 256), np.float32)}
    store.append(obj, preference=rng.dirichlet([1, 1], k), round=store.n_rounds,
                 shard=seed, member=np.arange(k), algorithm="epo", step=i,
                 params=params, metrics={"acc": rng.random(k)})


def main() -> None:
    run_dir, seed = sys.argv[1], int(sys.argv[2])
    append = _network_append if "--network" in sys.argv[3:] else _vector_append
    warnings.simplefilter("ignore")  # stale-lock and orphan notices are expected here
    rng = np.random.default_rng(seed)
    with Store.open(run_dir) as store:
        print("ready", flush=True)
        for i in range(10_000):
            append(store, rng, seed, i)


if __name__ == "__main__":
    main()
