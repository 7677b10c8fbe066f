"""RLW: random loss weighting -- a fresh random point of the simplex every step.

[Lin2022]_ (Algorithm 2, the normal-distribution variant): ``alpha = softmax(z)`` with
``z ~ N(0, I_m)`` drawn anew at every step, independently for every member. The draws come
from the weighting's own seeded generator, so a run is reproducible and a checkpoint
(:meth:`RLW.state_dict`) resumes the same sequence.

.. [Lin2022] B. Lin, F. Ye, Y. Zhang, I. W. Tsang. Reasonable Effectiveness of Random
   Weighting: A Litmus Test for Multi-Task Learning. TMLR 2022 (``torchjd.aggregation.Random``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from paretoray.algorithms.base import Weighting, register
from paretoray.errors import ConfigError

__all__ = ["RLW"]


@register("rlw")
class RLW(Weighting):
    """Random weights ``softmax(N(0, I))`` per member and step [Lin2022]_.

    Preferences and the Gram matrix are not used.

    Args:
        seed: Seed of the weighting's generator.
    """

    needs_gram = False
    description = "Random loss weighting: softmax of a standard normal draw every step"
    category = "single solution"
    paper = "Lin et al., Reasonable Effectiveness of Random Weighting, TMLR 2022"

    def __init__(self, seed: int = 0) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"RLW `seed` must be an integer; got {seed!r}.")
        self.seed = seed
        self._generator = torch.Generator().manual_seed(seed)

    def weights(self, values: Tensor, prefs: Tensor, /, gram: Tensor | None = None,
                context: Tensor | None = None) -> Tensor:
        """Random simplex weights (`p x m`)."""
        z = torch.randn(values.shape, generator=self._generator, dtype=torch.float64)
        return torch.softmax(z, -1).to(dtype=values.dtype, device=values.device)

    def state_dict(self) -> dict[str, Tensor]:
        """The generator state (a uint8 tensor)."""
        return {"rng": self._generator.get_state()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self._generator.set_state(state["rng"])
