"""Workers: one shard of the population, stepped round by round.

Status: beta.

:func:`run_shard` is the shard loop with no Ray in it: per round it asks the coordinator
for a :class:`~.messages.RoundPlan`, runs ``K`` batched engine steps, sends its finite
points as an :class:`~.messages.Offer` and reports the round's metrics; every few rounds
the report carries a checkpoint of the shard (tensors only, as safetensors). The in-process
search (``workers=0``) and the Ray Tune trainable (:func:`shard_trainable`) both run it,
against the same :class:`~.coordinator.Coordinator` protocol.

On Ray a shard waits on nothing it does not need: the next round's plan is asked for
before the round's offer is sent (so it is not queued behind the commit), the receipt is
taken only after the next round's steps, and Tune's reports (with their checkpoints) are
handed on by a thread of their own (:class:`BackgroundReporter`).

A member whose values turn NaN/inf is reset by the engine to where it stood at the start
of the round (its last finite point), so no archive lookup is needed per round.
"""

from __future__ import annotations

import json
import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from paretoray import indicators
from paretoray.distributed.coordinator import Coordinator
from paretoray.distributed.messages import (
    ContextDelta,
    Offer,
    Receipt,
    RoundPlan,
    RoundStats,
    SessionPlan,
)
from paretoray.engine import Engine
from paretoray.preferences.geometry import cosine

#: ``report(metrics, checkpoint_state_or_None)``.
Reporter = Callable[[dict[str, Any], dict[str, Any] | None], None]

CHECKPOINT_FILE = "shard.safetensors"
CHECKPOINT_META = "shard.json"

#: Most context points a population-coupled weighting sees per round.
MAX_CONTEXT = 256


class ShardError(Exception):
    """A deterministic error in a shard (the user's problem or algorithm, bad numbers in a
    place the engine cannot reset): reported once, never retried as if it were a fault."""


@dataclass
class ContextFront:
    """A shard's copy of the other shards' nondominated points, kept by deltas."""

    ids: np.ndarray
    objectives: np.ndarray

    @classmethod
    def empty(cls, m: int) -> ContextFront:
        return cls(np.zeros(0, np.int64), np.zeros((0, m)))

    def apply(self, delta: ContextDelta) -> None:
        if delta.reset:
            self.ids, self.objectives = self.ids[:0], self.objectives[:0]
        keep = ~np.isin(self.ids, delta.drop_ids)
        self.ids = np.concatenate([self.ids[keep], delta.add_ids])
        added = delta.add_objectives.reshape(-1, self.objectives.shape[1])
        self.objectives = np.concatenate([self.objectives[keep], added])

    def nearest(self, prefs: np.ndarray, k: int = MAX_CONTEXT) -> np.ndarray | None:
        """Up to ``k`` points, those closest in angle to the shard's rays."""
        F = self.objectives
        if len(F) == 0:
            return None
        if len(F) > k:
            F = F[np.argsort(-cosine(F, prefs).max(0), kind="stable")[:k]]
        return F


def run_shard(
    plan: SessionPlan,
    shard: int,
    coordinator: Coordinator,
    report: Reporter,
    *,
    checkpoint: dict[str, Any] | None = None,
    node: str = "",
) -> dict[str, Any]:
    """Run one shard from its first (or checkpointed) round to the session's last.

    Args:
        plan: The session, as planned by the driver.
        shard: Shard index.
        coordinator: In-process or a Ray actor handle (same protocol).
        report: Receives the metrics of the rounds that carry a checkpoint (every
            ``checkpoint_every`` rounds and at the end), complete a global round (their
            metrics hold ``progress_*``) or a decision; and the shard state to checkpoint.
        checkpoint: A state returned through ``report`` earlier (restart after a fault).
        node: The Ray node id this shard runs on (recorded with each commit).

    Returns:
        The last round's metrics.
    """
    problem, algorithm = plan.problem.build(), plan.algorithm.build()
    members = plan.members(shard)
    member_ids = np.arange(members.start, members.stop)
    first = plan.first_round if checkpoint is None else int(checkpoint["next_round"])
    device = None if plan.device == "auto" else plan.device
    ref = None if plan.ref_point is None else np.asarray(plan.ref_point, dtype=float)
    algo_name = getattr(algorithm, "name", "") or type(algorithm).__name__
    network = bool(getattr(type(problem), "is_network", False))
    context = ContextFront.empty(plan.n_obj)
    engine: Engine | None = None
    metrics: dict[str, Any] = {}
    pending: _InFlight | None = None  # the previous round's offer, committing meanwhile
    upcoming: Callable[[], RoundPlan] | None = None  # this round's plan, asked for already
    for rnd in range(first, plan.last_round):
        t_round = time.perf_counter()
        round_plan = upcoming() if upcoming is not None else coordinator.next_round(shard, rnd)
        if round_plan.stop:
            break
        prefs = torch.as_tensor(round_plan.prefs)
        if engine is None:
            x0 = None
            if checkpoint is None and round_plan.start_x is not None:
                x0 = problem.project(torch.as_tensor(round_plan.start_x))
            engine = Engine(problem, algorithm, prefs, x0=x0, lr=plan.lr,
                            optimizer=plan.optimizer, optimizer_options=plan.optimizer_options,
                            seed=plan.seed + 7919 * shard, device=device)
            if checkpoint is not None:
                saved = dict(checkpoint["engine"])
                weighting = {k[len("weighting."):]: saved.pop(k) for k in list(saved)
                             if k.startswith("weighting.")}
                engine.load_state_dict(saved)
                if weighting and hasattr(algorithm, "load_state_dict"):
                    algorithm.load_state_dict(weighting)
            elif round_plan.start_params is not None:  # a resumed network run
                engine.load_members(torch.arange(engine.p), _tensors(round_plan.start_params))
        elif round_plan.start_x is not None:
            engine.reset_members(torch.ones(engine.p, dtype=torch.bool),
                                 torch.as_tensor(round_plan.start_x))
        elif round_plan.start_params is not None:
            engine.load_members(torch.arange(engine.p), _tensors(round_plan.start_params))
        engine.set_prefs(prefs)
        # a member reset for non-finite values restarts where it stood at the round's start
        if network:
            engine.fallback_params = engine.member_params(torch.arange(engine.p))
        else:
            engine.fallback = engine.x.detach().clone()
        ctx = None
        if round_plan.context is not None:
            context.apply(round_plan.context)
            near = context.nearest(round_plan.prefs)
            if near is not None:
                ctx = torch.as_tensor(near, dtype=engine.dtype, device=engine.device)
        cpu = time.thread_time()
        stats = engine.run(plan.steps_per_round, context=ctx)
        cpu = time.thread_time() - cpu
        x, F, finite = engine.evaluate()
        keep = finite.cpu().numpy()
        F_np = F.cpu().numpy()[keep]
        params = heldout = None
        if network:
            index = torch.as_tensor(np.flatnonzero(keep), dtype=torch.long)
            params = {k: v.cpu().numpy() for k, v in engine.member_params(index).items()}
            heldout = {k: v.cpu().numpy()[keep] for k, v in engine.heldout_metrics().items()}
        offer = Offer(
            shard=shard, round=rnd, objectives=F_np,
            preference=engine.prefs.cpu().numpy()[keep],
            x=None if x is None else x.cpu().numpy()[keep],
            member=member_ids[keep], algorithm=algo_name,
            stats=RoundStats(steps=engine.steps_done, nan_resets=stats.nan_resets,
                             nonfinite=int((~keep).sum()), engine_s=stats.seconds, node=node,
                             engine_cpu_s=cpu),
            params=params, metrics=heldout,
            violation=(engine.problem.violation(x).cpu().numpy()[keep]
                       if x is not None and engine.problem.n_ieq_constr else None),
        )
        # the previous round's receipt: its commit ran while this round's steps did
        if pending is not None:
            metrics, stopped = _settle(pending, report)
            pending = None
            if stopped:
                break
        due = (rnd + 1 - first) % plan.checkpoint_every == 0 or rnd + 1 == plan.last_round
        state = None
        if due:
            # a stateful weighting (DWA, FAMO, PCGrad's generator...) keeps its state too;
            # copied now: it is reported once this round's offer is committed
            weighting = {f"weighting.{k}": v.clone() for k, v in getattr(
                algorithm, "state_dict", dict)().items()}
            state = {"engine": {**engine.state_dict(), **weighting}, "next_round": rnd + 1}
        base = {
            "round": rnd, "shard": shard, "shard_hypervolume": _shard_hv(F_np, ref),
            "nan_resets": stats.nan_resets, "nonfinite": int((~keep).sum()),
            "steps": engine.steps_done, "steps_per_s": stats.steps_per_second,
            "engine_s": stats.seconds, "node": node,
            "round_s": time.perf_counter() - t_round,
        }
        # the next round's plan is asked for before this offer is sent, so that on Ray it
        # is not queued behind the commit: commit and next steps overlap
        upcoming = (coordinator.next_round_async(shard, rnd + 1)
                    if rnd + 1 < plan.last_round else None)
        pending = _InFlight(coordinator.offer_async(offer), base, state,
                            last=rnd + 1 == plan.last_round)
    if pending is not None:
        metrics, _ = _settle(pending, report)
    return metrics


@dataclass
class _InFlight:
    """An offer sent but not yet answered, with what its round reports once it is."""

    receipt: Callable[[], Receipt]
    metrics: dict[str, Any]
    state: dict[str, Any] | None
    last: bool


def _settle(flight: _InFlight, report: Reporter) -> tuple[dict[str, Any], bool]:
    """Wait for an offer's receipt and report its round. Returns (metrics, stopped).

    Its checkpoint is reported only now, after the commit: a shard restarted from it never
    skips a round that was not committed.
    """
    t = time.perf_counter()
    receipt = flight.receipt()
    metrics = {**flight.metrics, "accepted": receipt.accepted,
               "front_size": receipt.front_size, "offer_wait_s": time.perf_counter() - t,
               "duplicate_offer": receipt.duplicate, "decision": receipt.decision}
    if receipt.progress is not None:
        p = receipt.progress
        metrics.update(progress_round=p.round, progress_front_size=p.front_size,
                       progress_hypervolume=p.hypervolume, progress_igd=p.igd)
    stopped = receipt.decision == "stop"
    state = flight.state
    # Tune's report holds the worker until the driver has taken the result: report only
    # rounds that carry a checkpoint, complete a global round, end the shard or a decision
    # (every commit's figures are in the coordinator's state log anyway)
    if (state is not None or receipt.progress is not None or receipt.decision != "continue"
            or flight.last):
        report(metrics, state)
    return metrics, stopped


def _tensors(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.as_tensor(np.asarray(v)) for k, v in arrays.items()}


def _shard_hv(F: np.ndarray, ref: np.ndarray | None) -> float:
    if ref is None or len(F) == 0:
        return float("nan")
    return float(indicators.hypervolume(F, ref))


# ---------------------------------------------------------------------- checkpoint files
def save_checkpoint(state: dict[str, Any], directory: str) -> None:
    """Write a shard state as ``shard.safetensors`` + ``shard.json`` (no pickles)."""
    from safetensors.torch import save_file

    tensors = {k: v.contiguous() for k, v in state["engine"].items()}
    save_file(tensors, os.path.join(directory, CHECKPOINT_FILE))
    with open(os.path.join(directory, CHECKPOINT_META), "w") as fh:
        json.dump({"next_round": int(state["next_round"])}, fh)


def load_checkpoint(directory: str) -> dict[str, Any]:
    """Read what :func:`save_checkpoint` wrote."""
    from safetensors.torch import load_file

    engine = load_file(os.path.join(directory, CHECKPOINT_FILE))
    with open(os.path.join(directory, CHECKPOINT_META)) as fh:
        meta = json.load(fh)
    return {"engine": engine, "next_round": meta["next_round"]}


# ---------------------------------------------------------------------- the Tune trainable
def shard_trainable(config: dict[str, Any], plan: SessionPlan, coordinator: str,
                    namespace: str | None) -> None:
    """Ray Tune function trainable: ``config["shard"]`` picks the shard of ``plan``.

    Restarted by Tune's ``FailureConfig`` after a fault (a killed process), it resumes from
    its last checkpoint; rounds already committed are replayed against the coordinator,
    which answers them from the manifest without writing twice. An exception raised by
    the shard's own code is deterministic: it is reported once as the trial's ``error``
    result and the trial ends, instead of being retried as a fault.
    """
    import traceback

    import ray
    from ray import tune

    from paretoray.distributed.coordinator import ActorCoordinator

    torch.set_num_threads(1)
    shard = int(config["shard"])
    handle = ActorCoordinator(ray.get_actor(coordinator, namespace=namespace))
    node = ray.get_runtime_context().get_node_id()

    checkpoint = None
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            checkpoint = load_checkpoint(d)

    def report(metrics: dict[str, Any], state: dict[str, Any] | None) -> None:
        if state is None:
            tune.report(metrics)
            return
        with tempfile.TemporaryDirectory() as d:
            save_checkpoint(state, d)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))

    reporter = BackgroundReporter(report)
    try:
        try:
            run_shard(plan, shard, handle, reporter, checkpoint=checkpoint, node=node)
        finally:
            reporter.close()
    except ray.exceptions.RayError:
        raise  # the coordinator or the cluster failed: Tune's FailureConfig decides
    except Exception as exc:  # the user's problem or algorithm: deterministic, not a fault
        tune.report({"shard": shard, "error": f"{type(exc).__name__}: {exc}",
                     "error_traceback": traceback.format_exc(limit=8)})


class BackgroundReporter:
    """A :data:`Reporter` that hands reports on from a thread of its own, in order.

    Tune's ``report`` in a function trainable holds its caller until the driver has taken
    the result -- a round trip through Tune's event loop, and the checkpoint's copy into
    the trial directory -- which on a busy machine cost a shard tens of milliseconds a
    round with its CPU idle. Here the shard loop only queues the report and goes on with
    its next round's steps. What ``run_shard`` guarantees still holds: a checkpoint is
    queued only after its round's commit, and reports leave in the order they were queued.

    Args:
        report: The reporter that does the work (called in the thread).
        depth: Reports that may wait; a shard further ahead waits for Tune.
    """

    def __init__(self, report: Reporter, depth: int = 2) -> None:
        self._report = report
        self._queue: queue.Queue[tuple[dict[str, Any], dict[str, Any] | None] | None] = (
            queue.Queue(maxsize=depth))
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="paretoray-report",
                                        daemon=True)
        self._thread.start()

    def __call__(self, metrics: dict[str, Any], state: dict[str, Any] | None) -> None:
        self._raise()
        self._queue.put((metrics, state))

    def close(self) -> None:
        """Wait until every queued report has been handed on; re-raise its error, if any
        (Tune stopping the trial raises ``SystemExit`` in the reporting thread)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                self._report(*item)
            except BaseException as exc:
                self._error = exc
                while self._queue.get() is not None:  # let the shard's puts through
                    pass
                return
