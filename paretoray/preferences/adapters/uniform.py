"""``uniform``: preferences whose predicted objectives are evenly spread (UMOD's upper level)."""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import Tensor

from paretoray._registry import did_you_mean
from paretoray._validation import checked_options
from paretoray.errors import ConfigError
from paretoray.preferences.adapters.adaptive import Adaptive
from paretoray.preferences.adapters.base import (
    Adapter,
    Count,
    Seed,
    label,
    register,
    too_few_pairs,
)
from paretoray.preferences.uniform import uniform_design

__all__ = ["Uniform"]


@register("uniform")
class Uniform(Adapter):
    """Uniform design: preferences whose predicted objectives are evenly spread.

    Calls :func:`paretoray.preferences.uniform.uniform_design` on the archive's
    (preference, objective) pairs, starting from the current vectors (UMOD's upper
    level: a kernel surrogate of ``pref -> F`` and max-packing of the predictions). With
    no ``front_prefs`` or fewer than ``min_points`` (default ``2 m``) pairs there is
    nothing to learn from, and the :class:`Adaptive` rule is used instead.

    Args:
        min_points: Fewest archive pairs to fit the front model on (default ``2 m``).
        seed: Seed of the design (``seed + round`` is passed on).
        fallback: Options of the :class:`Adaptive` fallback.
        **design_options: Further keywords of ``uniform_design`` (``steps``,
            ``energy``, ``lr``, ``temperature``, ``s``, ``normalize``).
    """

    @checked_options(label)
    def __init__(self, min_points: Count | None = None, seed: Seed = 0,
                 fallback: dict[str, Any] | None = None, **design_options: Any) -> None:
        allowed = [name for name, par in inspect.signature(uniform_design).parameters.items()
                   if par.kind is par.KEYWORD_ONLY and name not in ("init", "seed")]
        for key in design_options:
            if key not in allowed:
                raise ConfigError(
                    f"adapter 'uniform' has no option {key!r}.{did_you_mean(key, allowed)} "
                    f"Allowed options: min_points, seed, fallback, {', '.join(allowed)}."
                )
        self.min_points = min_points
        self.seed = seed
        self.design_options = dict(design_options)
        self._fallback = Adaptive(**{"seed": self.seed, **(fallback or {})})

    def _propose(self, current: Tensor, front: Tensor, front_prefs: Tensor | None,
                 round: int) -> Tensor:
        p, m = current.shape
        if too_few_pairs(front, front_prefs, self.min_points):
            return self._fallback._propose(current, front, front_prefs, round)
        out = uniform_design(front_prefs, front, p, init=current, seed=self.seed + round,
                             **self.design_options)
        out = torch.as_tensor(out).detach().to("cpu", torch.float64)
        if out.shape != (p, m) or not bool(torch.isfinite(out).all()):
            return self._fallback._propose(current, front, front_prefs, round)
        return out
