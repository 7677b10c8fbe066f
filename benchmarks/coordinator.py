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
2. **Outside engine steps** (EPO on ZDT1, P = 4096 members, 50 steps a round), in-process
   and on 1, 2 and 8 Ray workers with fractional CPUs (one Ray session for all searches),
   measured two ways (:data:`SHARE_NOTE`): inside, from the commit records in ``state/``;
   and outside the code, one minus the time of the extra rounds' engine steps alone -- the
   same number of processes, each stepping its shard at once on the same CPUs -- divided
   by the extra time a search takes for ``--extra`` more rounds, in wall seconds and in
   CPU seconds of the whole process tree (:class:`TreeCpu`). ``--repeats`` paired
   repeats, reported as median (min to max).

Run: ``python benchmarks/coordinator.py`` (``--quick`` for a smaller grid; ``--only
stream|share``; ``--workers 2 8``). Results are printed as markdown and saved to ``--out``
(default ``benchmarks/results/coordinator.md``).
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import threading
import time
from typing import Any

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from paretoray.distributed.coordinator import CoordinatorCore  # noqa: E402
from paretoray.distributed.messages import Factory, Offer, RoundStats, RunPlan  # noqa: E402
from paretoray.distributed.state import read_records  # noqa: E402

#: What the share table measures (printed above it in the results).
SHARE_NOTE = (
    "**Inside**: per shard, between two consecutive commits of that shard (the "
    "coordinator's `commit` records in `state/`: `time`, and the worker's `engine_s`), `1 -"
    " engine seconds / wall seconds`, over the rounds of the long search (each shard's "
    "first round, which includes start-up, left out). **Outside**: per repeat, a search of "
    "2 rounds and one of 2 + extra rounds are run end to end (`paretoray.search`, Ray "
    "already running), then the extra rounds' engine steps alone: as many processes as the "
    "search has shards (1 in-process), each stepping its own shard as the search's worker "
    "does (the same P / k members, preferences and seed, one torch thread, 50 steps a call;"
    " the short search's rounds first, untimed) at the same time on the same CPUs. Outside "
    "share = `1 - engine alone / (long - short)`, in wall seconds (from the first process's"
    " start to the last one's end) and in CPU seconds (user + system of the driver and "
    "every process under it -- GCS, raylet, the coordinator actor, the trial workers; "
    "sampled every 0.2 s, so an exiting one loses at most that -- against the CPU "
    "seconds of the steps alone; a warm-up search runs first). Everything a "
    "search does besides those steps counts: the coordinator's commits, offers and receipts"
    " through Ray, Tune's reports and checkpoints, Ray's own processes. Wall time also "
    "counts a CPU left idle while a worker waits; CPU time is what other users of this "
    "shared machine disturb least. The old baseline (one process stepping one shard, times "
    "k / 2 cores) ignored that k processes time-sharing 2 cores step slower than one "
    "process alone. **Against the steps' CPU in the search**: the same extra CPU seconds, "
    "against the CPU seconds the searches' own stepping threads spent in the extra rounds "
    "(`engine_cpu_s` of the commit records, long search minus short): what the service "
    "costs besides its steps, however fast the other jobs on the machine let those steps "
    "run in that search. **Steady state**: the long search alone, while every shard runs "
    "(from the last shard's commit of round 1 to the first shard's commit of its last "
    "round; the rounds each shard completed in that span interpolated from its commit "
    "times, as shards drift seconds apart), wall and process-tree CPU seconds per "
    "shard-round, against the steps alone per shard-round: no start-up enters it (at 8 "
    "workers a search's start-up takes ~18 s and ~34 CPU seconds, varying by seconds "
    "between searches, which the difference of two searches does not cancel); and the "
    "process tree's CPU over that span against the steps' own CPU in it (`engine_cpu_s`, "
    "interpolated per shard the same way)."
)


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
#: The process kinds :meth:`TreeCpu.by_kind` reports, in table order.
PROCESS_KINDS = ("driver", "coordinator actor", "trial workers", "raylet", "GCS",
                 "other Ray")


def process_kind(cmdline: str) -> str:
    """A Ray process's kind from its ``/proc/PID/cmdline`` (NUL-separated): Ray titles a
    worker by its task (``ray::_ActorCore.offer``, ``ray::ImplicitFunc.train``); the
    raylet and GCS are binaries of those names (worker command lines mention the raylet
    too, so only the program name counts)."""
    if cmdline.startswith("ray::"):
        if "_ActorCore" in cmdline:
            return "coordinator actor"
        if "ImplicitFunc" in cmdline:
            return "trial workers"
        return "other Ray"
    program = os.path.basename(cmdline.split("\0", 1)[0])
    if program == "gcs_server":
        return "GCS"
    if program == "raylet":
        return "raylet"
    return "other Ray"


class TreeCpu:
    """CPU seconds (user + system) used by this process and every process under it -- the
    GCS, raylet, coordinator actor and trial workers that ``ray.init`` here started --
    while the ``with`` block runs (``/proc``; Linux).

    Ray reaps its workers without charging their CPU to the raylet, so the tree is walked
    every ``period`` seconds and each process's last reading kept: a process that exits
    loses at most its last ``period``. The sampling thread's own CPU is left out.
    """

    def __init__(self, period: float = 0.2) -> None:
        self.period = period
        self.seconds = float("nan")
        self._tick = os.sysconf("SC_CLK_TCK")
        self._last: dict[int, float] = {}
        self._base: dict[int, float] = {}
        self._kinds: dict[int, str] = {}
        self._own = 0.0
        #: (time.time(), CPU seconds of the tree so far) at every sample, for :meth:`at`.
        self.series: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeCpu:
        self._base = self._sample()
        self._last = dict(self._base)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._last.update(self._sample())
        used = sum(v - self._base.get(pid, 0.0) for pid, v in self._last.items())
        self.seconds = used - self._own

    def by_kind(self) -> dict[str, float]:
        """The CPU seconds of the block by process kind (:func:`process_kind`; this
        process is ``driver``, less the sampling thread's own CPU)."""
        out: dict[str, float] = dict.fromkeys(PROCESS_KINDS, 0.0)
        for pid, v in self._last.items():
            kind = "driver" if pid == os.getpid() else self._kinds.get(pid, "other Ray")
            out[kind] += v - self._base.get(pid, 0.0)
        out["driver"] -= self._own
        return out

    def at(self, t: float) -> float:
        """The tree's CPU seconds from the block's start to time ``t`` (``time.time()``),
        interpolated between the two samples around it."""
        times = [u for u, _ in self.series]
        return float(np.interp(t, times, [c for _, c in self.series]))

    def _run(self) -> None:
        t0 = time.thread_time()
        self.series.append((time.time(), 0.0))
        while not self._stop.wait(self.period):
            self._last.update(self._sample())
            used = sum(v - self._base.get(pid, 0.0) for pid, v in self._last.items())
            self.series.append((time.time(), used - (time.thread_time() - t0)))
        self._own = time.thread_time() - t0

    def _sample(self) -> dict[int, float]:
        out: dict[int, float] = {}
        todo = [os.getpid()]
        while todo:
            pid = todo.pop()
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                out[pid] = (int(fields[11]) + int(fields[12])) / self._tick
                if self._kinds.get(pid, "other Ray") == "other Ray":  # Ray retitles workers
                    with open(f"/proc/{pid}/cmdline") as fh:
                        self._kinds[pid] = process_kind(fh.read())
                for tid in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{tid}/children") as fh:
                        todo += [int(c) for c in fh.read().split()]
            except (OSError, ValueError, IndexError):
                continue  # exited meanwhile
        return out


def _step_shard(shard: int, population: int, workers: int, before: int, rounds: int,
                steps_per_round: int, start: Any, out: Any) -> None:
    """One process of :func:`engine_alone`: shard ``shard`` as the search builds it (its
    slice of the run's preferences, the worker's seed), stepped ``before`` rounds untimed,
    then -- once every process is there -- ``rounds`` rounds timed."""
    torch.set_num_threads(1)
    from paretoray.distributed.coordinator import split_population
    from paretoray.engine import Engine
    from paretoray.preferences.adapters import initial_prefs

    members = split_population(population, max(workers, 1))[shard]
    prefs = initial_prefs(2, population)[members.start:members.stop]
    engine = Engine("zdt1", "epo", prefs, lr=0.01, seed=7919 * shard)
    for _ in range(before):
        engine.run(steps_per_round)
    start.wait()
    t0, c0 = time.time(), time.process_time()
    for _ in range(rounds):
        engine.run(steps_per_round)
    out.put((t0, time.time(), time.process_time() - c0))


def engine_alone(population: int, workers: int, before: int, rounds: int,
                 steps_per_round: int) -> tuple[float, float]:
    """The engine steps of a search's rounds ``before .. before + rounds``, alone: as many
    processes as the search has shards (one in-process), each stepping its shard as the
    search's worker does (same members, preferences, seed, one torch thread, ``K`` steps
    a call), at once on the same CPUs, with nothing else of paretoray running.

    Returns:
        Wall seconds from the first process's start to the last one's end, and the CPU
        seconds of the timed steps summed over the processes.
    """
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    k = max(workers, 1)
    start, out = ctx.Barrier(k), ctx.Queue()
    procs = [ctx.Process(target=_step_shard, args=(s, population, workers, before, rounds,
                                                  steps_per_round, start, out))
             for s in range(k)]
    for p in procs:
        p.start()
    spans = [out.get() for _ in procs]
    for p in procs:
        p.join()
    wall = max(s[1] for s in spans) - min(s[0] for s in spans)
    return wall, sum(s[2] for s in spans)


def _engine_one_process(members: int, steps: int) -> float:
    """Seconds of ``steps`` steps of one shard alone in this process (the old baseline)."""
    from paretoray.engine import Engine
    from paretoray.preferences.adapters import initial_prefs

    engine = Engine("zdt1", "epo", initial_prefs(2, members), lr=0.01, seed=0)
    engine.run(5)
    t = time.perf_counter()
    engine.run(steps)
    return time.perf_counter() - t


def _search(population: int, rounds: int, workers: int, cpu: float, steps_per_round: int,
            **options: Any) -> tuple[float, float, float, dict[str, float], float,
                                     dict[int, list[tuple[int, float, float]]], TreeCpu]:
    """One search: its wall seconds, the CPU seconds of this process tree meanwhile, the
    inside share from its commit records (per shard, ``1 - engine seconds / wall``
    between consecutive commits; each shard's first round, with start-up, left out), the
    CPU seconds by process kind, the CPU seconds of its engine steps (the stepping
    threads', summed over every committed round), each shard's commits as ``(round,
    time.time(), engine CPU seconds)``, and the CPU meter (:meth:`TreeCpu.at`)."""
    import paretoray as pr

    with tempfile.TemporaryDirectory() as d:
        run = os.path.join(d, "run")
        with TreeCpu() as meter:
            t = time.perf_counter()
            pr.search("zdt1", "epo", population=population, steps=rounds * steps_per_round,
                      steps_per_round=steps_per_round, workers=workers, adapter="fixed",
                      run_dir=run, progress=False, resources={"cpu": cpu, "gpu": 0},
                      **options)
            wall = time.perf_counter() - t
        cpu_s, kinds = meter.seconds, meter.by_kind()
        records = [r for r in read_records(os.path.join(run, "state", "session-1.jsonl"))
                   if r["kind"] == "commit"]
    by_shard: dict[int, list[dict]] = {}
    for r in records:
        by_shard.setdefault(r["shard"], []).append(r)
    engine, walls = 0.0, 0.0
    for recs in by_shard.values():
        recs.sort(key=lambda r: r["round"])
        for a, b in itertools.pairwise(recs):
            walls += b["time"] - a["time"]
            engine += b["engine_s"]
    inside = 1.0 - engine / walls if walls > 0 else float("nan")
    commits = {shard: [(r["round"], r["time"], r.get("engine_cpu_s", 0.0)) for r in recs]
               for shard, recs in by_shard.items()}
    return (wall, cpu_s, inside, kinds, sum(r.get("engine_cpu_s", 0.0) for r in records),
            commits, meter)


def steady_state(commits: dict[int, list[tuple[int, float, float]]],
                 meter: TreeCpu) -> tuple[float, float, float]:
    """Wall and CPU seconds a shard-round takes while every shard of a search runs.

    The span runs from the moment the last shard committed its round 1 (every shard
    started, round 0 with its start-up done) to the moment the first shard committed its
    last round (none finished yet). Shards drift apart by seconds (their start-ups differ),
    so the rounds in the span are counted per shard, as the fraction of its rounds it
    completed by each end (its commit times interpolated); the CPU is the process tree's
    over the span (:meth:`TreeCpu.at`), and the steps' own CPU in it the same way from
    each shard's ``engine_cpu_s`` records.

    Returns:
        ``(span / shard-rounds, CPU seconds / shard-rounds, steps' CPU seconds / CPU
        seconds)``.
    """
    a = max(t for c in commits.values() for rnd, t, _ in c if rnd == 1)
    b = min(max(t for _, t, _ in c) for c in commits.values())
    done = steps = 0.0
    for c in commits.values():
        rounds, times, cpu = zip(*sorted(c, key=lambda rtc: rtc[1]), strict=True)
        completed = np.asarray(rounds, dtype=float) + 1.0
        done += float(np.interp(b, times, completed) - np.interp(a, times, completed))
        used = np.cumsum(cpu)
        steps += float(np.interp(b, times, used) - np.interp(a, times, used))
    cpu_s = meter.at(b) - meter.at(a)
    return (b - a) / done, cpu_s / done, steps / cpu_s


def outside_share(population: int, workers: int, rounds: int, extra: int,
                  steps_per_round: int, repeats: int = 3, **options: Any) -> dict[str, Any]:
    """The share of a round outside engine steps, measured inside and outside the code.

    Each repeat runs, back to back: a search of ``rounds`` rounds, one of ``rounds +
    extra`` rounds, and the extra rounds' engine steps alone (:func:`engine_alone`).
    Outside share of that repeat = ``1 - engine alone / (long search - short search)``,
    in wall seconds and in CPU seconds (:class:`TreeCpu`; CPU time is what other
    users of a shared machine disturb least, but misses time a search leaves a CPU idle).
    And ``1 - steps' CPU in the search / (long - short)`` in CPU seconds, the steps' CPU
    taken from the searches' own commit records (long minus short): what the service
    costs besides the steps it ran, whatever speed other jobs left those steps.
    And in steady state (:func:`steady_state`): ``1 - (engine alone per shard-round) /
    (the long search's per shard-round while every shard runs)``, in wall and CPU
    seconds: inside one search, so that the start-ups of two searches (at 8 workers
    ~18 s and ~34 CPU seconds each, varying by seconds) do not enter a difference.
    ``options`` go to every search (e.g. ``checkpoint_every``).
    """
    cpu = 2.0 / workers if workers else 1.0
    steps = extra * steps_per_round
    out: dict[str, list[float]] = {k: [] for k in (
        "outside", "outside_cpu", "outside_cpu_in_run", "steady", "steady_cpu",
        "steady_in_run", "inside", "extra_s", "extra_cpu_s",
        "alone_s", "alone_cpu_s", *(f"kind:{kind}" for kind in PROCESS_KINDS))}
    _search(population, 1, workers, cpu, steps_per_round, **options)  # imports, Ray's pool
    for _ in range(repeats):
        short, short_cpu, _, short_kinds, short_steps, _, _ = _search(
            population, rounds, workers, cpu, steps_per_round, **options)
        long, long_cpu, inside, long_kinds, long_steps, commits, meter = _search(
            population, rounds + extra, workers, cpu, steps_per_round, **options)
        # the long search while every shard runs, per shard-round (no start-up, no end)
        steady, steady_cpu, steady_steps = steady_state(commits, meter)
        for kind in PROCESS_KINDS:
            out[f"kind:{kind}"].append(long_kinds[kind] - short_kinds[kind])
        alone, alone_cpu = engine_alone(population, workers, rounds, extra,
                                        steps_per_round)
        out["extra_s"].append(long - short)
        out["extra_cpu_s"].append(long_cpu - short_cpu)
        out["alone_s"].append(alone)
        out["alone_cpu_s"].append(alone_cpu)
        out["inside"].append(inside)
        out["outside"].append(1.0 - alone / (long - short) if long > short else float("nan"))
        out["outside_cpu"].append(1.0 - alone_cpu / (long_cpu - short_cpu)
                                  if long_cpu > short_cpu else float("nan"))
        out["outside_cpu_in_run"].append(1.0 - (long_steps - short_steps) / (long_cpu - short_cpu)
                                         if long_cpu > short_cpu else float("nan"))
        shard_rounds = max(workers, 1) * extra  # what the steps alone ran
        out["steady"].append(1.0 - alone / shard_rounds / steady)
        out["steady_cpu"].append(1.0 - alone_cpu / shard_rounds / steady_cpu)
        out["steady_in_run"].append(1.0 - steady_steps)
    k = max(workers, 1)
    old = _engine_one_process(population // k, steps) * k / min(k, os.cpu_count() or 1)
    return {"workers": workers, **out, "old_baseline_s": old,
            "old_outside": 1.0 - old / statistics.median(out["extra_s"])}


def _median_range(values: list[float], scale: float = 1.0, fmt: str = ".1f") -> str:
    v = [scale * x for x in values]
    return f"{statistics.median(v):{fmt}} ({min(v):{fmt}} to {max(v):{fmt}})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=["stream", "share"])
    ap.add_argument("--ray", action="store_true", help="also stream offers to the Ray actor")
    ap.add_argument("--population", type=int, default=4096)
    ap.add_argument("--extra", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, nargs="+", help="share: worker counts (0 = "
                    "in-process); default 0 1 2 8 (0 2 with --quick)")
    ap.add_argument("--checkpoint-every", type=int, help="share: the searches' "
                    "checkpoint_every (default: the config's)")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "coordinator.md"))
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
                  f"{args.population}, 50 steps a round, {args.repeats} repeats)", "",
                  SHARE_NOTE, "",
                  "| workers | inside: commit records | outside, wall: extra rounds vs "
                  "the same processes stepping alone | outside, CPU seconds | outside, CPU "
                  "seconds, against the steps' CPU in the search | outside, steady state: "
                  "wall | outside, steady state: CPU seconds | outside, steady state: "
                  "CPU seconds against the steps' CPU in the search | extra rounds' "
                  "wall s | their steps alone, wall s | extra rounds' CPU s | their steps "
                  "alone, CPU s | outside vs the old baseline (one process x k / 2) |",
                  "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
        ray_started = False
        kinds_rows = []
        for workers in args.workers or ([0, 2] if args.quick else [0, 1, 2, 8]):
            if workers and not ray_started:
                # one Ray for every search, started as paretoray starts it: its start-up
                # is not in the difference of two searches
                from paretoray.distributed.runner import connect

                ray_started = connect()
            options = ({} if args.checkpoint_every is None
                       else {"checkpoint_every": args.checkpoint_every})
            r = outside_share(args.population, workers, rounds=2, extra=args.extra,
                              steps_per_round=50, repeats=args.repeats, **options)
            lines.append(f"| {workers or 'in-process'} | {_median_range(r['inside'], 100)}% | "
                         f"{_median_range(r['outside'], 100)}% | "
                         f"{_median_range(r['outside_cpu'], 100)}% | "
                         f"{_median_range(r['outside_cpu_in_run'], 100)}% | "
                         f"{_median_range(r['steady'], 100)}% | "
                         f"{_median_range(r['steady_cpu'], 100)}% | "
                         f"{_median_range(r['steady_in_run'], 100)}% | "
                         f"{_median_range(r['extra_s'], fmt='.2f')} | "
                         f"{_median_range(r['alone_s'], fmt='.2f')} | "
                         f"{_median_range(r['extra_cpu_s'], fmt='.2f')} | "
                         f"{_median_range(r['alone_cpu_s'], fmt='.2f')} | "
                         f"{100 * r['old_outside']:.1f}% |")
            print(lines[-1], flush=True)
            per_round = 1e3 / args.extra  # CPU ms a global round
            kinds_rows.append(
                f"| {workers or 'in-process'} | "
                f"{statistics.median(r['alone_cpu_s']) * per_round:.0f} | " + " | ".join(
                    _median_range(r[f"kind:{kind}"], per_round, fmt=".0f")
                    for kind in PROCESS_KINDS) + " |")
        lines += ["", "Where the extra rounds' CPU went, by process (CPU ms a global round: "
                  "the long search's minus the short one's, over the extra rounds; the "
                  "trial workers' figure holds their engine steps, compare it with the "
                  "steps alone; Ray retitles a worker process by its task, so one not yet "
                  "retitled when sampled counts as `other Ray`):", "",
                  "| workers | steps alone | " + " | ".join(PROCESS_KINDS) + " |",
                  "|---|--:|" + "--:|" * len(PROCESS_KINDS), *kinds_rows]
        if ray_started:
            import ray

            ray.shutdown()
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
