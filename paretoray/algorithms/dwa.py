"""DWA: dynamic weight average -- weight each objective by how slowly it has been falling.

[Liu2019]_: with the loss ratios ``r_i(t-1) = L_i(t-1) / L_i(t-2)`` of the two
previous steps,

    alpha_i(t) = K exp(r_i(t-1) / T) / sum_j exp(r_j(t-1) / T),

``K = m`` (weights sum to the number of objectives) and temperature ``T`` (paper: 2). The
first two steps use ``alpha = 1``. The paper averages the losses over an epoch; here a
"step" is one call of :meth:`DWA.weights` (the engine calls it once per step), so the
ratios are of the values the weighting saw on its two previous calls. The history is
per member (`p x m`); it lives in the weighting (:meth:`DWA.state_dict`) and restarts
when the population size changes.

.. [Liu2019] S. Liu, E. Johns, A. J. Davison. End-to-End Multi-Task Learning with
   Attention. CVPR 2019.
"""

from __future__ import annotations

import torch
from torch import Tensor

from paretoray.algorithms.base import Weighting, register
from paretoray.errors import ConfigError

__all__ = ["DWA"]


@register("dwa")
class DWA(Weighting):
    """DWA weights ``m softmax(L(t-1) / L(t-2) / T)`` per member [Liu2019]_.

    Preferences and the Gram matrix are not used. Stateful: keeps the last two values seen.

    Args:
        temperature: ``T > 0`` (paper: 2).
    """

    needs_gram = False
    description = "Dynamic weight average: weight objectives by their recent loss ratio"
    category = "single solution"
    paper = "Liu, Johns & Davison, End-to-End Multi-Task Learning with Attention, CVPR 2019"

    def __init__(self, temperature: float = 2.0) -> None:
        if not temperature > 0:
            raise ConfigError(f"DWA `temperature` must be > 0; got {temperature!r}.")
        self.temperature = float(temperature)
        self.reset()

    def reset(self) -> None:
        """Forget the loss history (the next two steps use ``alpha = 1``)."""
        self._prev: Tensor | None = None  # L(t-1)
        self._prev2: Tensor | None = None  # L(t-2)

    def weights(self, values: Tensor, prefs: Tensor, /, gram: Tensor | None = None,
                context: Tensor | None = None) -> Tensor:
        """DWA weights (`p x m`, summing to ``m``); records ``values`` for the next steps."""
        values = values.detach()
        if self._prev is not None and self._prev.shape != values.shape:
            self.reset()
        if self._prev2 is None:
            alpha = torch.ones_like(values)
        else:
            ratio = self._prev / self._prev2
            alpha = values.shape[1] * torch.softmax(ratio / self.temperature, -1)
        self._prev2, self._prev = self._prev, values.clone()
        return alpha.to(dtype=values.dtype)

    def state_dict(self) -> dict[str, Tensor]:
        """The recorded values ``L(t-1)``, ``L(t-2)`` (absent until seen)."""
        out = {}
        if self._prev is not None:
            out["prev"] = self._prev.cpu().clone()
        if self._prev2 is not None:
            out["prev2"] = self._prev2.cpu().clone()
        return out

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self._prev = state["prev"].clone() if "prev" in state else None
        self._prev2 = state["prev2"].clone() if "prev2" in state else None
