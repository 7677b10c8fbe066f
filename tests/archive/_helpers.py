"""Shared helpers for the archive tests: an independent brute-force front and a store filler."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from paretoray.archive import Store


def brute_force_front(points: np.ndarray) -> set[tuple[float, ...]]:
    """The nondominated objective vectors of ``points`` (minimization), by double loop."""
    pts = [tuple(map(float, p)) for p in np.asarray(points)]
    front = set()
    for p in pts:
        dominated = any(
            all(q_i <= p_i for q_i, p_i in zip(q, p, strict=True)) and q != p for q in pts
        )
        if not dominated:
            front.add(p)
    return front


def as_set(points: np.ndarray) -> set[tuple[float, ...]]:
    """The rows of ``points`` as a set of tuples, asserting there are no repeated rows."""
    rows = [tuple(map(float, p)) for p in np.asarray(points)]
    assert len(set(rows)) == len(rows), "the front holds a duplicate objective vector"
    return set(rows)


def fill(
    store: Store,
    chunks: list[np.ndarray],
    *,
    d: int | None = 3,
    seed: int = 0,
    start_round: int = 0,
    shards: int = 1,
) -> list[str | None]:
    """Append each `k x m` chunk as one (shard, round); returns the segment names written.

    Chunk ``i`` goes to shard ``i % shards`` in round ``start_round + i // shards``, so
    every shard's rounds are consecutive, as the coordinator commits them.
    """
    rng = np.random.default_rng(seed)
    names = []
    for i, chunk in enumerate(chunks):
        k, m = chunk.shape
        res = store.append(
            chunk,
            preference=np.full(m, 1.0 / m),
            x=None if d is None else rng.random((k, d)),
            round=start_round + i // shards,
            shard=i % shards,
            member=np.arange(k),
            algorithm="epo",
            step=10 * i,
        )
        names.append(res.segment)
    return names


def seg_path(run_dir: Path, name: str) -> Path:
    return run_dir / "archive" / "segments" / name
