"""Benchmark: the coordinator's cost per commit, and the share of a round outside engine steps.

Two tables.

1. **Offer stream** (no engine): a run whose front already holds ``N`` nondominated points
   (10^3 .. 10^5, on the unit sphere, m = 2 and 3) receives offers of ``k`` points each
   (sphere points scaled by a random factor in [0.999, 1.05], so a few improve the front
   and most are dominated, as in a late round; the front keeps its size) from ``S`` shards
   (2 .. 64), one by one or each round's S offers in one group commit. Reported: offers/s
   and the per-offer latency (median, p95) of the commit -- the segment write with its
   fsyncs, the merge, the manifest journal, the state record -- and of
   ``next_round`` for a population-coupled run (context sent as deltas). ``--ray`` sends
   the same stream to the Ray actor from ``S`` concurrent callers.
2. **Outside engine steps** (EPO on ZDT1, P = 4096 members, 50 steps a round): measured
   inside (``1 - engine seconds / round wall`` from the commit records in ``state/``) and
   outside the code (one minus the time of the extra engine steps alone divided by the
   extra time a search takes for ``--extra`` more rounds), in-process and on 1, 2 and 8 Ray
   workers with fractional CPUs.

Run: ``python benchmarks/coordinator.py`` (``--quick`` for a smaller grid; ``--only
stream|share``). Results are printed as markdown and saved to
``benchmarks/results/coordinator.md``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from paretoray.distributed.coordinator import CoordinatorCore  # noqa: E402
from paretoray.distributed.messages import Factory, Offer, RoundStats, RunPlan  # noqa: E402
from paretoray.distributed.state import read_records  # noqa: E402


def sphere(n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points of the positive unit sphere (a nondominated set)."""
    z = np.abs(rng.standard_normal((n, m)))
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def _near_front(k: int, m: int, rng: np.random.Generator) -> np.ndarray:
    return sphere(k, m, rng) * rng.uniform(0.999, 1.05, (k, 1))


def _plan(run_dir: str, m: int, shards: int, population: int, coupled: bool,
          d: int | None = None) -> RunPlan:
    prefs = np.full((population, m), 1.0 / m)
    return RunPlan(run_dir=run_dir, config={"adapter": "fixed"},
                   problem=Factory("problem", "dtlz2" if m == 3 else "zdt1"),
                   algorithm=Factory("algorithm", "linear"), n_obj=m, n_var=d or m,
                   ref_point=tuple([1.1] * m), initial_prefs=prefs, workers=shards,
                   rounds=10**6, create=True, meta={}, coupled=coupled, reaim_after=None)


def _offer(shard: int, rnd: int, F: np.ndarray, d: int | None = None) -> Offer:
    k, m = F.shape
    x = F.copy() if d is None else np.random.default_rng(rnd).random((k, d))
    return Offer(shard=shard, round=rnd, objectives=F, preference=np.full((k, m), 1.0 / m),
                 x=x, member=np.arange(k), algorithm="bench",
                 stats=RoundStats(steps=rnd, nan_resets=0, nonfinite=0, engine_s=0.0))


def offer_stream(front: int, m: int, shards: int, k: int, offers: int, *,
                 grouped: bool = False, seed: int = 0, d: int | None = None
                 ) -> dict[str, float]:
    """Offers into a front of ``front`` points: one by one, or (``grouped``) every shard's
    offer of a round in one group commit, as the actor commits them when shards offer
    together. Also the latency of ``next_round`` (population-coupled: context deltas)."""
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        core = CoordinatorCore(_plan(os.path.join(tmp, "run"), m, shards, 8 * shards,
                                     coupled=True, d=d))
        core.begin_session(10**6)
        core.offer(_offer(0, 0, sphere(front, m, rng), d))  # the front the stream starts from
        for s in range(shards):
            core.next_round(s, 1)  # each shard's first context (the whole front) is sent once
        commit_s, next_s, sizes, n = [], [], [], 0
        rounds = max(1, offers // shards)
        for rnd in range(1, 1 + rounds):
            batch = [_offer(s, rnd, _near_front(k, m, rng), d) for s in range(shards)]
            if grouped:
                t = time.perf_counter()
                core.offer_many(batch)
                commit_s.append((time.perf_counter() - t) / len(batch))
            else:
                for o in batch:
                    t = time.perf_counter()
                    core.offer(o)
                    commit_s.append(time.perf_counter() - t)
            n += len(batch)
            for s in range(shards):
                t = time.perf_counter()
                plan = core.next_round(s, rnd + 1)
                next_s.append(time.perf_counter() - t)
                sizes.append(plan.context.size if plan.context is not None else 0)
        final = len(core.front())
        core.close()
    per_offer = sum(commit_s) / len(commit_s)
    return {"front": front, "m": m, "shards": shards, "k": k, "grouped": grouped,
            "offers_per_s": 1.0 / per_offer,
            "offer_ms_p50": 1e3 * statistics.median(commit_s),
            "offer_ms_p95": 1e3 * float(np.percentile(commit_s, 95)),
            "next_ms_p50": 1e3 * statistics.median(next_s),
            "delta_points": statistics.mean(sizes), "final_front": final}


def offer_stream_ray(front: int, m: int, shards: int, k: int, offers: int,
                     seed: int = 0) -> dict[str, float]:
    """The same stream sent to the coordinator actor by ``shards`` concurrent callers."""
    import ray

    from paretoray.distributed.coordinator import coordinator_actor

    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as d:
        actor = coordinator_actor(f"bench-{seed}-{shards}-{front}").remote(
            _plan(os.path.join(d, "run"), m, shards, 8 * shards, coupled=False))
        ray.get(actor.begin_session.remote(10**6))
        ray.get(actor.offer.remote(_offer(0, 0, sphere(front, m, rng))))
        batches = [[_offer(s, 1 + r, _near_front(k, m, rng))
                    for s in range(shards)] for r in range(max(1, offers // shards))]
        t = time.perf_counter()
        n = 0
        for batch in batches:  # every shard offers its round at once, as workers would
            ray.get([actor.offer.remote(o) for o in batch])
            n += len(batch)
        wall = time.perf_counter() - t
        summary = ray.get(actor.summary.remote())
        ray.get(actor.close.remote())
        ray.kill(actor)
    return {"front": front, "m": m, "shards": shards, "k": k, "offers_per_s": n / wall,
            "group": summary.offers / max(summary.groups, 1)}


# ---------------------------------------------------------------------- outside share
def _engine_alone(population: int, steps: int) -> float:
    """Seconds of ``steps`` EPO steps on ZDT1 for ``population`` members (no coordinator)."""
    from paretoray.engine import Engine
    from paretoray.preferences.adapters import initial_prefs

    prefs = initial_prefs(2, population)
    engine = Engine("zdt1", "epo", prefs, lr=0.01, seed=0)
    engine.run(5)
    t = time.perf_counter()
    engine.run(steps)
    return time.perf_counter() - t


def _search_seconds(population: int, rounds: int, workers: int, cpu: float,
                    steps_per_round: int) -> tuple[float, float]:
    """Wall seconds of a search, and its inside outside-share from the commit records."""
    import paretoray as pr

    with tempfile.TemporaryDirectory() as d:
        run = os.path.join(d, "run")
        t = time.perf_counter()
        pr.search("zdt1", "epo", population=population, steps=rounds * steps_per_round,
                  steps_per_round=steps_per_round, workers=workers, adapter="fixed",
                  run_dir=run, progress=False, resources={"cpu": cpu, "gpu": 0})
        wall = time.perf_counter() - t
        records = [r for r in read_records(os.path.join(run, "state", "session-1.jsonl"))
                   if r["kind"] == "commit"]
    by_shard: dict[int, list[dict]] = {}
    for r in records:
        by_shard.setdefault(r["shard"], []).append(r)
    engine, walls = 0.0, 0.0
    for recs in by_shard.values():
        recs.sort(key=lambda r: r["round"])
        for a, b in itertools.pairwise(recs):  # the first round (start-up) is left out
            walls += b["time"] - a["time"]
            engine += b["engine_s"]
    inside = 1.0 - engine / walls if walls > 0 else float("nan")
    return wall, inside


def outside_share(population: int, workers: int, rounds: int, extra: int,
                  steps_per_round: int, repeats: int = 2) -> dict[str, float]:
    """Both measures, each timing the best of ``repeats`` (the machine is shared)."""
    cpu = 2.0 / max(workers, 1) if workers else 1.0
    t_short = min(_search_seconds(population, rounds, workers, cpu, steps_per_round)[0]
                  for _ in range(repeats))
    longs = [_search_seconds(population, rounds + extra, workers, cpu, steps_per_round)
             for _ in range(repeats)]
    t_long, inside = min(longs)
    members_per_worker = population // max(workers, 1)
    # the extra rounds' engine work, timed alone (shards run in parallel on the 2 cores)
    alone = min(_engine_alone(members_per_worker, extra * steps_per_round)
                for _ in range(repeats))
    parallel = max(1, min(workers, os.cpu_count() or 1)) if workers else 1
    alone *= max(workers, 1) / parallel
    extra_s = t_long - t_short
    return {"workers": workers, "inside": inside, "extra_s": extra_s, "engine_alone_s": alone,
            "outside": 1.0 - alone / extra_s if extra_s > 0 else float("nan")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=["stream", "share"])
    ap.add_argument("--ray", action="store_true", help="also stream offers to the Ray actor")
    ap.add_argument("--population", type=int, default=4096)
    ap.add_argument("--extra", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(1)
    lines = ["# Coordinator benchmark", ""]
    if args.only in (None, "stream"):
        fronts = [1000, 10000] if args.quick else [1000, 10000, 100000]
        shard_counts = [2, 64] if args.quick else [2, 8, 64]
        lines += ["## Offer stream (in-process; k = 64 points an offer)", "",
                  "One by one: each offer is its own commit (3 fsyncs). Grouped: the S "
                  "offers of a round in one group commit, as the actor commits offers that "
                  "arrive together. Latency is per offer.", "",
                  "| front | m | shards | commit | offers/s | offer p50 ms | offer p95 ms | "
                  "next_round p50 ms | context delta points |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for m in (2, 3):
            for front in fronts:
                for shards in shard_counts:
                    for grouped in (False, True):
                        n = 64 if args.quick else 256
                        r = offer_stream(front, m, shards, 64, n, grouped=grouped)
                        lines.append(
                            f"| {front} | {m} | {shards} | "
                            f"{'grouped' if grouped else 'one by one'} | "
                            f"{r['offers_per_s']:.0f} | {r['offer_ms_p50']:.2f} | "
                            f"{r['offer_ms_p95']:.2f} | {r['next_ms_p50']:.2f} | "
                            f"{r['delta_points']:.1f} |")
                        print(lines[-1], flush=True)
        if args.ray:
            import ray

            ray.init(address="local", num_cpus=2, include_dashboard=False,
                     _node_ip_address="127.0.0.1", log_to_driver=False)
            lines += ["", "## Offer stream to the Ray actor (S concurrent callers)", "",
                      "| front | m | shards | offers/s | offers per group commit |",
                      "|---|---|---|---|---|"]
            for shards in shard_counts:
                r = offer_stream_ray(10000, 2, shards, 64, 256)
                lines.append(f"| 10000 | 2 | {shards} | {r['offers_per_s']:.0f} | "
                             f"{r['group']:.1f} |")
                print(lines[-1], flush=True)
            ray.shutdown()
    if args.only in (None, "share"):
        lines += ["", f"## Share of a round outside engine steps (EPO, ZDT1, P = "
                  f"{args.population}, 50 steps a round)", "",
                  "| workers | inside (commit records) | outside (extra rounds vs engine "
                  "alone) | extra rounds' wall s | their engine work alone s |",
                  "|---|---|---|---|---|"]
        for workers in ([0, 2] if args.quick else [0, 1, 2, 8]):
            r = outside_share(args.population, workers, rounds=2, extra=args.extra,
                              steps_per_round=50)
            lines.append(f"| {workers or 'in-process'} | {100 * r['inside']:.1f}% | "
                         f"{100 * r['outside']:.1f}% | {r['extra_s']:.2f} | "
                         f"{r['engine_alone_s']:.2f} |")
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "coordinator.md"), "w") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
