"""paretoray beside its peers, in one process tree on one machine (issue 7).

    python benchmarks/peers.py            # full run -> benchmarks/results/peers.{md,png}
    python benchmarks/peers.py --quick    # subset, < 10 min -> results/peers_quick.{md,png}
    python benchmarks/peers.py --libmoon  # also try LibMOON (skipped unless it imports)

Three sections, all in this process (Ray workers are its children):

1. **Per iteration vs the one-member-at-a-time way.** ZDT1 (d = 30), VLMOP2, DTLZ2 (m = 3);
   EPO, PMTL, MGDA, linear, Tchebycheff, mTche, smooth Tchebycheff, hv; K = 10, 100, 1000
   preferences (Das-Dennis, shrunk 2 % toward the centroid so no entry is 0); the same
   starting points (``problem.sample``, seed 0), Adam, learning rate and iteration count
   on both sides. paretoray: :class:`paretoray.engine.Engine`, median seconds of its steps.
   Reference: ``benchmarks/_one_at_a_time.py`` (per member: own forward, m backward calls,
   one HiGHS LP / SLSQP QP per member, moocore HV recomputed every iteration for hv, own
   optimizer). It is *run for real* on a check set S of members -- an evenly strided
   subset of ``min(K, check)`` members for the per-member methods (PMTL reads all K
   directions, so its subset is exact too), all K members for hv (coupled through the
   values) -- for ``T_S`` iterations (``T``, or fewer for hv at large K); its median
   seconds per iteration are scaled by ``K / |S|`` (every member costs the same). Its HV /
   IGD are those of S after ``T_S`` iterations, beside paretoray's on the same members
   after the same iterations (same trajectories up to solver tolerance), so "HV >= ref
   - 0.002" is checked like for like. paretoray's own HV / IGD / NaN / out-of-box columns
   are for all K members after T steps.
2. **Time to 99 % of the HV-optimal K-point set** (ZDT1 K = 20, DTLZ2 K = 28, ref 1.1):
   paretoray's in-process engine (a fixed list of (algorithm, lr) candidates; HV checked
   after every step, counted in the time) vs pymoo NSGA-II and SMS-EMOA (pop_size = K,
   defaults; HV of the population checked in a callback every generation, which stops
   the run). HV-optimal values from ``benchmarks/_hv_optimal.py``.
3. **Scaling.** Engine member-steps/s for P = 16 .. 16384 in-process (``time_batched`` of
   ``benchmarks/algorithms.py``), and ``paretoray.search`` with workers = 0 (in-process),
   1 and 2 (embedded local Ray) at a fixed total population: per (shard, round) the wall
   time between consecutive commits of that shard (the ``commit`` records of
   ``RUN_DIR/state/*.jsonl``: ``time`` and ``engine_s``); outside-engine share =
   ``1 - engine_s / wall`` (the first round of each shard, which includes start-up, is
   left out).

Timings on a shared machine are noisy; ratios within one run are what matter.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _hv_optimal import dtlz2_optimal_hv, zdt1_optimal_hv
from _one_at_a_time import OneAtATime, out_of_box
from algorithms import _prefs, time_batched

from paretoray import algorithms, indicators, problems
from paretoray.engine import Engine
from paretoray.preferences.adapters import initial_prefs

PROBLEMS = {"zdt1": ("zdt1", {}), "vlmop2": ("vlmop2", {}), "dtlz2": ("dtlz2", {"n_obj": 3})}
METHODS = ("epo", "pmtl", "mgda", "linear", "tchebycheff", "mtche", "smooth_tchebycheff", "hv")
SIZES = (10, 100, 1000)
COUPLED_VALUES = ("hv",)  # the reference must step every member together
#: Section 1 options that make paretoray's iteration the reference's (the paper's EPO step,
#: without paretoray's default lengthening of short balance steps; hv steered by the
#: dynamic reference point, as the reference is, not the problem's, the engine's default).
SAME_ITERATION = {"epo": {"step_rule": "none"}, "hv": {"ref_point": "dynamic"}}
OPTIMIZER, LR = "adam", 0.01
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

#: Section 2: (algorithm, options, Adam lr) tried for paretoray; the best is reported.
RACE_CANDIDATES = (
    ("hv", "fixed_ref", 0.03),
    ("tchebycheff", None, 0.1),
    ("mtche", None, 0.1),
    ("epo", None, 0.03),
    ("smooth_tchebycheff", None, 0.03),
)
RACE = (("zdt1", 20), ("dtlz2", 28))

#: Settings per mode: T, check-set size, hv at K > hv_full_k: T_S, race budgets, scaling.
MODES = {
    "full": {"T": 300, "check": 100, "hv_full_k": 100, "hv_short_T": 20,
             "race_steps": 3000, "race_evals": 100_000, "race_seeds": 3,
             "scale_sizes": (16, 64, 256, 1024, 4096, 16384), "scale_steps": (10, 1.0),
             "ray_population": 4096, "ray_rounds": 6,
             "ray_runs": ((0, 50), (1, 50), (2, 50), (2, 200))},
    "quick": {"T": 100, "check": 100, "hv_full_k": 100, "hv_short_T": 5,
              "race_steps": 1500, "race_evals": 30_000, "race_seeds": 1,
              "scale_sizes": (16, 256, 4096, 16384), "scale_steps": (3, 0.3),
              "ray_population": 2048, "ray_rounds": 4,
              "ray_runs": ((0, 50), (1, 50), (2, 50))},
}


# ---------------------------------------------------------------------- helpers
def machine() -> dict[str, object]:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    import pymoo
    import ray

    return {"cpu": cpu, "logical_cores": os.cpu_count(), "usable_cores": usable,
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "torch": torch.__version__, "numpy": np.__version__, "pymoo": pymoo.__version__,
            "ray": ray.__version__, "platform": platform.platform()}


def interior_prefs(m: int, k: int) -> torch.Tensor:
    """Das-Dennis (+ energy top-up) preferences shrunk 2 % toward the centroid."""
    return 0.98 * initial_prefs(m, k) + 0.02 / m


def get_problem(name: str):
    pname, opts = PROBLEMS[name]
    return problems.get(pname, **opts)


def fmt(v: float, nd: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.{nd}f}"


def log(msg: str) -> None:
    print(msg, flush=True)


def libmoon_status() -> tuple[bool, str]:
    """Whether LibMOON and its gradient solvers import here."""
    try:
        import libmoon  # noqa: F401
    except Exception as exc:
        return False, f"`import libmoon` failed ({type(exc).__name__}: {exc})"
    import importlib

    for mod in ("libmoon.solver.gradient.methods", "libmoon.solver.gradient"):
        try:
            importlib.import_module(mod)
        except Exception as exc:
            return False, f"`import {mod}` failed ({type(exc).__name__}: {exc})"
    return False, ("libmoon and its gradient solvers import, but no adapter to their "
                   "solver API is wired into this benchmark yet (not verifiable here)")


# ---------------------------------------------------------------------- section 1
def check_set(k: int, method: str, size: int) -> np.ndarray:
    if method in COUPLED_VALUES or k <= size:
        return np.arange(k)
    return np.unique(np.linspace(0, k - 1, size).round().astype(int))


def section_iteration(cfg: dict, problems_: list[str], methods: list[str],
                      sizes: list[int]) -> list[dict]:
    rows = []
    T = cfg["T"]
    for pname in problems_:
        problem = get_problem(pname)
        m = problem.n_obj
        ref_point = [1.1] * m
        front = problem.pareto_front(1000 if m == 2 else 990).numpy()
        for K in sizes:
            prefs = interior_prefs(m, K)
            x0 = problem.sample(K, generator=torch.Generator().manual_seed(0))
            for method in methods:
                S = check_set(K, method, cfg["check"])
                short = method in COUPLED_VALUES and len(S) > cfg["hv_full_k"]
                T_S = min(T, cfg["hv_short_T"]) if short else T
                algo = algorithms.get(method, **SAME_ITERATION.get(method, {}))
                Engine(problem, algo, prefs, x0=x0, lr=LR, optimizer=OPTIMIZER,
                       device="cpu").run(2)  # warm caches (LP/support tables, imports)
                engine = Engine(problem, algo, prefs, x0=x0, lr=LR, optimizer=OPTIMIZER,
                                seed=0, device="cpu")
                step_s, F_pr_S = [], None
                for s in range(T):
                    step_s.append(engine.step().seconds)
                    if s + 1 == T_S:
                        with torch.no_grad():
                            F_pr_S = problem._evaluate(engine.x.detach()).numpy()[S]
                x, F, finite = engine.evaluate()
                Fn = F.numpy()[finite.numpy()]
                pr = {"ms": statistics.median(step_s[:T_S]) * 1e3,
                      "ms_all": statistics.median(step_s) * 1e3,
                      "hv": indicators.hypervolume(Fn, ref_point) if len(Fn) else 0.0,
                      "igd": indicators.igd(Fn, front) if len(Fn) else math.inf,
                      "nan": engine.nan_resets, "oob": out_of_box(problem, x.numpy())}
                # the reference, for real, on S
                ref = OneAtATime(problem, method, prefs, x0, LR, OPTIMIZER)
                it_s = []
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    for _ in range(T_S):
                        t0 = time.perf_counter()
                        ref.step(S)
                        it_s.append(time.perf_counter() - t0)
                timed = it_s[1:] if len(it_s) > 1 else it_s  # first iteration: warm-up
                ref_ms = statistics.median(timed) * 1e3 * K / len(S)
                F_ref_S = ref.values()[S]
                fin_r = np.isfinite(F_ref_S).all(1)
                fin_p = np.isfinite(F_pr_S).all(1)
                row = {
                    "problem": pname, "method": method, "K": K, "T": T, "S": len(S),
                    "T_S": T_S, "pr_ms": pr["ms"], "pr_ms_all": pr["ms_all"],
                    "ref_ms": ref_ms, "ratio": ref_ms / pr["ms"],
                    "hv": pr["hv"], "igd": pr["igd"], "nan": pr["nan"], "oob": pr["oob"],
                    "hv_pr_S": indicators.hypervolume(F_pr_S[fin_p], ref_point),
                    "hv_ref_S": indicators.hypervolume(F_ref_S[fin_r], ref_point)
                    if fin_r.any() else 0.0,
                    "igd_pr_S": indicators.igd(F_pr_S[fin_p], front),
                    "igd_ref_S": indicators.igd(F_ref_S[fin_r], front) if fin_r.any()
                    else math.inf,
                    "ref_nan": int((~fin_r).sum()), "ref_left": int(ref.left_box[S].sum()),
                    "max_dF": float(np.nanmax(np.abs(F_pr_S - F_ref_S))),
                }
                row["dhv"] = row["hv_pr_S"] - row["hv_ref_S"]
                rows.append(row)
                log(f"  {pname:<7} {method:<19} K={K:<5} paretoray {pr['ms']:8.3f} ms/it  "
                    f"reference {ref_ms:10.1f} ms/it  x{row['ratio']:8.1f}  "
                    f"HV(S) {row['hv_pr_S']:.4f}/{row['hv_ref_S']:.4f}  "
                    f"|S|={len(S)} T_S={T_S}")
    return rows


# ---------------------------------------------------------------------- section 2
def _pymoo_problem(pname: str):
    from pymoo.problems import get_problem as pymoo_get

    return pymoo_get("zdt1") if pname == "zdt1" else pymoo_get("dtlz2", n_var=12, n_obj=3)


def race_paretoray(pname: str, K: int, target: float, algo_name: str, opts, lr: float,
                   max_steps: int, seed: int) -> dict:
    problem = get_problem(pname)
    m = problem.n_obj
    ref = [1.1] * m
    options = {"ref": ref} if opts == "fixed_ref" else {}
    algo = algorithms.get(algo_name, **options)
    prefs = interior_prefs(m, K)
    Engine(problem, algo, prefs, lr=lr, optimizer="adam", seed=seed, device="cpu").run(2)
    t0 = time.perf_counter()
    engine = Engine(problem, algo, prefs, lr=lr, optimizer="adam", seed=seed, device="cpu")
    best, hit = 0.0, None
    for s in range(1, max_steps + 1):
        engine.step()
        with torch.no_grad():
            F = problem._evaluate(engine.x.detach())
        hv = indicators.hypervolume(F, ref)
        best = max(best, hv)
        if hv >= target:
            hit = s
            break
    wall = time.perf_counter() - t0
    steps = hit if hit is not None else max_steps
    return {"reached": hit is not None, "evals": steps * K, "steps": steps, "seconds": wall,
            "best_hv": best}


def race_pymoo(pname: str, K: int, target: float, which: str, max_evals: int,
               seed: int) -> dict:
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.algorithms.moo.sms import SMSEMOA
    from pymoo.core.callback import Callback
    from pymoo.optimize import minimize

    ref = [1.1] * (2 if pname == "zdt1" else 3)

    class StopAtTarget(Callback):
        def __init__(self) -> None:
            super().__init__()
            self.best, self.hit = 0.0, None

        def notify(self, algorithm) -> None:
            hv = indicators.hypervolume(algorithm.pop.get("F"), ref)
            self.best = max(self.best, hv)
            if hv >= target and self.hit is None:
                self.hit = (algorithm.evaluator.n_eval, time.perf_counter() - t0)
                algorithm.termination.force_termination = True

    def make():
        return NSGA2(pop_size=K) if which == "NSGA-II" else SMSEMOA(pop_size=K)

    problem = _pymoo_problem(pname)
    minimize(problem, make(), ("n_eval", 4 * K), seed=seed, verbose=False)  # warm-up
    cb = StopAtTarget()
    t0 = time.perf_counter()
    res = minimize(problem, make(), ("n_eval", max_evals), seed=seed, callback=cb,
                   verbose=False)
    wall = time.perf_counter() - t0
    if cb.hit is not None:
        return {"reached": True, "evals": cb.hit[0], "seconds": cb.hit[1], "best_hv": cb.best}
    return {"reached": False, "evals": int(res.algorithm.evaluator.n_eval), "seconds": wall,
            "best_hv": cb.best}


def _summarize(runs: list[dict]) -> dict:
    ok = [r for r in runs if r["reached"]]
    pick = ok if len(ok) * 2 > len(runs) else runs
    return {"reached": len(ok), "runs": len(runs),
            "seconds": statistics.median(r["seconds"] for r in pick),
            "evals": int(statistics.median(r["evals"] for r in pick)),
            "best_hv": max(r["best_hv"] for r in runs)}


def section_race(cfg: dict) -> list[dict]:
    rows = []
    for pname, K in RACE:
        if pname == "zdt1":
            hv_opt, _ = zdt1_optimal_hv(K)
        else:
            hv_opt, _ = dtlz2_optimal_hv(K)
        target = 0.99 * hv_opt
        seeds = range(cfg["race_seeds"])
        for algo_name, opts, lr in RACE_CANDIDATES:
            runs = [race_paretoray(pname, K, target, algo_name, opts, lr, cfg["race_steps"], s)
                    for s in seeds]
            label = f"paretoray {algo_name}" + (" (ref fixed)" if opts else "") + f", lr {lr}"
            rows.append({"problem": pname, "K": K, "hv_opt": hv_opt, "target": target,
                         "solver": label, "kind": "paretoray", **_summarize(runs)})
            log(f"  {pname} {label}: {rows[-1]}")
        for which in ("NSGA-II", "SMS-EMOA"):
            runs = [race_pymoo(pname, K, target, which, cfg["race_evals"], s + 1)
                    for s in seeds]
            rows.append({"problem": pname, "K": K, "hv_opt": hv_opt, "target": target,
                         "solver": f"pymoo {which}", "kind": which, **_summarize(runs)})
            log(f"  {pname} pymoo {which}: {rows[-1]}")
    return rows


# ---------------------------------------------------------------------- section 3
def section_engine_scaling(cfg: dict) -> list[dict]:
    rows = []
    problem = get_problem("zdt1")
    min_steps, min_seconds = cfg["scale_steps"]
    for name in ("linear", "epo"):
        algo = algorithms.get(name)
        for P in cfg["scale_sizes"]:
            sps = time_batched(problem, algo, _prefs(P, 2), min_steps, min_seconds, "cpu")
            rows.append({"algorithm": name, "P": P, "steps_per_s": sps,
                         "member_steps_per_s": sps * P})
            log(f"  engine zdt1 {name:<7} P={P:<6} {sps * P:14,.0f} member-steps/s")
    return rows


def read_rounds(run_dir: str) -> list[dict]:
    """Per (shard, round): wall time between the shard's commits and its engine seconds,
    from the coordinator's commit records (``RUN_DIR/state/session-*.jsonl``)."""
    import glob

    from paretoray.distributed.state import read_records

    by_shard: dict[int, list[tuple[int, float, float]]] = {}
    for path in sorted(glob.glob(os.path.join(run_dir, "state", "*.jsonl"))):
        for rec in read_records(path):
            if rec.get("kind") == "commit":
                by_shard.setdefault(int(rec["shard"]), []).append(
                    (int(rec["round"]), float(rec["time"]), float(rec["engine_s"])))
    out = []
    for shard, recs in sorted(by_shard.items()):
        recs.sort()
        for (_, t_prev, _), (rnd, t, engine_s) in itertools.pairwise(recs):
            wall = t - t_prev
            out.append({"shard": shard, "round": rnd, "wall": wall, "engine_s": engine_s,
                        "outside": max(0.0, 1.0 - engine_s / wall) if wall > 0 else math.nan})
    return out


def read_offer_seconds(run_dir: str) -> list[float]:
    """``offer_wait_s`` (the wait for a round's receipt, after the next round's engine steps
    overlapped its commit) of every reported round after the first, from Tune's
    ``result.json`` files (Ray runs only)."""
    import glob

    out = []
    for path in glob.glob(os.path.join(run_dir, "tune", "session-*", "*", "result.json")):
        with open(path) as fh:
            for line in fh:
                rec = json.loads(line)
                if int(rec.get("round", 0)) > 0 and "offer_wait_s" in rec:
                    out.append(float(rec["offer_wait_s"]))
    return out


def section_ray(cfg: dict) -> list[dict]:
    import paretoray

    rows = []
    P, rounds = cfg["ray_population"], cfg["ray_rounds"]
    for workers, spr in cfg["ray_runs"]:
        run_dir = tempfile.mkdtemp(prefix=f"peers-ray{workers}-")
        os.rmdir(run_dir)
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                paretoray.search("zdt1", "epo", population=P, steps=spr * rounds,
                                 workers=workers, adapter="fixed", run_dir=run_dir,
                                 steps_per_round=spr, lr=LR, progress=False, seed=0)
            wall = time.perf_counter() - t0
            recs = read_rounds(run_dir)
            offers = read_offer_seconds(run_dir)
        except Exception as exc:  # report, do not abort the whole benchmark
            log(f"  search workers={workers} failed: {type(exc).__name__}: {exc}")
            rows.append({"workers": workers, "steps_per_round": spr,
                         "error": f"{type(exc).__name__}: {exc}"})
            continue
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
        walls = [r["wall"] for r in recs]
        engines = [r["engine_s"] for r in recs]
        shares = [r["outside"] for r in recs]
        per_shard = P / max(1, workers)
        row = {"workers": workers, "population": P, "steps_per_round": spr, "rounds": rounds,
               "search_wall": wall, "measured_rounds": len(recs),
               "round_wall": statistics.median(walls), "engine_s": statistics.median(engines),
               "offer_s": statistics.median(offers) if offers else math.nan,
               "outside_share": statistics.median(shares),
               "outside_share_mean": 1.0 - sum(engines) / sum(walls),
               "member_steps_per_s": max(1, workers) * per_shard * spr
               / statistics.median(walls)}
        rows.append(row)
        log(f"  search workers={workers} steps/round={spr}: round {row['round_wall']:.3f} s, "
            f"engine {row['engine_s']:.3f} s, outside {100 * row['outside_share']:.0f}%")
    return rows


# ---------------------------------------------------------------------- report
def targets(it_rows: list[dict], race_rows: list[dict], ray_rows: list[dict]) -> list[str]:
    out = []
    for K, need in ((100, 50.0), (1000, 500.0)):
        sel = [r for r in it_rows if r["K"] == K]
        if not sel:
            continue
        miss = [f"{r['problem']}/{r['method']} x{r['ratio']:.0f}" for r in sel
                if r["ratio"] < need]
        out.append(f"- per-iteration speed-up >= {need:.0f}x at K={K}: "
                   + ("**met** for all" if not miss else
                      f"**missed** for {len(miss)}/{len(sel)}: " + ", ".join(miss)))
    # issue 13: PMTL >= 100x and 3-D hypervolume ascent >= 50x at K = 1000
    for method, pick, need in (("pmtl", lambda r: True, 100.0),
                               ("hv", lambda r: r["problem"] == "dtlz2", 50.0)):
        sel = [r for r in it_rows if r["K"] == 1000 and r["method"] == method and pick(r)]
        if sel:
            miss = [f"{r['problem']} x{r['ratio']:.0f}" for r in sel if r["ratio"] < need]
            what = "3-D hv" if method == "hv" else method
            out.append(f"- {what} speed-up >= {need:.0f}x at K=1000: "
                       + ("**met** (" + ", ".join(f"{r['problem']} x{r['ratio']:.0f}"
                                                   for r in sel) + ")"
                          if not miss else "**missed** for " + ", ".join(miss)))
    sel = [r for r in it_rows if r["K"] in (100, 1000)]
    if sel:
        bad = [f"{r['problem']}/{r['method']}/K={r['K']} ({r['dhv']:+.4f})" for r in sel
               if r["dhv"] < -0.002]
        out.append("- HV >= reference HV - 0.002 (check set S, same iterations): "
                   + ("**met** for all" if not bad else "**missed**: " + ", ".join(bad)))
    for pname, _ in RACE:
        pr = [r for r in race_rows if r["problem"] == pname and r["kind"] == "paretoray"
              and r["reached"]]
        ns = [r for r in race_rows if r["problem"] == pname and r["kind"] == "NSGA-II"]
        if not ns:
            continue
        best = min(pr, key=lambda r: r["seconds"]) if pr else None
        nsr = ns[0]
        ns_txt = (f"{nsr['seconds']:.3f} s" if nsr["reached"] == nsr["runs"]
                  else f"not reached in {nsr['evals']:,} evals ({nsr['seconds']:.2f} s)")
        if best is None:
            verdict = "**missed** (paretoray did not reach the target)"
        elif nsr["reached"] < nsr["runs"]:
            verdict = (f"**met** (paretoray {best['seconds']:.3f} s; NSGA-II {ns_txt}, "
                       "so the ratio is a bound)")
        else:
            ratio = nsr["seconds"] / best["seconds"]
            verdict = ("**met**" if ratio >= 10 else "**missed**") + (
                f" ({best['solver']}: {best['seconds']:.3f} s vs NSGA-II {ns_txt}, "
                f"{ratio:.1f}x)")
        out.append(f"- time-to-99%-HV <= 1/10 of NSGA-II on {pname}: {verdict}")
    for r in ray_rows:
        if r.get("workers") == 2 and "error" not in r:
            s = r["outside_share"]
            out.append(f"- coordination <= 10% of a round with 2 workers "
                       f"({r['steps_per_round']} steps/round): "
                       f"{'**met**' if s <= 0.10 else '**missed**'} (median {100 * s:.0f}% "
                       f"of a {r['round_wall']:.2f} s round outside engine steps)")
    return out


def write_markdown(path: str, meta: dict, cfg: dict, it_rows, race_rows, eng_rows, ray_rows,
                   libmoon: str | None, elapsed: float) -> None:
    mach = meta["machine"]
    L = [f"# paretoray vs peers ({meta['mode']} run)", "",
         f"Command: `{meta['command']}` — {time.strftime('%Y-%m-%d %H:%M', time.localtime())}, "
         f"{elapsed / 60:.1f} min.", "",
         f"Machine: {mach['cpu']}; {mach['logical_cores']} logical cores "
         f"({mach['usable_cores']} usable, shared with other jobs); torch threads "
         f"{mach['torch_threads']}; Python {mach['python']}, torch {mach['torch']}, "
         f"numpy {mach['numpy']}, pymoo {mach['pymoo']}, ray {mach['ray']}; "
         f"{mach['platform']}.", "",
         "Timings are noisy on a shared machine; ratios within one run are what matter.", ""]
    if it_rows:
        L += ["## 1. Per iteration: batched engine vs one member at a time", "",
              f"Same x0 (`problem.sample`, seed 0), Das-Dennis preferences shrunk 2 % toward "
              f"the centroid, Adam lr {LR}, T = {cfg['T']} iterations. **paretoray ms/it**: "
              "median engine step over the first T_S steps (the iterations the reference "
              "ran). **reference ms/it**: median iteration of `benchmarks/_one_at_a_time.py` "
              "run on the check set S (|S| members, T_S iterations; first iteration left "
              "out), scaled by K/|S|; S = all K for hv, else min(K, "
              f"{cfg['check']}) evenly strided members; T_S = T except hv at K > "
              f"{cfg['hv_full_k']} (T_S = {cfg['hv_short_T']}). **HV / IGD / NaN / OOB**: "
              "paretoray on all K after T steps (ref point 1.1 per objective; NaN = members "
              "reset for non-finite values, OOB = members outside the box at the end). "
              "**HV(S), IGD(S)**: paretoray / reference on the same members after T_S "
              "iterations (ΔHV = difference); **left box**: reference members whose "
              "unprojected step left the box at least once (clamped back, as paretoray "
              "does; LibMOON's no-op projection would leave them outside). The reference takes "
              "the Jacobian by m backward calls for every method, as the issue specifies "
              "(a scalarization could make do with one).", "",
              "| problem | method | K | paretoray ms/it | reference ms/it | speed-up | HV | "
              "IGD | NaN/OOB | \\|S\\|×T_S | HV(S) pr / ref | ΔHV | IGD(S) pr / ref | "
              "ref NaN / left box | max\\|ΔF\\| |",
              "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
        for r in it_rows:
            L.append(
                f"| {r['problem']} | {r['method']} | {r['K']} | {r['pr_ms']:.3f} | "
                f"{fmt(r['ref_ms'], 1)} | **{r['ratio']:,.0f}x** | {r['hv']:.4f} | "
                f"{r['igd']:.4f} | {r['nan']}/{r['oob']} | {r['S']}×{r['T_S']} | "
                f"{r['hv_pr_S']:.4f} / {r['hv_ref_S']:.4f} | {r['dhv']:+.4f} | "
                f"{r['igd_pr_S']:.4f} / {r['igd_ref_S']:.4f} | {r['ref_nan']} / "
                f"{r['ref_left']} | {r['max_dF']:.1e} |")
        L.append("")
        if libmoon is not None:
            L += [f"LibMOON column: skipped — {libmoon}.", ""]
    if race_rows:
        L += ["## 2. Time to 99 % of the HV-optimal K-point hypervolume", "",
              "HV-optimal values (ref 1.1 per objective): ZDT1 — K positions on "
              "f2 = 1 - sqrt(f1) optimized by L-BFGS-B with the analytic gradient (exact); "
              "DTLZ2 — K points on the sphere octant, L-BFGS-B on the exact HV gradient "
              "from the Das-Dennis lattice and 3 random starts (best local optimum: a lower "
              "bound of the optimum). paretoray: in-process engine, Adam, K members, HV of "
              "the K current points checked after every step (included in the time); "
              "evals = steps × K (each with its Jacobian). pymoo: pop_size = K, defaults, "
              "HV of the population checked every generation in a callback that stops the "
              f"run; budget {cfg['race_evals']:,} evals. Median over "
              f"{cfg['race_seeds']} seed(s) (over the runs that reached the target when most "
              "did).", "",
              "| problem | K | target HV (99 %) | solver | reached | evals | wall s | "
              "best HV |", "|---|--:|--:|---|--:|--:|--:|--:|"]
        for r in race_rows:
            reached = f"{r['reached']}/{r['runs']}"
            L.append(f"| {r['problem']} | {r['K']} | {r['target']:.4f} (opt "
                     f"{r['hv_opt']:.4f}) | {r['solver']} | {reached} | {r['evals']:,} | "
                     f"{r['seconds']:.3f} | {r['best_hv']:.4f} |")
        L.append("")
    if eng_rows or ray_rows:
        L += ["## 3. Scaling", "",
              "Engine: ZDT1 (d = 30), in-process, `time_batched` (SGD, random x0).", "",
              "| algorithm | P | steps/s | member-steps/s |", "|---|--:|--:|--:|"]
        for r in eng_rows:
            L.append(f"| {r['algorithm']} | {r['P']:,} | {r['steps_per_s']:,.1f} | "
                     f"{r['member_steps_per_s']:,.0f} |")
        L += ["",
              "`paretoray.search('zdt1', 'epo', adapter='fixed', lr=0.01)` at a fixed total "
              "population (workers = 0: in-process, no Ray; 1, 2: embedded local Ray, one "
              "CPU per worker). Round wall = time between consecutive commits of a shard in "
              "`state/*.jsonl` (first round per shard left out); outside share = "
              "1 - engine_s / round wall (median over rounds; mean = 1 - Σengine/Σwall); "
              "offer s = median wait for a round's receipt (the coordinator's commit, overlapped "
              "with the next round's engine steps), from Tune's result.json. "
              "Search wall includes Ray start-up. Ray workers run torch with 1 thread "
              "(1 CPU each); on this 2-core machine the coordinator actor, the driver and "
              "other jobs share the same cores.", "",
              "| workers | population | steps/round | measured rounds | round wall s | "
              "engine s | offer s | outside share (median / mean) | member-steps/s | "
              "search wall s |",
              "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
        for r in ray_rows:
            if "error" in r:
                L.append(f"| {r['workers']} | failed: {r['error']} ||||||||")
                continue
            L.append(f"| {r['workers']} | {r['population']:,} | {r['steps_per_round']} | "
                     f"{r['measured_rounds']} | {r['round_wall']:.3f} | {r['engine_s']:.3f} | "
                     f"{fmt(r['offer_s'])} | "
                     f"{100 * r['outside_share']:.0f}% / {100 * r['outside_share_mean']:.0f}% | "
                     f"{r['member_steps_per_s']:,.0f} | {r['search_wall']:.1f} |")
        L.append("")
    L += ["## Targets", "", *targets(it_rows, race_rows, ray_rows), ""]
    with open(path + ".tmp", "w") as fh:
        fh.write("\n".join(L))
    os.replace(path + ".tmp", path)


def write_chart(path: str, it_rows, race_rows, eng_rows, ray_rows) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 9.5))
    ax = axes[0, 0]
    if it_rows:
        for method in dict.fromkeys(r["method"] for r in it_rows):
            by_k: dict[int, list[float]] = {}
            for r in it_rows:
                if r["method"] == method:
                    by_k.setdefault(r["K"], []).append(r["ratio"])
            ks = sorted(by_k)
            gm = [math.exp(statistics.mean(math.log(v) for v in by_k[k])) for k in ks]
            ax.plot(ks, gm, marker="o", label=method)
        ax.scatter([100, 1000], [50, 500], marker="_", s=600, color="k", zorder=5,
                   label="target (50x, 500x)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("K (preferences)")
        ax.set_ylabel("speed-up per iteration (geo-mean over problems)")
        ax.set_title("1. batched engine vs one member at a time")
        ax.legend(fontsize=7, loc="lower right")
    ax = axes[0, 1]
    if race_rows:
        labels = [f"{r['problem']}: {r['solver'].replace('paretoray ', 'pr ')}"
                  + ("" if r["reached"] == r["runs"] else " (not reached)")
                  for r in race_rows]
        colors = ["tab:blue" if r["kind"] == "paretoray" else "tab:orange" for r in race_rows]
        ax.barh(range(len(race_rows)), [r["seconds"] for r in race_rows], color=colors)
        ax.set_yticks(range(len(race_rows)), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("wall seconds to 99% of HV-optimal K-point HV")
        ax.set_title("2. time to target (blue: paretoray, orange: pymoo)")
    ax = axes[1, 0]
    if eng_rows:
        for name in dict.fromkeys(r["algorithm"] for r in eng_rows):
            sel = [r for r in eng_rows if r["algorithm"] == name]
            ax.plot([r["P"] for r in sel], [r["member_steps_per_s"] for r in sel],
                    marker="o", label=f"engine, {name}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("population P")
        ax.set_ylabel("member-steps / s")
        ax.set_title("3a. engine throughput, ZDT1, one process")
        ax.legend(fontsize=8)
    ax = axes[1, 1]
    ok = [r for r in ray_rows if "error" not in r]
    if ok:
        xs = range(len(ok))
        eng = [r["engine_s"] for r in ok]
        other = [max(0.0, r["round_wall"] - r["engine_s"]) for r in ok]
        ax.bar(xs, eng, label="engine steps")
        ax.bar(xs, other, bottom=eng, label="outside engine (coordination)")
        for x, r in zip(xs, ok, strict=True):
            ax.text(x, r["round_wall"], f"{100 * r['outside_share']:.0f}%", ha="center",
                    va="bottom")
        ax.set_xticks(list(xs), [f"w={r['workers']}\n{r['steps_per_round']} st/rd" for r in ok])
        ax.set_ylabel("median seconds per round")
        ax.set_title(f"3b. search rounds, population {ok[0]['population']}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path + ".tmp.png", dpi=110)
    plt.close(fig)
    os.replace(path + ".tmp.png", path)


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="subset: T=100, check sets of 100, 1 race seed (< 10 min)")
    parser.add_argument("--libmoon", action="store_true",
                        help="add LibMOON as a column when it and its gradient solvers import")
    parser.add_argument("--sections", default="123", help="which sections to run (e.g. 13)")
    parser.add_argument("--problems", nargs="*", default=list(PROBLEMS))
    parser.add_argument("--methods", nargs="*", default=list(METHODS))
    parser.add_argument("--sizes", nargs="*", type=int, default=list(SIZES))
    parser.add_argument("--threads", type=int, default=1,
                        help="torch.set_num_threads for both sides (default 1: on a loaded "
                             "2-core machine 2 intra-op threads make median steps 5-10x slower)")
    parser.add_argument("--out", default=None,
                        help="output stem (default results/peers, or results/peers_quick)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    mode = "quick" if args.quick else "full"
    cfg = MODES[mode]
    stem = args.out or os.path.join(RESULTS, "peers_quick" if args.quick else "peers")
    os.makedirs(os.path.dirname(os.path.abspath(stem)), exist_ok=True)
    t_start = time.perf_counter()
    meta = {"mode": mode, "machine": machine(),
            "command": "python benchmarks/peers.py " + " ".join(argv if argv is not None
                                                                 else sys.argv[1:])}
    log(f"peers ({mode}): {meta['machine']['cpu']}, {meta['machine']['usable_cores']} cores, "
        f"torch threads {meta['machine']['torch_threads']}")
    libmoon = None
    if args.libmoon:
        available, why = libmoon_status()
        libmoon = why
        log(f"LibMOON: {'available' if available else 'skipped'} — {why}")
    it_rows, race_rows, eng_rows, ray_rows = [], [], [], []
    if "1" in args.sections:
        log("1. per iteration vs one member at a time")
        it_rows = section_iteration(cfg, args.problems, args.methods, args.sizes)
    if "2" in args.sections:
        log("2. time to 99% of the HV-optimal K-point hypervolume")
        race_rows = section_race(cfg)
    if "3" in args.sections:
        log("3. scaling")
        eng_rows = section_engine_scaling(cfg)
        ray_rows = section_ray(cfg)
    elapsed = time.perf_counter() - t_start
    write_markdown(stem + ".md", meta, cfg, it_rows, race_rows, eng_rows, ray_rows, libmoon,
                   elapsed)
    write_chart(stem + ".png", it_rows, race_rows, eng_rows, ray_rows)
    with open(stem + ".json", "w") as fh:
        json.dump({"meta": meta, "config": {k: list(v) if isinstance(v, tuple) else v
                                            for k, v in cfg.items()},
                   "iteration": it_rows, "race": race_rows, "engine": eng_rows,
                   "ray": ray_rows}, fh, indent=1, default=float)
    log(f"wrote {stem}.md, {stem}.png, {stem}.json in {elapsed / 60:.1f} min")
    print()
    for line in targets(it_rows, race_rows, ray_rows):
        print(line)


if __name__ == "__main__":
    main()
