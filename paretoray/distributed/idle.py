"""The idle rule: when a shard that stopped contributing is re-aimed or stopped.

Status: beta.

One rule for both run paths. The coordinator applies it to every committed round, so the
in-process loop and the Ray Tune workers see the same decision in their
:class:`~paretoray.distributed.messages.Receipt`; the Tune scheduler only reads that
decision from a trial's result (it never calls the coordinator).

- a shard whose last ``reaim_after`` rounds added no point to the front is *re-aimed*
  (once per idle streak): its preferences move to the largest gaps of the front and its
  members restart from the archive points bounding them;
- a shard still adding nothing after ``stop_after`` rounds in a row is *stopped*.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from paretoray.distributed.messages import Decision


@dataclass
class IdleRule:
    """Counts rounds without an accepted point, per shard, and decides.

    Args:
        reaim_after: Idle rounds in a row before a re-aim (None: never).
        stop_after: Idle rounds in a row before a stop (None: never).

    Example:
        >>> rule = IdleRule(reaim_after=2, stop_after=3)
        >>> [rule.decide(0, accepted=0) for _ in range(3)]
        ['continue', 'reaim', 'stop']
    """

    reaim_after: int | None = 2
    stop_after: int | None = None
    _idle: dict[int, int] = field(default_factory=dict, repr=False)
    _reaimed: set[int] = field(default_factory=set, repr=False)

    def decide(self, shard: int, accepted: int) -> Decision:
        """The decision after one committed round of ``shard``."""
        if accepted > 0:
            self._idle[shard] = 0
            self._reaimed.discard(shard)
            return "continue"
        idle = self._idle.get(shard, 0) + 1
        self._idle[shard] = idle
        if self.stop_after is not None and idle >= self.stop_after:
            return "stop"
        if self.reaim_after is not None and idle >= self.reaim_after and shard not in self._reaimed:
            self._reaimed.add(shard)
            return "reaim"
        return "continue"

    def idle_rounds(self, shard: int) -> int:
        """Rounds in a row without an accepted point."""
        return self._idle.get(shard, 0)
