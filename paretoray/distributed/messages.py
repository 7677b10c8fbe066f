"""The typed messages between the parts of a search (DESIGN.md, "The flow, once").

Status: beta.

A search session is planned once by the driver (:class:`SessionPlan`), then every shard
loops over rounds with three messages::

    coordinator.next_round(shard, round) -> RoundPlan     preferences, context delta, restarts
    K batched engine steps
    coordinator.offer(Offer)             -> Receipt       committed once per (shard, round)

All messages are frozen dataclasses of numpy arrays and plain values: Ray pickles them
between processes, the in-process path passes them as they are. Nothing here imports Ray
or torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

#: What the shared idle rule decides after a committed round (see :mod:`.idle`).
Decision = Literal["continue", "reaim", "stop"]


@dataclass(frozen=True)
class Factory:
    """How to build a problem or a weighting in any process.

    A registry name with its options travels as text (and is what ``run.json`` records);
    an object passed by the user travels pickled by Ray and is used as it is.

    Attributes:
        kind: ``"problem"`` or ``"algorithm"``.
        name: The registry name, or ``custom:<Name>`` for a user object.
        options: Constructor keyword arguments (registry names only).
        obj: The user's object, or None for registry names.
        sign: Problems with objectives to maximize: ``-1`` for those, ``+1`` for the others;
            the problem built is wrapped in
            :class:`~paretoray.problems.directions.Minimized`. None: all minimized.
    """

    kind: Literal["problem", "algorithm"]
    name: str
    options: dict[str, Any] = field(default_factory=dict)
    obj: Any = None
    sign: tuple[float, ...] | None = None

    @property
    def is_custom(self) -> bool:
        return self.obj is not None

    def build(self) -> Any:
        """The problem or weighting (a fresh one for registry names)."""
        if self.kind == "problem":
            from paretoray import problems

            built = self.obj if self.obj is not None else problems.get(self.name,
                                                                      **self.options)
            if self.sign is None:
                return built
            from paretoray.problems.directions import Minimized

            return Minimized(built, self.sign)
        if self.obj is not None:
            return self.obj
        from paretoray import algorithms

        return algorithms.get(self.name, **self.options)


@dataclass(frozen=True)
class RunPlan:
    """A run, resolved once at the boundary: what the coordinator is built from.

    Attributes:
        run_dir: The run directory.
        config: The run's :class:`~paretoray.config.SearchConfig` as a JSON-safe dict.
        problem, algorithm: How to build them.
        n_obj, n_var: Problem dimensions (``n_var`` None when points carry no ``x``).
        ref_point: The hypervolume reference point (`m` floats), or None.
        initial_prefs: A `P x m`-dim array of the first reference vectors (new runs).
        workers: Shards the population is split into (>= 1).
        rounds: Rounds per shard in this session.
        create: A new run (False: resume the run in ``run_dir``).
        meta: Extra ``run.json`` fields of a new run.
        coupled: The weighting reads a context front (population-coupled).
        true_front: A `k x m`-dim array of the true front (for IGD), or None.
        reaim_after, stop_after: The idle rule's thresholds.
        adapter, adapter_options: How preference vectors move between rounds.
        seed: The run's seed.
        network: The problem trains networks (workers take a GPU share where GPUs exist).
        termination: Stopping rules checked after every completed round
            (:mod:`paretoray.termination`), or None.
        steps_per_round: Engine steps per round (counts evaluations for the rules).
    """

    run_dir: str
    config: dict[str, Any]
    problem: Factory
    algorithm: Factory
    n_obj: int
    n_var: int | None
    ref_point: tuple[float, ...] | None
    initial_prefs: np.ndarray
    workers: int
    rounds: int
    create: bool
    meta: dict[str, Any] = field(default_factory=dict)
    coupled: bool = False
    true_front: np.ndarray | None = None
    reaim_after: int | None = 2
    stop_after: int | None = None
    adapter: str = "fixed"
    adapter_options: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    network: bool = False
    termination: Any = None
    steps_per_round: int = 1


@dataclass(frozen=True)
class SessionStart:
    """The coordinator's answer to ``begin_session``.

    Attributes:
        first_round: The session's first absolute round (rounds continue across sessions).
        shards: ``(start, stop)`` member indices of every shard.
    """

    first_round: int
    shards: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class SessionPlan:
    """Everything every shard of one session needs, resolved once by the driver.

    Attributes:
        run_dir: The run directory (only the coordinator writes it).
        problem, algorithm: How to build them.
        n_obj: Objectives ``m``.
        ref_point: The run's hypervolume reference point (`m` floats), or None.
        shards: ``(start, stop)`` member indices of every shard.
        first_round: The first absolute round of this session.
        rounds: Rounds per shard in this session.
        steps_per_round: Engine steps ``K`` per round.
        lr, optimizer, optimizer_options, seed, device: The engine's settings.
        checkpoint_every: Worker checkpoint period, in rounds.
    """

    run_dir: str
    problem: Factory
    algorithm: Factory
    n_obj: int
    ref_point: tuple[float, ...] | None
    shards: tuple[tuple[int, int], ...]
    first_round: int
    rounds: int
    steps_per_round: int
    lr: float
    optimizer: str
    optimizer_options: dict[str, Any]
    seed: int
    device: str
    checkpoint_every: int

    @property
    def last_round(self) -> int:
        """One past the last absolute round of this session."""
        return self.first_round + self.rounds

    def members(self, shard: int) -> range:
        start, stop = self.shards[shard]
        return range(start, stop)


@dataclass(frozen=True)
class ContextDelta:
    """What changed in the global front since a shard's last round.

    A shard keeps its own copy of the other shards' nondominated points and applies the
    delta to it, so a round moves only the points that changed, never the whole front.

    Attributes:
        add_ids: A `k`-dim int64 array of point ids that entered the front.
        add_objectives: A `k x m`-dim array of their objectives.
        add_shards: A `k`-dim int array: the shard that offered each point.
        drop_ids: A `j`-dim int64 array of point ids that left the front.
        reset: True when the shard must drop its whole copy first (its first round, or
            after a coordinator restart).
    """

    add_ids: np.ndarray
    add_objectives: np.ndarray
    add_shards: np.ndarray
    drop_ids: np.ndarray
    reset: bool = False

    @property
    def size(self) -> int:
        return int(len(self.add_ids) + len(self.drop_ids))


@dataclass(frozen=True)
class RoundPlan:
    """What a shard does in one round.

    Attributes:
        shard, round: Which shard and absolute round.
        prefs: A `p x m`-dim array of the shard's preference vectors.
        context: The change in the other shards' front (population-coupled weightings
            only), or None.
        start_x: A `p x d`-dim array of starting points (archive points nearest each
            member's ray), set in a resumed session's first round and after a re-aim,
            else None.
        start_params: Networks: the same, as checkpointed parameters (names to
            `p x ...`-dim arrays), else None.
        stop: The shard is done (stopped by the idle rule, or the session is over).
    """

    shard: int
    round: int
    prefs: np.ndarray
    context: ContextDelta | None = None
    start_x: np.ndarray | None = None
    start_params: dict[str, np.ndarray] | None = None
    stop: bool = False


@dataclass(frozen=True)
class RoundStats:
    """What the engine did in one round, as the worker measured it.

    Attributes:
        steps: Engine steps taken so far by this shard.
        nan_resets: Members reset this round because a value or direction was not finite.
        nonfinite: Members whose final objectives were not finite (not offered).
        engine_s: Seconds spent in engine steps this round.
        node: The Ray node id the worker ran on (empty in-process).
        engine_cpu_s: CPU seconds of the thread that ran those steps (a device's own time
            not included): what the steps cost, however busy the machine was.
    """

    steps: int
    nan_resets: int
    nonfinite: int
    engine_s: float
    node: str = ""
    engine_cpu_s: float = 0.0


@dataclass(frozen=True)
class Offer:
    """A shard's finite points of one round.

    Attributes:
        shard, round: Which shard and absolute round (the idempotency key).
        objectives: A `k x m`-dim array.
        preference: A `k x m`-dim array, each point's preference vector.
        x: A `k x d`-dim array of decision vectors, or None.
        member: A `k`-dim int array of population member indices.
        algorithm: The weighting's name.
        stats: The round's engine statistics.
        params: Networks: each point's parameters (names to `k x ...`-dim arrays); the
            coordinator checkpoints those of the points that enter the front.
        metrics: Networks: held-out metrics (names to `k`-dim arrays).
        violation: Constrained problems: a `k`-dim array of constraint violations (pymoo's
            ``CV``, 0 where feasible); infeasible points are archived but never enter the
            front. None for unconstrained problems.
    """

    shard: int
    round: int
    objectives: np.ndarray
    preference: np.ndarray
    x: np.ndarray | None
    member: np.ndarray
    algorithm: str
    stats: RoundStats
    params: dict[str, np.ndarray] | None = None
    metrics: dict[str, np.ndarray] | None = None
    violation: np.ndarray | None = None

    @property
    def step(self) -> int:
        return self.stats.steps


@dataclass(frozen=True)
class RoundProgress:
    """The run's state when a round completed on every active shard.

    Attributes:
        round: The absolute round every active shard has committed (1-based count).
        front_size: Nondominated points in the archive.
        hypervolume: Of the front at the run's reference point (None without one).
        igd: Against the true front where the problem knows it, else None.
    """

    round: int
    front_size: int
    hypervolume: float | None
    igd: float | None


@dataclass(frozen=True)
class Receipt:
    """The coordinator's answer to an :class:`Offer`.

    Attributes:
        accepted: Offered points that entered the front.
        rejected: Offered points dropped (non-finite objectives).
        front_size: Size of the global front after the commit.
        duplicate: The (shard, round) was already committed; nothing was written.
        decision: The idle rule's decision for this shard.
        progress: Set when this commit completed a round on every active shard.
        plan: The shard's plan for the round it asked for with the offer (two rounds on),
            when nothing can change it any more; else None (the shard asks for it).
    """

    accepted: int
    rejected: int
    front_size: int
    duplicate: bool = False
    decision: Decision = "continue"
    progress: RoundProgress | None = None
    plan: RoundPlan | None = None


@dataclass(frozen=True)
class Summary:
    """The coordinator's view of the run at the end of a session.

    Attributes:
        front_size, hypervolume, igd: Of the global front.
        rounds: Rounds committed per shard (the next round each would run).
        offers: Offers committed in this session.
        decisions: Count of each idle-rule decision in this session.
        groups: Group commits in this session (``offers / groups`` offers shared a sync).
    """

    front_size: int
    hypervolume: float | None
    igd: float | None
    rounds: tuple[int, ...]
    offers: int
    decisions: dict[str, int]
    groups: int = 0
