"""Benchmark: what one dashboard poll costs as a run grows.

A run of R rounds x S shards x P points (3 objectives, points on spheres that shrink with the
round, so most of them stay nondominated: a large front) is written with the Store. Then:

- ``first view``: :func:`paretoray.viz.data.build_view` from scratch (read and verify every
  segment, merge in commit order, HV and IGD per round);
- ``poll, no change``: the same with the server's :class:`ViewCache` and nothing new;
- ``poll, +1 round``: after S more segments (one round of every shard), with the cache;
- ``figures``: :func:`paretoray.viz.figures.figures_json` of the view;
- baseline ``archive.open``: the archive's own reader (trusts ``front.arrow``, no history).

Run: ``python benchmarks/dashboard_view.py`` (``--rounds 50 250 --shards 4 --points 64``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import paretoray.archive as archive
from paretoray.archive import Store
from paretoray.viz.data import ViewCache, build_view
from paretoray.viz.figures import figures_json


def _append_round(store: Store, rnd: int, shards: int, p: int, rng: np.random.Generator) -> None:
    for s in range(shards):
        w = rng.dirichlet(np.ones(3), p)
        f = w / np.linalg.norm(w, axis=1, keepdims=True) * (1 + 0.5 / (rnd + 1))
        store.append(f, preference=w, x=rng.random((p, 10)), round=rnd, shard=s,
                     member=np.arange(p), algorithm="epo", step=rnd)


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, nargs="+", default=[50, 250])
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--points", type=int, default=64)
    args = ap.parse_args()
    print(f"{'rounds':>6} | {'segments':>8} | {'front':>6} | {'first view':>10} | "
          f"{'poll, same':>10} | {'poll, +1 rd':>11} | {'figures':>7} | {'archive.open':>12}")
    for rounds in args.rounds:
        rng = np.random.default_rng(0)
        with tempfile.TemporaryDirectory() as tmp:
            run = Path(tmp) / "run"
            meta = {"problem": "dtlz2", "config": {"problem_options": {"n_obj": 3}}}
            with Store.create(run, n_obj=3, n_var=10, meta=meta) as store:
                for r in range(rounds):
                    _append_round(store, r, args.shards, args.points, rng)
                cache = ViewCache()
                first = _time(lambda c=cache, r=run: build_view(r, cache=c))
                same = _time(lambda c=cache, r=run: build_view(r, cache=c))
                _append_round(store, rounds, args.shards, args.points, rng)
                view: dict = {}
                grow = _time(lambda c=cache, r=run, v=view: v.update(build_view(r, cache=c)))
                figs = _time(lambda v=view: figures_json(v))
                base = _time(lambda r=run: archive.open(r))
            print(f"{rounds:>6} | {len(view['history']['round']) * args.shards:>8} | "
                  f"{len(view['front']['point_id']):>6} | {first:>9.2f}s | {same:>9.2f}s | "
                  f"{grow:>10.2f}s | {figs:>6.2f}s | {base:>11.2f}s")


if __name__ == "__main__":
    main()
