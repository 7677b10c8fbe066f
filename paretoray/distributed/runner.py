"""Running a search session: on Ray Tune (workers >= 1) or in-process (workers = 0).

Status: beta.

Both paths build the same :class:`~.coordinator.CoordinatorCore` from the same
:class:`~.messages.RunPlan`, run the same :func:`~.worker.run_shard` loop against the same
:class:`~.coordinator.Coordinator` protocol and follow the same idle rule (decided by the
coordinator, carried out by the loop or by the Tune scheduler). Ray is imported only on
the Ray path, and everything that can be checked before a run directory exists is
checked first: the address answers, the cluster can hold one worker, token
authentication is on, no other writer holds the run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import socket
import stat
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch

from paretoray.archive import ParetoSet
from paretoray.distributed.coordinator import CoordinatorCore
from paretoray.distributed.messages import (
    RoundProgress,
    RunPlan,
    SessionPlan,
    SessionStart,
    Summary,
)
from paretoray.distributed.placement import Node, nodes_for
from paretoray.distributed.worker import run_shard
from paretoray.errors import ConfigError, ParetorayError
from paretoray.progress import Progress

log = logging.getLogger("paretoray")

#: Seconds to wait for a cluster address to answer before giving up.
CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class RaySettings:
    """Where and how the Ray path runs.

    Attributes:
        address: A Ray cluster address; None starts Ray embedded on this machine (or
            reuses a session this process already started).
        resources: Per-worker resources ``{"cpu": 1, "gpu": 0}`` (``gpu`` may be a fraction).
        max_failures: Tune restarts of a killed worker.
        coordinator_restarts: Ray restarts of a killed coordinator.
        allow_unauthenticated: Start embedded Ray even with ``RAY_AUTH_MODE=disabled``.
    """

    address: str | None = None
    resources: dict[str, float] = field(default_factory=lambda: {"cpu": 1, "gpu": 0})
    max_failures: int = 2
    coordinator_restarts: int = 3
    allow_unauthenticated: bool = False


@dataclass(frozen=True)
class Outcome:
    """What a session hands back: the coordinator's summary and its front."""

    summary: Summary
    front: ParetoSet
    decisions: dict[str, int]


def session_plan(plan: RunPlan, start: SessionStart, cfg: Any) -> SessionPlan:
    """The per-shard plan of one session."""
    return SessionPlan(
        run_dir=plan.run_dir, problem=plan.problem, algorithm=plan.algorithm,
        n_obj=plan.n_obj, ref_point=plan.ref_point, shards=start.shards,
        first_round=start.first_round, rounds=plan.rounds,
        steps_per_round=int(plan.steps_per_round), lr=float(cfg.lr),
        optimizer=str(cfg.optimizer), optimizer_options=dict(cfg.optimizer_options),
        seed=int(cfg.seed), device=str(cfg.device), checkpoint_every=int(cfg.checkpoint_every))


def run_session(plan: RunPlan, cfg: Any, settings: RaySettings, *, progress: bool,
                callbacks: tuple[Callable[[RoundProgress], Any], ...] = ()) -> Outcome:
    """Run one session of ``plan``: in-process when ``plan.workers == 0``, else on Ray.

    ``callbacks`` are called in this process with each completed round's progress."""
    if plan.workers == 0:
        return run_local(plan, cfg, progress=progress, callbacks=callbacks)
    return run_on_ray(plan, cfg, settings, progress=progress, callbacks=callbacks)


# ---------------------------------------------------------------------- in-process
@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run with ``n`` torch threads, as a Ray worker does (restored afterwards).

    A population step is many small kernels: on a shared machine extra threads mostly
    wait on each other (5-10x slower steps were measured with 2 threads on 2 busy cores).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_local(plan: RunPlan, cfg: Any, *, progress: bool,
              callbacks: tuple[Callable[[RoundProgress], Any], ...] = ()) -> Outcome:
    """Run a session in this process, without Ray."""
    table = Progress(progress)
    core = CoordinatorCore(plan)
    try:
        start = core.begin_session(plan.rounds)
        session = session_plan(plan, start, cfg)

        def report(metrics: dict[str, Any], state: dict[str, Any] | None) -> None:
            _progress_row(table, metrics, steps_per_s=float(metrics["steps_per_s"]),
                          span=(session.first_round, session.last_round))
            _call_back(callbacks, metrics)

        with torch_threads(1):
            run_shard(session, 0, core, report)
        summary, front = core.summary(), core.front()
        return Outcome(summary, front, dict(summary.decisions))
    finally:
        core.close()


def _call_back(callbacks: tuple[Callable[[RoundProgress], Any], ...],
               metrics: dict[str, Any]) -> None:
    if not callbacks or metrics.get("progress_round") is None:
        return
    status = RoundProgress(round=int(metrics["progress_round"]),
                           front_size=int(metrics["progress_front_size"]),
                           hypervolume=metrics.get("progress_hypervolume"),
                           igd=metrics.get("progress_igd"))
    for callback in callbacks:
        callback(status)


def _progress_row(table: Progress, metrics: dict[str, Any], *, steps_per_s: float,
                  span: tuple[int, int] | None = None) -> None:
    """One row per completed global round; ``span`` = (first, last) round draws the bar."""
    if metrics.get("progress_round") is None:
        return
    hv = metrics.get("progress_hypervolume")
    if span is not None:
        first, last = span
        table.advance(int(metrics["progress_round"]) - first, last - first)
    table.row(round=int(metrics["progress_round"]), steps=int(metrics["steps"]),
              n_nds=int(metrics["progress_front_size"]),
              hv=float("nan") if hv is None else float(hv),
              igd=metrics.get("progress_igd"), steps_per_s=steps_per_s)


# ---------------------------------------------------------------------- Ray
def check_address(address: str) -> None:
    """Fail within seconds when a cluster address does not answer (Ray would hang)."""
    if address in ("auto", "local"):
        return
    parsed = urlparse(address if "://" in address else f"ray://{address}")
    host, port = parsed.hostname, parsed.port
    if not host or not port:
        raise ConfigError(
            f"address={address!r} is not a Ray address; expected HOST:PORT of a head's GCS "
            "(e.g. '10.0.0.5:6379'), 'auto', or a ray:// client address.")
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise ConfigError(
            f"address={address!r} is unreachable ({exc.strerror or exc}); start the head "
            "there with `ray start --head`, or leave `address` unset to run Ray on this "
            "machine.") from None


#: Arguments and results up to this size travel inside the call on an embedded Ray (Ray's
#: default: 100 KB; bigger ones go through the object store). An offer of 512 members of
#: ZDT1 is 123 KB: inline, a call costs the worker 0.5 ms, the coordinator 0.2 ms and the
#: raylet 0.9 ms less (CPU, measured with a bare actor on 2 cores).
INLINE_BYTES = 1 << 20


def connect(address: str | None = None, *, allow_unauthenticated: bool = False) -> bool:
    """Connect to Ray: reuse a running session, join ``address``, or start one locally.

    A local start binds to 127.0.0.1, with the dashboard and metrics export off, token
    authentication on and offers up to :data:`INLINE_BYTES` sent inline. Returns True
    when this call started or joined Ray (so the caller shuts it down), False when it
    reused a session.
    """
    import ray

    if ray.is_initialized():
        return False
    if address:
        check_address(address)
        ray.init(address=address, log_to_driver=False)
        return True
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled" and not allow_unauthenticated:
        raise ConfigError(
            "RAY_AUTH_MODE=disabled is set: embedded Ray would accept any local client "
            "without a token. Unset it, or pass ray.allow_unauthenticated=True if you "
            "really mean it.")
    os.environ.setdefault("RAY_enable_metrics_collection", "0")
    # address="local": a new Ray of our own, never a `ray start` cluster that happens to
    # run on this machine (ray.init() would join that one silently)
    ray.init(address="local", include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, configure_logging=True, logging_level=logging.WARNING,
             _system_config={"max_direct_call_object_size": INLINE_BYTES})
    _private_token_file()
    return True


def _private_token_file() -> None:
    """Ray writes ``~/.ray/auth_token`` world-readable; a token is a password: 0600."""
    path = Path.home() / ".ray" / "auth_token"
    with contextlib.suppress(OSError):
        if path.exists() and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            path.chmod(0o600)


def check_resources(resources: Mapping[str, float],
                    cluster: Sequence[Mapping[str, Any]]) -> list[Node]:
    """The live nodes that can hold a worker asking for ``resources`` (Tune's names), with
    how many each holds (:func:`~paretoray.distributed.placement.nodes_for`); when there
    is none, refuse before anything is written.

    Args:
        resources: What each worker asks for (``{"cpu": 0.5, "gpu": 0.25}``).
        cluster: ``ray.nodes()``.
    """
    nodes = nodes_for(resources, cluster)
    if nodes:
        return nodes
    have = ", ".join(f"cpu={n.get('Resources', {}).get('CPU', 0):g} "
                     f"gpu={n.get('Resources', {}).get('GPU', 0):g}"
                     for n in cluster if n.get("Alive"))
    raise ConfigError(
        f"resources={dict(resources)!r} per worker cannot be met: no node of this Ray "
        f"cluster has that much (nodes: {have or 'none'}). Lower `resources` (a fraction "
        "of a GPU or CPU is allowed) or add nodes.")


def _check_not_locked(run_dir: str) -> None:
    """A second writer is refused in the driver, once, naming the holder."""
    from paretoray.archive.lock import RunLock

    if not os.path.exists(os.path.join(run_dir, "run.json")):
        return
    lock = RunLock(Path(run_dir))
    lock.acquire()
    lock.release()


def run_on_ray(plan: RunPlan, cfg: Any, settings: RaySettings, *, progress: bool,
               callbacks: tuple[Callable[[RoundProgress], Any], ...] = ()) -> Outcome:
    """Run a session as a Ray Tune experiment, one trial per shard.

    The coordinator is a named Ray actor pinned to this node (it writes the run
    directory; restarted by Ray on failure); trials are restarted from their checkpoints
    by ``FailureConfig(max_failures)``. Tune's own files (its logs, TensorBoard files and
    its ``tuner.pkl``/``params.pkl``, which paretoray never reads) go to
    ``RUN_DIR/tune/session-N``. Ctrl-C raises ``KeyboardInterrupt`` after the actor and
    Ray are shut down (every committed round stays in the archive).
    """
    # Tune's console output stays quiet (paretoray prints its own table), and Tune must
    # not swallow Ctrl-C: an interrupted search is an error, not a partial success.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    import ray
    from ray import tune

    from paretoray.distributed.coordinator import coordinator_actor
    from paretoray.distributed.placement import spread, trial_resources
    from paretoray.distributed.scheduler import ParetoScheduler
    from paretoray.distributed.worker import shard_trainable

    started = connect(settings.address, allow_unauthenticated=settings.allow_unauthenticated)
    actor = None
    previous = _sigterm_as_interrupt()  # ray.init installs a SIGTERM handler that aborts
    try:
        if plan.workers < 0:  # workers="auto" on a cluster: one per CPU it has
            cpus = float(ray.cluster_resources().get("CPU", 1.0))
            per = float(settings.resources.get("cpu", 1) or 1)
            population = len(plan.initial_prefs) or _population(plan)
            plan = dataclasses.replace(plan, workers=max(1, min(population, int(cpus / per))))
        resources = _worker_resources(settings.resources, plan)
        nodes = check_resources(resources, ray.nodes())
        _check_not_locked(plan.run_dir)
        name = f"paretoray-coordinator-{uuid.uuid4().hex[:8]}"
        namespace = ray.get_runtime_context().namespace
        node = ray.get_runtime_context().get_node_id()
        actor = coordinator_actor(name, namespace, max_restarts=settings.coordinator_restarts,
                                  node_id=node).remote(plan)
        start = _unwrap(lambda: ray.get(actor.begin_session.remote(plan.rounds)))
        for message, category in ray.get(actor.take_warnings.remote()):
            warnings.warn(f"coordinator: {message}", category, stacklevel=3)
        session = session_plan(plan, start, cfg)
        targets = spread(plan.workers, nodes)
        trainable = tune.with_resources(
            tune.with_parameters(shard_trainable, plan=session, coordinator=name,
                                 namespace=namespace), trial_resources(resources, targets))
        scheduler = ParetoScheduler()
        run_dir = os.path.abspath(plan.run_dir)
        tune_dir = os.path.join(run_dir, "tune")
        n_sessions = (len([d for d in os.listdir(tune_dir) if d.startswith("session-")])
                      if os.path.isdir(tune_dir) else 0)
        tuner = tune.Tuner(
            trainable,
            param_space={"shard": tune.grid_search(list(range(plan.workers)))},
            tune_config=tune.TuneConfig(scheduler=scheduler, num_samples=1,
                                        max_concurrent_trials=plan.workers),
            run_config=tune.RunConfig(
                name=f"session-{n_sessions + 1}", storage_path=tune_dir,
                failure_config=tune.FailureConfig(max_failures=settings.max_failures),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=2), verbose=0,
                callbacks=[_progress_callback(progress, (session.first_round,
                                                         session.last_round), callbacks)],
            ),
        )
        results = tuner.fit()
        if scheduler.errors:
            shard, message = scheduler.errors[0]
            raise ParetorayError(f"shard {shard} failed: {message}")
        errors = [r.error for r in results if r.error is not None]
        summary = _unwrap(lambda: ray.get(actor.summary.remote()))
        front = _unwrap(lambda: ray.get(actor.front.remote()))
        if errors:
            raise ParetorayError(
                f"{len(errors)} of {plan.workers} workers failed after "
                f"{settings.max_failures} restarts: {_first_line(errors[0])}. Every committed "
                f"round is in the archive; continue with `paretoray resume {plan.run_dir}`.")
        return Outcome(summary, front, dict(scheduler.decisions))
    finally:
        try:
            if actor is not None:
                with contextlib.suppress(Exception):
                    ray.get(actor.close.remote(), timeout=60)
                ray.kill(actor, no_restart=True)
        finally:
            if started:
                ray.shutdown()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


def _sigterm_as_interrupt() -> Any:
    """SIGTERM ends the search like Ctrl-C (main thread only; returns the old handler)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, handler)


def _worker_resources(resources: dict[str, float], plan: RunPlan) -> dict[str, float]:
    """What each trial asks for. Network shards with no GPU asked for take an equal share
    of the cluster's GPUs where it has any (at most one each); vector shards never do."""
    import ray

    out = {k: float(v) for k, v in resources.items() if v}
    if plan.network and "gpu" not in out:
        gpus = float(ray.cluster_resources().get("GPU", 0.0))
        if gpus > 0:
            out["gpu"] = min(1.0, gpus / plan.workers)
    return out


def _population(plan: RunPlan) -> int:
    """The population of a resumed run (its initial preferences are not in the plan)."""
    import json

    with open(os.path.join(plan.run_dir, "run.json")) as fh:
        return len(json.load(fh).get("initial_prefs", [])) or 1


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "cause", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1] if text else ''}"


def _unwrap(call: Any) -> Any:
    """Run a blocking Ray call; an error raised in the actor is re-raised as itself."""
    import ray

    try:
        return call()
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, ParetorayError):
            raise cause from None
        raise


def _progress_callback(enabled: bool, span: tuple[int, int],
                       callbacks: tuple[Callable[[RoundProgress], Any], ...] = ()):
    """A Tune callback printing one progress row per completed global round, from the
    trials' results alone (no remote calls on Tune's event loop)."""
    from ray import tune

    class _ProgressCallback(tune.Callback):
        def __init__(self) -> None:
            self.table = Progress(enabled)
            self.speed: dict[str, float] = {}

        def on_trial_result(self, iteration, trials, trial, result, **info):
            self.speed[trial.trial_id] = float(result.get("steps_per_s", 0.0))
            _progress_row(self.table, result, steps_per_s=sum(self.speed.values()), span=span)
            _call_back(callbacks, result)

    return _ProgressCallback()
