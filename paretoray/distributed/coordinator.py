"""The coordinator: the one writer of a run directory, and the keeper of reference vectors.

Status: beta.

It speaks the :class:`Coordinator` protocol -- ``begin_session``, ``next_round``, ``offer``,
``summary``, ``front``, ``close`` -- in typed messages (:mod:`.messages`).
:class:`CoordinatorCore` implements it with no Ray in it (the in-process ``workers=0``
search uses it as it is); :func:`coordinator_actor` runs the same class as a Ray actor and
:class:`ActorCoordinator` is the worker-side handle that speaks the protocol to it.

Cost per commit (the coordinator serves every shard, so this decides how many workers a
run can have):

- the segment write and the merge into the front grow with the points offered (the
  merge is incremental, ``archive/merge.py``); the (shard, round) key is recorded in the
  manifest in the same atomic step, so a replayed offer is answered without writing;
- one small record is appended to ``state/log.jsonl`` (:mod:`.state`);
- the idle rule is O(1);
- the work that reads the whole front -- the adapter moving every preference vector,
  the hypervolume and IGD shown in the progress table -- runs once per *global* round
  (when every active shard has committed it), i.e. amortized over the shards' commits;
- a population-coupled shard's context front is sent as what changed since its last
  round (:class:`~.messages.ContextDelta`), and start points (nearest archive point per
  ray) only in a resumed session's first round or after a re-aim.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import torch

from paretoray import indicators
from paretoray._faults import fault_point
from paretoray.archive import ParetoSet, Store
from paretoray.archive.schema import objective_signs
from paretoray.archive.store import FrontArrays
from paretoray.distributed.idle import IdleRule
from paretoray.distributed.messages import (
    ContextDelta,
    Offer,
    Receipt,
    RoundPlan,
    RoundProgress,
    RunPlan,
    SessionStart,
    Summary,
)
from paretoray.distributed.state import CoordinatorState, StateLog
from paretoray.preferences import adapters as _adapters
from paretoray.preferences.geometry import largest_gaps, nearest_by_angle, to_simplex

log = logging.getLogger("paretoray.coordinator")

#: Commits between two rewrites of ``front.arrow`` (a cache: readers merge the segments
#: it does not cover yet). Rewriting it per commit made every commit O(front).
COMPACT_EVERY = 64

#: Seconds a worker waits for a restarted coordinator before giving up its call.
RESTART_WAIT_S = 120.0

#: How long the actor holds a group commit open for other shards' offers: at most this
#: many seconds, and at most this fraction of the first offer's engine seconds. A worker
#: asks for its receipt only after its next round's steps, so a wait shorter than those
#: steps delays nothing; each offer that joins a group saves a commit's syncs and calls.
GROUP_WAIT_MAX_S = 0.2
GROUP_WAIT_FRACTION = 0.25


class Coordinator(Protocol):
    """What a shard and the driver may ask of a coordinator (in-process or a Ray actor)."""

    def begin_session(self, rounds: int) -> SessionStart: ...

    def next_round(self, shard: int, round: int) -> RoundPlan: ...

    def next_round_async(self, shard: int, round: int) -> Callable[[], RoundPlan]:
        """Ask for ``round``'s plan now; the returned function waits for (and returns) it.

        Asked for just before the shard offers ``round - 1``, it need not wait for that
        offer's commit: the plan may not reflect it yet (it then shows in a later round).
        """
        ...

    def offer(self, offer: Offer) -> Receipt: ...

    def offer_async(self, offer: Offer) -> Callable[[], Receipt]:
        """Send an offer; the returned function waits for (and returns) its receipt."""
        ...

    def summary(self) -> Summary: ...

    def front(self) -> ParetoSet: ...

    def close(self) -> None: ...


def split_population(population: int, shards: int) -> list[range]:
    """Member index ranges of each shard (sizes differ by at most one)."""
    bounds = np.linspace(0, population, shards + 1).round().astype(int)
    return [range(int(a), int(b)) for a, b in itertools.pairwise(bounds)]


class CoordinatorCore:
    """Owns the archive and the reference vectors of one run.

    Args:
        plan: The resolved run. For a new run (``plan.create``) the run directory is
            created; otherwise (a resume, or a coordinator restarted by Ray) it is opened
            and the state reloaded from ``state/`` and the manifest.
    """

    def __init__(self, plan: RunPlan) -> None:
        self.plan = plan
        self.run_dir = plan.run_dir
        self.n_shards = max(1, plan.workers)
        self.ref_point = None if plan.ref_point is None else np.asarray(plan.ref_point, float)
        self.true_front = plan.true_front
        if plan.create and not os.path.exists(os.path.join(self.run_dir, "run.json")):
            # (a coordinator restarted by Ray re-runs __init__: it then opens, not creates)
            meta = {"config": plan.config, **plan.meta}
            self.store = Store.create(self.run_dir, n_obj=plan.n_obj, n_var=plan.n_var,
                                      meta=meta, compact_every=COMPACT_EVERY)
        else:
            self.store = Store.open(self.run_dir, compact_every=COMPACT_EVERY)
        # offers are minimized; the archive holds the run's directions (run.json)
        self._sign = objective_signs(self.store.meta.get("directions"), plan.n_obj)
        self.adapter = _build_adapter(plan)
        self.idle = IdleRule(plan.reaim_after, plan.stop_after)
        self.log = StateLog(self.run_dir)
        state = self.log.load()
        if state is None:
            state = CoordinatorState(
                prefs=np.asarray(plan.initial_prefs, dtype=float).copy(),
                shards=[[r.start, r.stop] for r in split_population(
                    len(plan.initial_prefs), self.n_shards)],
                rounds=[0] * self.n_shards)
        # The manifest, not the state, says which rounds were committed: a lost or stale
        # state never renumbers rounds (so no (shard, round) key can be reused).
        last = self.store.last_round()
        if len(state.shards) != self.n_shards:
            # a resume with another number of workers: re-split the same population
            population = state.shards[-1][1]
            state.shards = [[r.start, r.stop]
                            for r in split_population(population, self.n_shards)]
            state.rounds = [max(state.rounds, default=0)] * self.n_shards
        state.rounds = [max(r, last + 1) for r in state.rounds]
        self.state = state
        self._receipts: dict[tuple[int, int], Receipt] = {}
        self._restart: dict[int, np.ndarray] = {}
        self._started: set[int] = set()
        self._restart_params: dict[int, dict[str, np.ndarray] | None] = {}
        self._sent: dict[int, np.ndarray] = {}
        self._stopped: set[int] = set()
        self._first_round = max(state.rounds, default=0)
        self._last_round = self._first_round
        if state.open_session is not None and len(state.shards) == self.n_shards:
            # restarted by Ray mid-session: go on with the same session
            self._first_round, self._last_round = (int(r) for r in state.open_session)
            self._started = set(range(self.n_shards))
        self._global_round = min(state.rounds, default=self._first_round)
        self._offers = 0
        self._groups = 0
        self._evaluations = 0
        self._hv_history: list[float] = []
        self._session_start = time.time()
        self._session_decisions: dict[str, int] = {}

    # ------------------------------------------------------------------ the protocol
    def begin_session(self, rounds: int) -> SessionStart:
        """Start a (new or resumed) session of ``rounds`` rounds per shard.

        Rounds of a resumed run continue the numbering, so ``(shard, round)`` stays a
        unique key across the run's lineage.
        """
        first = max(self.state.rounds, default=0)
        self.state.rounds = [first] * self.n_shards
        self._first_round = self._global_round = first
        self._last_round = first + int(rounds)
        self._started = set()
        self._session_start = time.time()
        self._evaluations = 0
        self._hv_history = []
        self.state.sessions += 1
        self.state.open_session = [first, self._last_round]
        lineage = list(self.store.meta.get("lineage", []))
        lineage.append({"session": len(lineage) + 1, "first_round": first,
                        "rounds": int(rounds), "config": self.plan.config,
                        "started": time.time(),
                        "front_size_before": len(self.store.front_arrays())})
        self.store.update_meta(lineage=lineage)
        self.log.compact(self.state, session=None)
        return SessionStart(first, tuple((a, b) for a, b in self.state.shards))

    def next_round(self, shard: int, round: int) -> RoundPlan:
        """What ``shard`` does in absolute round ``round``."""
        a, b = self.state.shards[shard]
        prefs = self.state.prefs[a:b].copy()
        if shard in self._stopped or round >= self._last_round:
            return RoundPlan(shard, round, prefs, stop=True)
        start_x = self._restart.pop(shard, None)
        start_params = self._restart_params.pop(shard, None)
        front = None
        if (start_x is None and start_params is None and shard not in self._started
                and round == self._first_round):
            # a resumed session: members start at the archive points nearest their rays
            front = self.store.front()
            if len(front):
                near = nearest_by_angle(front.minimized, prefs)
                if front.x is not None:
                    start_x = np.array(front.x[near])
                else:
                    start_params = self._checkpoints(front, near)
        self._started.add(shard)
        context = self._context(shard) if self.plan.coupled else None
        return RoundPlan(shard, round, prefs, context=context, start_x=start_x,
                         start_params=start_params)

    def next_round_async(self, shard: int, round: int) -> Callable[[], RoundPlan]:
        """In-process: the plan is made when asked for, after the commits sent meanwhile
        (an in-process commit is synchronous), so the loop's order is unchanged."""
        return lambda: self.next_round(shard, round)

    def offer(self, offer: Offer) -> Receipt:
        """Commit a shard's points of one round, exactly once per ``(shard, round)``."""
        return self.offer_many([offer])[0]

    def offer_async(self, offer: Offer) -> Callable[[], Receipt]:
        """In-process: the commit happens now; the receipt is handed back later."""
        receipt = self.offer(offer)
        return lambda: receipt

    def offer_many(self, offers: list[Offer]) -> list[Receipt]:
        """Commit offers that arrived together in one group commit (one sync for all).

        Each is committed exactly once per ``(shard, round)``: a replay (a worker restarted
        from an older checkpoint, or an offer Ray re-sends to a restarted coordinator) is
        answered from the manifest without writing.
        """
        receipts: list[Receipt | None] = [None] * len(offers)
        todo = []
        for i, o in enumerate(offers):
            known = self._receipts.get((int(o.shard), int(o.round)))
            if known is not None:
                receipts[i] = _as_duplicate(known)
            else:
                todo.append(i)
        results = self.store.append_many([_request(offers[i], self._sign) for i in todo])
        self._groups += bool(todo)
        for i, result in zip(todo, results, strict=True):
            receipts[i] = self._after_commit(offers[i], result)
        return [r for r in receipts if r is not None]

    def _after_commit(self, offer: Offer, result: Any) -> Receipt:
        key = (int(offer.shard), int(offer.round))
        if getattr(result, "duplicate", False):
            # committed by an earlier life of this coordinator: the manifest knows it
            receipt = Receipt(result.accepted, result.rejected, result.front_size,
                              duplicate=True)
            self._receipts[key] = receipt
            return receipt
        shard, rnd = key
        self.state.rounds[shard] = max(self.state.rounds[shard], rnd + 1)
        self.log.append({"kind": "commit", "shard": shard, "round": rnd,
                         "accepted": int(result.accepted), "rejected": int(result.rejected),
                         "front_size": int(result.front_size), "segment": result.segment,
                         "time": time.time(), "steps": offer.stats.steps,
                         "nan_resets": offer.stats.nan_resets,
                         "nonfinite": offer.stats.nonfinite,
                         "engine_s": offer.stats.engine_s,
                         "engine_cpu_s": offer.stats.engine_cpu_s, "node": offer.stats.node})
        self._offers += 1
        a, b = self.state.shards[shard]
        self._evaluations += (b - a) * self.plan.steps_per_round
        fault_point("after_commit")
        decision = self.idle.decide(shard, int(result.accepted))
        if decision == "reaim" and not self._reaim(shard):
            decision = "continue"
        if decision != "continue":
            self._record_decision(decision, shard,
                                  f"{self.idle.idle_rounds(shard)} rounds without an "
                                  "accepted point")
        if decision == "stop" or rnd + 1 >= self._last_round:
            self._stopped.add(shard)
        progress = self._maybe_complete_round()
        fault_point("after_adapt")
        receipt = Receipt(int(result.accepted), int(result.rejected), int(result.front_size),
                          decision=decision, progress=progress)
        self._receipts[key] = receipt
        return receipt

    def summary(self) -> Summary:
        front = self.store.front_arrays()
        hv, igd = self._indicators(front.minimized)
        return Summary(front_size=len(front), hypervolume=hv, igd=igd,
                       rounds=tuple(self.state.rounds), offers=self._offers,
                       groups=self._groups,
                       decisions=dict(self._session_decisions))

    def front(self) -> ParetoSet:
        """The global front as the coordinator holds it (every committed offer)."""
        return self.store.front()

    def plan_is_final(self, offered: int, round: int) -> bool:
        """Whether a shard that just committed round ``offered`` would get the same plan for
        ``round`` (later) if it asked for it now, as it does after its next round's steps.

        Until then only three things can change a plan: the adapter and the stopping rule,
        both once every shard has committed ``offered`` (the global round), and the context
        front of a population-coupled weighting, with every other shard's commit."""
        if self.plan.coupled or round != offered + 2:
            return False
        if self._global_round > offered:  # the global round is complete: adapted, checked
            return True
        return not self.adapter.reads_front and self.plan.termination is None

    def live_shards(self) -> frozenset[int]:
        """The shards that will still offer a round this session."""
        return frozenset(range(self.n_shards)) - self._stopped

    def close(self) -> None:
        """Compact the state and the front, and release the lock (idempotent)."""
        if self.store.closed:
            return
        try:
            self.state.open_session = None
            self.log.compact(self.state, session=self.state.sessions or None)
        finally:
            self.store.close()

    # ------------------------------------------------------------------ helpers
    def _maybe_complete_round(self) -> RoundProgress | None:
        """Once every active shard has committed a round: adapt, measure, report."""
        live = [r for s, r in enumerate(self.state.rounds) if s not in self._stopped]
        done = min(live) if live else max(self.state.rounds, default=0)
        if done <= self._global_round:
            return None
        self._global_round = done
        # the front's arrays only: taking the front table each round is O(front)
        front = self.store.front_arrays()
        self._adapt(front, done - 1)
        hv, igd = self._indicators(front.minimized)
        self._check_termination(done, hv)
        return RoundProgress(round=done, front_size=len(front), hypervolume=hv, igd=igd)

    def _check_termination(self, done: int, hv: float | None) -> None:
        """Apply the run's stopping rules once every active shard has finished a round:
        a rule that says stop ends the session after this round, on every shard."""
        rule = self.plan.termination
        if hv is not None:
            self._hv_history.append(hv)
        if rule is None:
            return
        from paretoray.termination import Status

        status = Status(round=done - self._first_round, evaluations=self._evaluations,
                        seconds=time.time() - self._session_start,
                        hypervolumes=tuple(self._hv_history))
        if rule.should_stop(status) and done < self._last_round:
            self._last_round = done
            for s in range(self.n_shards):
                self._record_decision("terminate", s, f"stopping rule {rule!r} after "
                                      f"round {done - 1}")

    def _indicators(self, minimized: np.ndarray) -> tuple[float | None, float | None]:
        if len(minimized) == 0:
            return None, None
        hv = None
        if self.ref_point is not None:
            hv = float(indicators.hypervolume(minimized, self.ref_point))
        igd = None
        if self.true_front is not None:
            igd = float(indicators.igd(minimized, self.true_front))
        return hv, igd

    def _context(self, shard: int) -> ContextDelta:
        """The change in the other shards' nondominated points since ``shard``'s last round."""
        front = self.store.front_arrays()
        ids, shards = front.point_id, front.shard
        others = shards != shard
        current = ids[others]
        sent = self._sent.get(shard)
        reset = sent is None
        if reset:
            sent = np.zeros(0, np.int64)
        new = ~np.isin(current, sent, assume_unique=True)
        drop = sent[~np.isin(sent, current, assume_unique=True)]
        self._sent[shard] = current
        sel = np.flatnonzero(others)[new]
        return ContextDelta(add_ids=current[new], add_objectives=np.array(front.minimized[sel]),
                            add_shards=np.array(shards[sel]), drop_ids=drop, reset=reset)

    def _reaim(self, shard: int) -> bool:
        """Point ``shard``'s preferences at the largest gaps of the front and restart its
        members from the archive points bounding them. Returns whether it did."""
        minimized = self.store.front_arrays().minimized
        a, b = self.state.shards[shard]
        p = b - a
        if len(minimized) < 2 or p == 0:
            return False
        mid, i, j = largest_gaps(minimized, p)
        # preferences are rays from the origin (shifted only if objectives go negative)
        new = to_simplex(mid - np.minimum(minimized.min(0), 0) + 1e-12)
        self._set_prefs(a, new)
        ends = self.store.front_rows(np.concatenate([i, j]))  # only these rows' x / params
        if ends.x is not None:
            self._restart[shard] = (ends.x[:p] + ends.x[p:]) / 2
        else:  # networks: the nearer end's weights (a midpoint of two networks is no network)
            self._restart_params[shard] = self._checkpoints(ends, np.arange(p))
        return True

    def _checkpoints(self, front: ParetoSet, index: np.ndarray) -> dict[str, np.ndarray] | None:
        """The stacked checkpointed parameters of front points ``index`` (networks)."""
        from paretoray.archive.checkpoints import read_checkpoint

        refs = front.to_arrow().column("params_ref").to_pylist()
        chosen = [refs[int(i)] for i in index]
        if any(r is None for r in chosen):
            return None
        loaded = {r: read_checkpoint(self.run_dir, r) for r in set(chosen)}
        names = loaded[chosen[0]].keys()
        return {n: np.stack([loaded[r][n] for r in chosen]) for n in names}

    def _record_decision(self, action: str, shard: int, reason: str) -> None:
        self.state.decisions[action] = self.state.decisions.get(action, 0) + 1
        self._session_decisions[action] = self._session_decisions.get(action, 0) + 1
        self.log.append({"kind": "decision", "action": action, "shard": shard,
                         "reason": reason, "time": time.time()})
        log.info("idle rule: %s shard %d (%s)", action, shard, reason)

    def _set_prefs(self, start: int, values: np.ndarray) -> None:
        self.state.prefs[start:start + len(values)] = values
        self.log.append({"kind": "prefs", "start": int(start), "values": values})

    def _adapt(self, front: FrontArrays, round: int) -> None:
        # an adapter that ignores the front (``fixed``) would only be handed O(front) rows
        if len(front) < 2 or not self.adapter.reads_front:
            return
        # views, not copies: ``propose`` never writes into its inputs
        proposed = self.adapter.propose(
            torch.from_numpy(self.state.prefs), torch.from_numpy(front.minimized),
            torch.from_numpy(front.preference), round=round)
        new = np.asarray(proposed, dtype=float)
        if new.shape == self.state.prefs.shape and np.all(np.isfinite(new)):
            changed = np.flatnonzero(np.any(new != self.state.prefs, axis=1))
            if len(changed):
                lo, hi = int(changed[0]), int(changed[-1]) + 1
                self._set_prefs(lo, new[lo:hi])


def _request(offer: Offer, sign: np.ndarray) -> dict[str, Any]:
    """The store's append arguments for an offer (objectives back in the run's directions)."""
    request: dict[str, Any] = {
        "objectives": np.asarray(offer.objectives, dtype=float) * sign,
        "preference": np.asarray(offer.preference, dtype=float),
        "x": None if offer.x is None else np.asarray(offer.x, dtype=float),
        "round": int(offer.round), "shard": int(offer.shard),
        "member": np.asarray(offer.member), "algorithm": offer.algorithm, "step": offer.step}
    if offer.params is not None or offer.metrics is not None:
        request.update(params=offer.params, metrics=offer.metrics)
    if offer.violation is not None:
        request["violation"] = np.asarray(offer.violation, dtype=float)
    return request


def _as_duplicate(receipt: Receipt) -> Receipt:
    return Receipt(receipt.accepted, receipt.rejected, receipt.front_size, duplicate=True)


def _build_adapter(plan: RunPlan) -> _adapters.Adapter:
    """The run's adapter, seeded with the run's seed unless its options say otherwise."""
    import inspect

    options = dict(plan.adapter_options)
    factory = _adapters.REGISTRY.factory(plan.adapter)
    if "seed" not in options and "seed" in inspect.signature(factory).parameters:
        options["seed"] = int(plan.seed)
    return _adapters.get(plan.adapter, **options)


# ---------------------------------------------------------------------- on Ray
def coordinator_actor(name: str, namespace: str | None = None, *, max_restarts: int = 3,
                      node_id: str | None = None):
    """The Ray actor class running :class:`CoordinatorCore` (imports Ray lazily).

    It asks for no CPU so that every core goes to the workers, and is pinned to the node
    that holds the run directory (``node_id``, the driver's by default) with a hard node
    affinity: a coordinator restarted elsewhere could not write the run directory. Ray
    restarts it up to ``max_restarts`` times; it reloads its state from the run directory.
    ``max_task_retries=-1`` replays an offer in flight after a restart, which the
    manifest's (shard, round) keys make harmless.
    """
    import ray

    options: dict[str, Any] = {"name": name, "namespace": namespace, "lifetime": None}
    if node_id is not None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id, soft=False)
    return ray.remote(num_cpus=0, max_restarts=max_restarts, max_task_retries=-1)(
        _ActorCore
    ).options(**options)


class _ActorCore:
    """:class:`CoordinatorCore` as an asyncio actor: group commits, and a constructor that
    never fails.

    Offers are queued and committed in groups (:meth:`CoordinatorCore.offer_many`): a
    group is committed once every live shard has an offer in it, or when its first offer
    has waited its share of a round (:data:`GROUP_WAIT_MAX_S`, :data:`GROUP_WAIT_FRACTION`
    of that offer's engine seconds), whichever comes first. Offers that arrive while a group
    is being written wait in Ray's queue and form the next one. So the syncs, merges and
    records per round stay near one group's, not one per shard, as the shards grow in
    number, and no worker waits for it: it asks for a receipt only after its next steps.

    A refusal while opening the run (another writer holds the lock, a damaged run
    directory) is kept and raised by every call instead: raised from the constructor it
    would make Ray restart the actor ``max_restarts`` times and print it each time.
    """

    def __init__(self, plan: RunPlan) -> None:
        import gc
        import warnings

        import pyarrow as pa

        from paretoray.errors import ParetorayError

        # Arrow's buffers from the C library's malloc: pyarrow's default pool (mimalloc)
        # hands large blocks back to the kernel, which in a process of Ray's ~20 threads
        # costs system time (TLB shootdowns); measured in this actor, taking the final front
        # (3 x 10^4 rows) took 64-74 ms of system CPU with mimalloc, 9 ms with malloc
        pa.set_memory_pool(pa.system_memory_pool())
        self._core: CoordinatorCore | None = None
        self._error: ParetorayError | None = None
        self._queue: list[tuple[Offer, Any, int | None]] = []  # offer, future, plan round
        self._timer: Any = None  # the pending commit of the open group (asyncio handle)
        # warnings raised while opening the run (a stale lock taken over, segments put in
        # quarantine) are kept for the driver, which shows them on the user's terminal
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                self._core = CoordinatorCore(plan)
            except ParetorayError as exc:
                self._error = exc
        self._warnings = [(str(w.message), w.category) for w in caught]
        if self._core is not None and self._core.true_front is not None:
            # IGD's k-d tree: scipy's import (0.8 s of CPU) now, not in the first commit
            import scipy.spatial  # noqa: F401
        # what exists now (Ray, torch, pyarrow, the run's state) lives as long as the actor:
        # frozen out of the collector's generations, a full collection stops walking it
        gc.freeze()

    def take_warnings(self) -> list[tuple[str, type[Warning]]]:
        """The warnings raised in this actor since the last call (for the driver)."""
        out, self._warnings = self._warnings, []
        return out

    def _get(self) -> CoordinatorCore:
        if self._error is not None:
            raise self._error
        assert self._core is not None
        return self._core

    def begin_session(self, rounds: int) -> SessionStart:
        return self._get().begin_session(rounds)

    def next_round(self, shard: int, round: int) -> RoundPlan:
        return self._get().next_round(shard, round)

    async def offer(self, offer: Offer, plan_round: int | None = None) -> Receipt:
        """Queue the offer into the open group; commit the group now if every live shard
        has an offer in it, else once the group's wait is over (one sync for all).

        The receipt carries the shard's plan for ``plan_round`` when that plan is final
        (:meth:`CoordinatorCore.plan_is_final`): the shard then needs no call to ask."""
        import asyncio

        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._queue.append((offer, done, plan_round))
        if self._core is not None and {int(o.shard) for o, _, _ in self._queue} >= \
                self._core.live_shards():
            self._drain()
        elif self._timer is None:
            wait = min(GROUP_WAIT_MAX_S, GROUP_WAIT_FRACTION * max(offer.stats.engine_s, 0.0))
            self._timer = loop.call_later(wait, self._drain)
        return await done

    def _drain(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._queue = self._queue, []
        if not batch:
            return
        try:
            core = self._get()
            receipts = core.offer_many([o for o, _, _ in batch])
            # after the whole group: a round it completed is adapted and checked already
            receipts = [
                dataclasses.replace(r, plan=core.next_round(int(o.shard), want))
                if want is not None and core.plan_is_final(int(o.round), want) else r
                for (o, _, want), r in zip(batch, receipts, strict=True)]
        except Exception as exc:
            for _, done, _ in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        for (_, done, _), receipt in zip(batch, receipts, strict=True):
            if not done.done():
                done.set_result(receipt)

    def summary(self) -> Summary:
        return self._get().summary()

    def front(self) -> ParetoSet:
        return self._get().front()

    def close(self) -> None:
        if self._core is not None:
            self._core.close()


class ActorCoordinator:
    """The :class:`Coordinator` protocol over a Ray actor handle (blocking calls)."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor
        #: Plans that came with receipts, by (shard, round), until asked for.
        self._plans: dict[tuple[int, int], RoundPlan] = {}

    def _call(self, method: str, *args: Any) -> Any:
        """Call the actor; while Ray restarts it, wait and send the call again.

        Ray re-sends calls that were in flight when the actor died only for some deaths
        (a killed actor fails them); a verb sent twice is harmless -- an offer is
        committed once per (shard, round) -- so the worker re-sends it itself.
        """
        import ray

        deadline = time.monotonic() + RESTART_WAIT_S
        while True:
            try:
                return ray.get(getattr(self.actor, method).remote(*args))
            except (ray.exceptions.ActorDiedError, ray.exceptions.ActorUnavailableError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def begin_session(self, rounds: int) -> SessionStart:
        return self._call("begin_session", rounds)

    def next_round(self, shard: int, round: int) -> RoundPlan:
        return self._call("next_round", shard, round)

    def next_round_async(self, shard: int, round: int) -> Callable[[], RoundPlan]:
        """The plan that came with an earlier receipt (see :meth:`offer_async`), or send
        the request now: sent before the shard's offer, it is answered without waiting for
        that offer's commit (a restarted coordinator is asked again)."""
        import ray

        known = self._plans.pop((shard, round), None)
        if known is not None:
            return lambda: known
        ref = self.actor.next_round.remote(shard, round)

        def plan() -> RoundPlan:
            try:
                return ray.get(ref)
            except (ray.exceptions.ActorDiedError, ray.exceptions.ActorUnavailableError):
                return self._call("next_round", shard, round)

        return plan

    def offer(self, offer: Offer) -> Receipt:
        return self._call("offer", offer)

    def offer_async(self, offer: Offer) -> Callable[[], Receipt]:
        """Send the offer now; commit and engine steps overlap until the receipt is asked
        for (a restarted coordinator gets the offer again: it commits once).

        The offer also asks for the shard's plan two rounds on: the shard asks for its
        next plan after its next steps, when this receipt is in, so a plan that came with
        it (final by then) saves that call."""
        import ray

        want = int(offer.round) + 2
        ref = self.actor.offer.remote(offer, want)

        def receipt() -> Receipt:
            try:
                out = ray.get(ref)
            except (ray.exceptions.ActorDiedError, ray.exceptions.ActorUnavailableError):
                out = self._call("offer", offer)
            if out.plan is not None:
                self._plans[(int(offer.shard), want)] = out.plan
            return out

        return receipt

    def summary(self) -> Summary:
        return self._call("summary")

    def front(self) -> ParetoSet:
        return self._call("front")

    def close(self) -> None:
        self._call("close")
