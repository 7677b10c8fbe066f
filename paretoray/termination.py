"""Stopping rules in pymoo's shape: each reports its progress in [0, 1]; 1 means stop.

A search always has a step budget (``steps``); these add to it. They are checked by the
coordinator each time every active shard has committed a round, so the in-process loop
and the Ray Tune workers stop at the same point: the shards finish the round they are in
and get ``stop`` in their next :class:`~paretoray.distributed.messages.RoundPlan`.

Example:
    >>> rule = AnyOf(MaxTime(60.0), HypervolumeStall(rounds=3, tol=1e-4))
    >>> rule.progress(Status(round=2, evaluations=0, seconds=30.0,
    ...                      hypervolumes=(0.5, 0.6, 0.6)))
    0.5
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

__all__ = ["AllOf", "AnyOf", "HypervolumeStall", "MaxEvaluations", "MaxTime", "Status",
           "Termination"]


@dataclass(frozen=True)
class Status:
    """The run as a stopping rule sees it, after a completed round.

    Attributes:
        round: Rounds completed in this session.
        evaluations: Member-steps taken in this session (one per member per engine step).
        seconds: Wall seconds since the session began.
        hypervolumes: The front's hypervolume after each completed round of this session.
    """

    round: int
    evaluations: int
    seconds: float
    hypervolumes: tuple[float, ...] = ()


class Termination(ABC):
    """A stopping rule: :meth:`progress` is its fraction done; ``>= 1`` stops the search."""

    @abstractmethod
    def progress(self, status: Status) -> float:
        """A number in [0, 1] (1: stop now)."""

    def should_stop(self, status: Status) -> bool:
        return self.progress(status) >= 1.0


@dataclass(frozen=True)
class MaxTime(Termination):
    """Stop after ``seconds`` of wall time in the session."""

    seconds: float

    def progress(self, status: Status) -> float:
        return min(1.0, status.seconds / self.seconds)


@dataclass(frozen=True)
class MaxEvaluations(Termination):
    """Stop after ``evaluations`` member-steps in the session."""

    evaluations: int

    def progress(self, status: Status) -> float:
        return min(1.0, status.evaluations / self.evaluations)


@dataclass(frozen=True)
class HypervolumeStall(Termination):
    """Stop when the hypervolume rose by at most ``tol`` (relative) over ``rounds`` rounds.

    Progress is the length of the current stall over ``rounds`` (0 while it climbs).
    """

    rounds: int
    tol: float = 1e-6

    def progress(self, status: Status) -> float:
        hv = status.hypervolumes
        stalled = 0
        for i in range(len(hv) - 1, 0, -1):
            if hv[i] - hv[i - 1] > self.tol * max(abs(hv[i - 1]), 1e-300):
                break
            stalled += 1
        return min(1.0, stalled / self.rounds)


@dataclass(frozen=True)
class AnyOf(Termination):
    """Stop when any rule says stop (progress: the largest)."""

    rules: tuple[Termination, ...]

    def __init__(self, *rules: Termination) -> None:
        object.__setattr__(self, "rules", tuple(rules))

    def progress(self, status: Status) -> float:
        return max((r.progress(status) for r in self.rules), default=0.0)


@dataclass(frozen=True)
class AllOf(Termination):
    """Stop when every rule says stop (progress: the smallest)."""

    rules: tuple[Termination, ...]

    def __init__(self, *rules: Termination) -> None:
        object.__setattr__(self, "rules", tuple(rules))

    def progress(self, status: Status) -> float:
        return min((r.progress(status) for r in self.rules), default=0.0)
