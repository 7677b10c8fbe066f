"""A Ray Tune scheduler that carries out the idle rule's decisions.

Status: beta.

The decision itself is made by the coordinator for every committed round
(:class:`~paretoray.distributed.idle.IdleRule`, the same rule the in-process loop follows)
and reaches Tune in each trial's result as ``decision``. This scheduler only reads it:
it never calls the coordinator, so Tune's event loop never waits on a remote call.

- ``reaim``: the coordinator has already moved the shard's preferences to the largest
  gaps of the front; the trial continues and picks them up in its next round;
- ``stop``: the trial is stopped;
- a result carrying ``error`` (a deterministic exception in the shard's own code) stops
  the trial; the driver raises it.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

log = logging.getLogger("paretoray.scheduler")


class ParetoScheduler(FIFOScheduler):
    """Stops trials whose shard the idle rule stopped, and counts every decision.

    Attributes:
        decisions: How many times each decision (``reaim``, ``stop``) was carried out.
        errors: ``(shard, message)`` of every trial that reported an error.
    """

    def __init__(self) -> None:
        super().__init__()
        self.decisions: Counter[str] = Counter()
        self.errors: list[tuple[int, str]] = []

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        if result.get("error"):
            self.errors.append((int(result.get("shard", -1)), str(result["error"])))
            return TrialScheduler.STOP
        decision = result.get("decision", "continue")
        if decision == "continue" or result.get("duplicate_offer"):
            return TrialScheduler.CONTINUE
        self.decisions[decision] += 1
        log.info("%s shard %s", decision, result.get("shard"))
        return TrialScheduler.STOP if decision == "stop" else TrialScheduler.CONTINUE
