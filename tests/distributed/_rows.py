"""What the committed segments hold, read with pyarrow alone (independent of paretoray's
coordinator state): the checks that a round was committed once and nothing was lost."""

from __future__ import annotations

import collections

import pyarrow as pa

from paretoray.archive.reader import segment_paths


def read_rows(run_dir) -> pa.Table:
    """Every committed row of a run directory."""
    tables = []
    for path in segment_paths(str(run_dir)):
        with pa.memory_map(path) as src:
            tables.append(pa.ipc.open_file(src).read_all())
    return pa.concat_tables(tables) if tables else pa.table({})


def round_keys(run_dir) -> collections.Counter:
    """How many segments hold each (shard, round)."""
    keys: collections.Counter = collections.Counter()
    for path in segment_paths(str(run_dir)):
        with pa.memory_map(path) as src:
            table = pa.ipc.open_file(src).read_all()
        pairs = set(zip(table["shard"].to_pylist(), table["round"].to_pylist(), strict=True))
        for s, r in pairs:
            keys[(int(s), int(r))] += 1
    return keys


def wait_for_rounds(run_dir, n: int, proc, timeout: float = 180.0) -> None:
    """Wait until ``n`` (shard, round) pairs are committed while ``proc`` still runs."""
    import time

    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        try:
            if len(round_keys(run_dir)) >= n:
                return
        except Exception:  # the run directory is being created
            pass
        time.sleep(0.3)
    out = proc.communicate()[1] if proc.poll() is not None else "still running"
    raise AssertionError(f"{n} rounds were not committed in {timeout:.0f} s: {out!s:.2000}")
