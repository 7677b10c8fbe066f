"""A deterministic writer of a ZDT1 run, round by round, with :class:`paretoray.archive.Store`.

Usage: python _writer.py RUN_DIR ROUNDS PAUSE_S [--ready-file PATH] [--go-file PATH]

``--ready-file`` is created once the run directory exists; with ``--go-file`` the writer
commits round 0, then waits (up to 120 s) for that file before the other rounds, so a test
can first see the page show round 0.

Each round, two shards each append ``P`` points: half of them on the true ZDT1 front
(``x2..xd = 0``) at new ``f1`` positions, so the front grows by at least ``P/2`` per shard and
round, and half dominated (``x2..xd > 0``). The points depend only on the round and the shard,
so two runs write the same rows (all columns but ``time``). Run in a subprocess so the test's
dashboard and browser never share the writer's interpreter.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from paretoray.archive import Store

P = 8
D = 5
SHARDS = 2


def zdt1(x: np.ndarray) -> np.ndarray:
    """ZDT1's objectives of a `k x d`-dim array of decisions: a `k x 2`-dim array."""
    f1 = x[:, 0]
    g = 1.0 + 9.0 / (x.shape[1] - 1) * x[:, 1:].sum(axis=1)
    return np.stack([f1, g * (1.0 - np.sqrt(f1 / g))], axis=1)


def round_points(rnd: int, shard: int, rounds: int) -> tuple[np.ndarray, np.ndarray]:
    """The decisions and preferences that ``shard`` offers in round ``rnd``."""
    rng = np.random.default_rng(1000 * rnd + shard)
    slots = rounds * SHARDS * (P // 2)
    start = (rnd * SHARDS + shard) * (P // 2)
    x = np.zeros((P, D))
    x[: P // 2, 0] = (np.arange(start, start + P // 2) * 7919 % slots + 0.5) / slots
    x[P // 2 :, 0] = rng.random(P // 2)
    x[P // 2 :, 1:] = rng.random((P // 2, D - 1)) * 0.3
    pref = np.stack([1.0 - x[:, 0], x[:, 0]], axis=1) + 1e-3
    return x, pref / pref.sum(axis=1, keepdims=True)


def write(run_dir: str, rounds: int, pause_s: float, ready_file: str | None = None,
          go_file: str | None = None) -> None:
    """Create ``run_dir`` and write ``rounds`` rounds of both shards, pausing between rounds."""
    meta = {"problem": "zdt1", "algorithm": "epo", "ref_point": [1.1, 1.1],
            "config": {"problem": "zdt1", "problem_options": {"n_var": D}},
            "lineage": [{"session": 1, "first_round": 0, "rounds": rounds,
                         "started": time.time()}]}
    with Store.create(run_dir, n_obj=2, n_var=D, meta=meta) as store:
        if ready_file:
            Path(ready_file).write_text("ready")
        for rnd in range(rounds):
            if rnd == rounds // 2:  # a resumed session starts half way
                lineage = [*store.meta["lineage"],
                           {"session": 2, "first_round": rnd, "rounds": rounds - rnd,
                            "started": time.time()}]
                lineage[0] = {**lineage[0], "rounds": rnd}
                store.update_meta(lineage=lineage)
            for shard in range(SHARDS):
                x, pref = round_points(rnd, shard, rounds)
                store.append(zdt1(x), preference=pref, x=x, round=rnd, shard=shard,
                             member=np.arange(P) + shard * P, algorithm="epo",
                             step=(rnd + 1) * 50)
            if rnd == 0 and go_file:
                deadline = time.monotonic() + 120
                while not Path(go_file).exists() and time.monotonic() < deadline:
                    time.sleep(0.05)
            time.sleep(pause_s)


if __name__ == "__main__":
    args = sys.argv[1:]
    files: dict[str, str | None] = {"--ready-file": None, "--go-file": None}
    for flag in files:
        if flag in args:
            i = args.index(flag)
            files[flag] = args[i + 1]
            del args[i : i + 2]
    write(args[0], int(args[1]), float(args[2]), files["--ready-file"], files["--go-file"])
