"""The faces of paretoray: :func:`search`, :func:`resume`, :func:`open`.

A search is pymoo's ``minimize`` shape -- nouns in, a result out, the caller's objects
never mutated. :func:`search` and :func:`resume` resolve the user's input once into a
frozen :class:`~paretoray.distributed.messages.RunPlan` and share one execution path;
what they return is the front the coordinator holds when the session ends (the archive
on disk holds the same points; :func:`open` re-reads it with checksums).
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from paretoray import algorithms as _algorithms
from paretoray import archive as _archive
from paretoray._registry import registry_spec
from paretoray.algorithms.base import Weighting
from paretoray.archive import ParetoSet
from paretoray.config import CUSTOM_PREFIX, SearchConfig
from paretoray.errors import ArchiveError, ConfigError
from paretoray.problems.base import Problem

if TYPE_CHECKING:
    from paretoray.distributed.messages import RoundProgress


def search(
    problem: str | Problem | None = None,
    algorithm: str | Weighting | None = None,
    *,
    population: int | None = None,
    steps: int | None = None,
    workers: int | None = None,
    adapter: str | None = None,
    run_dir: str | None = None,
    seed: int | None = None,
    address: str | None = None,
    config: SearchConfig | None = None,
    callbacks: Sequence[Callable[[RoundProgress], Any]] = (),
    **options: Any,
) -> ParetoSet:
    """Find a Pareto set: a population of preference-steered members, archived on disk.

    Args:
        problem: A registry name (``"zdt1"``, ``"dtlz2"``...) or a :class:`Problem`.
        algorithm: A registry name (``"epo"``, ``"hv"``, ``"mgda"``...) or a
            :class:`Weighting`.
        population: Number of members (one preference vector each).
        steps: Engine steps per member.
        workers: Ray Tune workers (shards); 0 runs in this process without Ray.
        adapter: How reference vectors move between rounds: ``fixed``, ``adaptive``,
            ``uniform`` or ``ehvi``.
        run_dir: The run directory (created; must not hold a run yet). Default:
            ``runs/<problem>-<algorithm>-<time>``.
        seed: Seeds starting points and adapters.
        address: A Ray cluster address; embedded local Ray when None.
        config: A :class:`SearchConfig`; keyword arguments given here override it.
        callbacks: Functions called in this process after every completed round (every
            active shard committed it) with a
            :class:`~paretoray.distributed.messages.RoundProgress` (round, front size,
            hypervolume, IGD) -- Optuna's per-trial callbacks, per round.
        **options: Any other :class:`SearchConfig` field (``lr``, ``steps_per_round``,
            ``problem_options``, ``algorithm_options``, ``ref_point``...).

    Returns:
        The :class:`ParetoSet` of the run: the front the coordinator holds when the
        session ends (the same points :func:`open` reads back from ``run_dir``).

    Raises:
        ConfigError: A field is wrong (the message names it and the allowed values).
        ArchiveError: ``run_dir`` already holds a run (use :func:`resume`).
    """
    given = {"problem": problem, "algorithm": algorithm, "population": population,
             "steps": steps, "workers": workers, "adapter": adapter, "run_dir": run_dir,
             "seed": seed, "address": address, **options}
    given = {k: v for k, v in given.items() if v is not None}
    problem_obj = _problem_object(given.get("problem"))
    algo_obj = (given.get("algorithm") if isinstance(given.get("algorithm"), Weighting)
                else None)
    for key, obj in (("problem", problem_obj), ("algorithm", algo_obj)):
        spec = registry_spec(obj)
        if spec is not None:  # built by the registry: the run records its name and options
            given[key], given[f"{key}_options"] = spec
        elif obj is not None:
            given[key] = _object_name(obj)
    problem_obj = None if registry_spec(problem_obj) else problem_obj
    algo_obj = None if registry_spec(algo_obj) else algo_obj
    if config is not None:
        cfg = config.replace(**given) if given else config
    else:
        cfg = SearchConfig.from_kwargs(**given)
    if cfg.run_dir is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        label = f"{cfg.problem}-{cfg.algorithm}".replace(CUSTOM_PREFIX, "")
        cfg = cfg.replace(run_dir=os.path.join("runs", f"{label}-{stamp}"))
    run_dir = str(cfg.run_dir)
    _check_new_run_dir(run_dir)
    problem_f = _factory("problem", cfg.problem, cfg.problem_options, problem_obj)
    prob = problem_f.build()
    _probe(prob)
    problem_f, prob, sign = _minimized(cfg, problem_f, prob)
    ref = _ref_point(cfg, prob, sign)
    algorithm_f = _factory("algorithm", cfg.algorithm, _algorithm_options(cfg, ref), algo_obj)
    algo = algorithm_f.build()
    _check_device(cfg.device)
    from paretoray.preferences.adapters import initial_prefs

    prefs = np.asarray(initial_prefs(prob.n_obj, cfg.population, seed=cfg.seed), dtype=float)
    meta = {"problem": cfg.problem, "algorithm": cfg.algorithm,
            **_network_meta(prob),
            # run.json speaks the user's directions; the plan (and the engine) minimizes
            "ref_point": None if ref is None else _flip(ref, sign),
            "directions": list(cfg.directions or ["minimize"] * prob.n_obj),
            "n_ieq_constr": int(getattr(prob, "n_ieq_constr", 0)),
            "objective_names": _objective_names(cfg, prob),
            "custom_problem": problem_obj is not None,
            "custom_algorithm": algo_obj is not None,
            "initial_prefs": prefs.tolist()}
    plan = _run_plan(cfg, problem_f, algorithm_f, prob, algo, prefs, ref, cfg.steps,
                     create=True, meta=meta)
    existed = os.path.exists(run_dir)
    try:
        return _execute(plan, cfg, callbacks)
    except BaseException:
        _discard_if_empty(run_dir, existed)
        raise


def resume(
    run_dir: str,
    steps: int,
    *,
    workers: int | None = None,
    address: str | None = None,
    problem: Problem | None = None,
    algorithm: Weighting | None = None,
    progress: bool | None = None,
    callbacks: Sequence[Callable[[RoundProgress], Any]] = (),
) -> ParetoSet:
    """Continue a run from its archive and last reference vectors, refining its front.

    The resumed session is a new Tune experiment seeded from the archive (members start
    at the archive points nearest their preference rays); its rounds continue the run's
    round numbering and are recorded in ``run.json``'s ``lineage``. Every point of
    the earlier sessions stays in the archive.

    Args:
        run_dir: A run directory written by :func:`search`.
        steps: More engine steps per member.
        workers: Override the run's number of workers.
        address: The Ray cluster to run on now (None: embedded Ray). The address recorded
            in ``run.json`` is never used: a run directory is data, not instructions.
        problem, algorithm: The objects, when the run was made with custom ones.
        progress: Override the run's progress setting.
        callbacks: As in :func:`search`.

    Returns:
        The :class:`ParetoSet` of the whole run after this session.
    """
    meta = _read_meta(run_dir)
    try:
        steps = int(steps)
    except (TypeError, ValueError):
        raise ConfigError(f"steps={steps!r} is not allowed; allowed values: integers >= 1.") \
            from None
    if steps < 1:
        raise ConfigError(f"steps={steps!r} is not allowed; allowed values: integers >= 1.")
    cfg = SearchConfig.from_dict(meta["config"])
    # run.json is data, not instructions: the cluster is the one the caller names now
    changes: dict[str, Any] = {"steps": steps, "address": address, "run_dir": str(run_dir)}
    if workers is not None:
        changes["workers"] = workers
    if progress is not None:
        changes["progress"] = progress
    cfg = cfg.replace(**changes)
    for key, given in (("problem", problem), ("algorithm", algorithm)):
        if meta.get(f"custom_{key}") and given is None:
            raise ConfigError(
                f"{run_dir!r} was made with a custom {key} object ({meta[key]!r}); pass it "
                f"again: `paretoray.resume({run_dir!r}, steps, {key}=...)`."
            )
    problem_obj = _problem_object(problem)
    problem_f = _factory("problem", cfg.problem, cfg.problem_options, problem_obj)
    problem_f, prob, sign = _minimized(cfg, problem_f, problem_f.build())
    ref = meta.get("ref_point")
    ref = None if ref is None else tuple(_flip(ref, sign))
    algorithm_f = _factory("algorithm", cfg.algorithm, _algorithm_options(cfg, ref), algorithm)
    algo = algorithm_f.build()
    _check_device(cfg.device)
    prefs = np.asarray(meta.get("initial_prefs", []), dtype=float)
    plan = _run_plan(cfg, problem_f, algorithm_f, prob, algo, prefs, ref, steps,
                     create=False, meta={})
    return _execute(plan, cfg, callbacks)


def open(run_dir: str) -> ParetoSet:
    """Read a run directory's nondominated set (no lock, no Ray)."""
    return _archive.open(run_dir)


# ---------------------------------------------------------------------- helpers
def _execute(plan: Any, cfg: SearchConfig,
             callbacks: Sequence[Callable[[RoundProgress], Any]] = ()) -> ParetoSet:
    """The one execution path of :func:`search` and :func:`resume`."""
    from paretoray.distributed.runner import run_session

    try:
        outcome = run_session(plan, cfg, _ray_settings(cfg), progress=bool(cfg.progress),
                              callbacks=tuple(callbacks))
    except KeyboardInterrupt:
        raise KeyboardInterrupt(
            f"search interrupted; every committed round is in {plan.run_dir!r}. Continue "
            f"with `paretoray resume {plan.run_dir}`.") from None
    return outcome.front


def _run_plan(cfg: SearchConfig, problem_f: Any, algorithm_f: Any, prob: Problem,
              algo: Weighting, prefs: np.ndarray, ref: tuple[float, ...] | None, steps: int,
              *, create: bool, meta: dict[str, Any]) -> Any:
    from paretoray.distributed.messages import RunPlan

    true_front = None
    if getattr(prob, "has_pareto_front", False):
        true_front = prob.pareto_front(500).detach().cpu().numpy()
    rounds = max(1, math.ceil(int(steps) / min(int(cfg.steps_per_round), int(steps))))
    sched = getattr(cfg, "scheduler", None)
    reaim_after = getattr(sched, "reaim_after", 2) if sched is not None else 2
    stop_after = (getattr(sched, "stop_after_idle_rounds", None) if sched is not None
                  else getattr(cfg, "stop_after_idle_rounds", None))
    termination = sched.termination() if sched is not None else None
    if ref is None and getattr(sched, "hv_stall_rounds", None) is not None:
        raise ConfigError(
            f"scheduler.hv_stall_rounds={sched.hv_stall_rounds} needs a reference point to "
            f"measure the hypervolume, and {prob!r} has none: set ref_point=[...] (one value "
            "per objective, worse than every point you care about).")
    return RunPlan(
        run_dir=str(cfg.run_dir), config=cfg.to_dict(), problem=problem_f,
        algorithm=algorithm_f, n_obj=prob.n_obj, n_var=getattr(prob, "n_var", None),
        ref_point=ref,
        initial_prefs=prefs, workers=_resolve_workers(cfg, prob), rounds=rounds, create=create,
        meta=meta, coupled=not algo.per_member, true_front=true_front,
        reaim_after=reaim_after, stop_after=stop_after, adapter=cfg.adapter,
        adapter_options=dict(cfg.adapter_options), seed=int(cfg.seed),
        network=bool(getattr(type(prob), "is_network", False)), termination=termination,
        steps_per_round=min(int(cfg.steps_per_round), int(steps)))


#: Populations up to this size run in-process by default (``workers="auto"``).
AUTO_INPROCESS_MAX = 4096


def _resolve_workers(cfg: SearchConfig, prob: Any) -> int:
    """``cfg.workers``, with ``"auto"`` decided by the rule in :class:`SearchConfig`.

    Returns 0 for in-process, a positive count for Ray, or -1: one per CPU of the cluster
    at ``address`` (decided once connected).
    """
    if cfg.workers != "auto":
        return int(cfg.workers)
    population = int(cfg.population)
    if getattr(cfg, "address", None):
        return -1
    if getattr(type(prob), "is_network", False):
        import torch

        gpus = torch.cuda.device_count()
        return min(population, gpus) if gpus > 1 else 0
    if population <= AUTO_INPROCESS_MAX:
        return 0
    return min(population, os.cpu_count() or 1)


def _ray_settings(cfg: SearchConfig) -> Any:
    from paretoray.distributed.runner import RaySettings

    group = getattr(cfg, "ray", None)
    src = group if group is not None else cfg
    return RaySettings(
        address=getattr(src, "address", None),
        resources=dict(getattr(src, "resources", {"cpu": 1, "gpu": 0})),
        max_failures=int(getattr(src, "max_failures", 2)),
        coordinator_restarts=int(getattr(src, "coordinator_restarts", 3)),
        allow_unauthenticated=bool(getattr(src, "allow_unauthenticated", False)))


def _factory(kind: str, name: str, options: dict[str, Any], obj: Any) -> Any:
    from paretoray.distributed.messages import Factory

    return Factory(kind, name, {} if obj is not None else dict(options), obj)  # type: ignore[arg-type]


def _problem_object(value: Any) -> Any:
    """A problem the user handed in as an object (pymoo and BoTorch ones are wrapped)."""
    if value is None or isinstance(value, str):
        return None
    if isinstance(value, Problem) or getattr(type(value), "is_network", False):
        return value
    from paretoray.problems.wrappers import as_problem

    try:
        return as_problem(value)
    except ConfigError as exc:
        if "gradient='fd'" not in str(exc):
            raise
    # a pymoo problem without analytic gradients: finite differences, said out loud
    import warnings

    warnings.warn(
        f"{type(value).__name__} has no analytic gradient: paretoray differentiates it by "
        "central finite differences (2 d extra evaluations per step). Port it to torch "
        "(paretoray.problems.from_function) for exact, batched gradients.", stacklevel=3)
    return as_problem(value, gradient="fd")


def _algorithm_options(cfg: SearchConfig, ref: tuple[float, ...] | None) -> dict[str, Any]:
    """The algorithm's options; a weighting that takes a reference point gets the run's."""
    import inspect

    options = dict(cfg.algorithm_options)
    if ref is not None and "ref_point" not in options:
        with contextlib.suppress(Exception):
            factory = _algorithms.REGISTRY.factory(cfg.algorithm)
            if "ref_point" in inspect.signature(factory).parameters:
                options["ref_point"] = list(ref)
    return options


#: Points of the box sampled for a default reference point.
REF_SAMPLES = 256


def _ref_point(cfg: SearchConfig, prob: Problem,
               sign: tuple[float, ...] | None = None) -> tuple[float, ...] | None:
    """The run's reference point in minimization form (what the coordinator measures with).

    ``cfg.ref_point`` is in the user's directions (for an objective to maximize, a value
    below every point that should count); ``prob`` is already the minimized problem.
    """
    given = cfg.ref_point is not None
    ref = cfg.ref_point if given else prob.ref_point
    if ref is None and isinstance(prob, Problem):
        ref = _sampled_ref_point(prob, seed=int(cfg.seed))
    if ref is None:
        return None
    ref = [float(r) for r in (ref.tolist() if hasattr(ref, "tolist") else ref)]
    if len(ref) != prob.n_obj:
        raise ConfigError(
            f"ref_point={ref!r} has {len(ref)} entries; {prob!r} has {prob.n_obj} "
            "objectives: give one reference value per objective."
        )
    return tuple(_flip(ref, sign) if given else ref)


def _flip(values: Sequence[float], sign: tuple[float, ...] | None) -> list[float]:
    """Values between the user's directions and minimization form (the map is its own
    inverse)."""
    if sign is None:
        return [float(v) for v in values]
    return [float(v) * s for v, s in zip(values, sign, strict=True)]


def _network_meta(prob: Any) -> dict[str, Any]:
    """What a network run records so that its models reload (factory, metric names)."""
    if not getattr(type(prob), "is_network", False):
        return {}
    from paretoray.archive.checkpoints import network_meta

    meta = network_meta(prob)
    return {k: meta[k] for k in ("model_factory", "metric_names")}


def _objective_names(cfg: SearchConfig, prob: Any) -> list[str]:
    """The config's names, else the problem's, else ``f1..fm`` (checked against ``m``)."""
    names = cfg.objective_names or getattr(prob, "objective_names", None)
    if names is None:
        return [f"f{i + 1}" for i in range(prob.n_obj)]
    names = [str(n) for n in names]
    if len(names) != prob.n_obj or len(set(names)) != len(names):
        raise ConfigError(
            f"objective_names={names!r} is not allowed: {prob!r} has {prob.n_obj} objectives; "
            f"give {prob.n_obj} distinct names.")
    return names


def _probe(prob: Any) -> None:
    """Evaluate a vector problem once on two points: a problem that raises or returns the
    wrong shape is refused here, before any run directory or Ray worker exists."""
    import torch

    from paretoray.errors import ShapeError

    if getattr(prob, "is_network", False) or not isinstance(prob, Problem):
        return
    x = prob.sample(2, generator=torch.Generator().manual_seed(0))
    try:
        F = prob.evaluate(x)
    except Exception as exc:
        raise ConfigError(
            f"problem {prob!r} failed on two points of its box: {type(exc).__name__}: "
            f"{exc}") from None
    if not isinstance(F, torch.Tensor) or tuple(F.shape) != (2, prob.n_obj):
        shape = tuple(F.shape) if isinstance(F, torch.Tensor) else type(F).__name__
        raise ShapeError(
            f"problem {prob!r} returned {shape} for a `2 x {prob.n_var}` input; expected a "
            f"`p x m` = 2 x {prob.n_obj} tensor (one row of {prob.n_obj} objectives per "
            "point).")


def _sampled_ref_point(prob: Problem, *, seed: int) -> list[float] | None:
    """A reference point for a problem that has none: 10 % beyond the worst of
    :data:`REF_SAMPLES` seeded uniform points of its box, per objective.

    Every point the search keeps improves on random starts, so it counts in the
    hypervolume; the point is fixed for the run (recorded in ``run.json``), so
    hypervolumes are comparable across rounds and sessions.
    """
    import torch

    x = prob.sample(REF_SAMPLES, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        F = prob.evaluate(x).double()
    F = F[torch.isfinite(F).all(dim=1)]
    if len(F) == 0:
        return None
    hi, lo = F.max(0).values, F.min(0).values
    span = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
    return (hi + 0.1 * span).tolist()


def _check_device(device: str) -> None:
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(
                "device='cuda' is not allowed on this machine: torch sees no CUDA device. "
                "Use device='auto' (CUDA where present) or 'cpu'.")


def _check_new_run_dir(run_dir: str) -> None:
    if os.path.exists(os.path.join(run_dir, "run.json")):
        raise ArchiveError(
            f"run_dir={run_dir!r} already holds a run. Continue it with "
            f"`paretoray.resume({run_dir!r}, steps=...)` (CLI: `paretoray resume {run_dir}`), "
            "or choose another run_dir."
        )
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise ConfigError(
            f"run_dir={run_dir!r} is a file, not a directory; choose a new directory path.")


def _discard_if_empty(run_dir: str, existed: bool) -> None:
    """A search that failed before its first commit leaves no run directory behind.

    Only a directory this call created, and only when no segment or checkpoint file exists
    anywhere in it: whatever else went wrong, nothing that may hold a committed point is
    ever removed (such a run is continued with ``resume``).
    """
    from pathlib import Path

    root = Path(run_dir)
    if existed or not root.is_dir():
        return
    if any(root.rglob("seg-*.arrow")) or any(root.rglob("*.safetensors")):
        return
    shutil.rmtree(run_dir, ignore_errors=True)


def _read_meta(run_dir: str) -> dict[str, Any]:
    path = os.path.join(run_dir, "run.json")
    if not os.path.exists(path):
        raise ArchiveError(
            f"{run_dir!r} is not a paretoray run directory (no run.json). Start a run with "
            "`paretoray.search(..., run_dir=...)`."
        )
    try:
        with builtins.open(path) as fh:
            return json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArchiveError(
            f"{path!r} is not valid JSON ({exc}); restore run.json from a backup of the run "
            "directory (the archive's segments are intact).") from None


def _object_name(obj: Any) -> str:
    """The name a run records for a problem/algorithm passed as an object."""
    return f"{CUSTOM_PREFIX}{getattr(obj, 'name', '') or type(obj).__name__}"


def _minimized(cfg: SearchConfig, problem_f: Any, prob: Any
               ) -> tuple[Any, Any, tuple[float, ...] | None]:
    """The factory and problem the engine minimizes, and the sign per objective.

    With an objective to maximize in ``cfg.directions`` the factory carries the signs and
    builds the problem wrapped in :class:`~paretoray.problems.directions.Minimized` (which
    refuses network problems); otherwise both come back unchanged with ``sign`` None.
    """
    directions = getattr(cfg, "directions", None)
    if directions is None:
        return problem_f, prob, None
    if len(directions) != prob.n_obj:
        raise ConfigError(
            f"directions={list(directions)!r} has {len(directions)} entries; {prob!r} has "
            f"{prob.n_obj} objectives: give one 'minimize' or 'maximize' per objective."
        )
    from paretoray.archive.schema import objective_signs

    try:
        sign = tuple(float(s) for s in objective_signs(directions, prob.n_obj))
    except ValueError:
        raise ConfigError(
            f"directions={list(directions)!r} is not allowed: give {prob.n_obj} entries, each "
            "'minimize' or 'maximize' (one per objective).") from None
    if all(s > 0 for s in sign):
        return problem_f, prob, None
    problem_f = dataclasses.replace(problem_f, sign=sign)
    return problem_f, problem_f.build(), sign
