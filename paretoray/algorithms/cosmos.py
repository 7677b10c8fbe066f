"""COSMOS: linear scalarization plus a cosine-similarity pull toward the preference ray.

Minimization is assumed. COSMOS [Ruchte2021]_ minimizes

    g(F | r) = r . (F - z) - lam * cos(r, F - z),

the weighted sum plus a penalty that rewards ``F - z`` pointing along ``r``. Sign: the
paper and LibMOON *subtract* ``lam * cos`` (a reward for alignment, since ``cos`` is
maximal on the ray); GMOOAR prints ``+`` in its eq. 4, which would push ``F`` away from
the ray. We use the paper's ``-``. Weights:

    alpha = r - lam * (r_hat - cos * y_hat) / ||y||,   y = F - z,

with hats unit vectors; entries may be negative. ``F - z`` should be positive (losses):
the cosine is meaningless near ``y = 0``, where the second term is dropped. The optimum
sits near, not exactly on, the ray ``r`` (the linear term pulls toward the supported point
of ``r``); larger ``lam`` brings it closer. Library convention ("``F`` aligns with the
preference ray"): this is COSMOS's own meaning of ``r``, so preferences are used as given.

References:
    .. [Ruchte2021] M. Ruchte, J. Grabocka. Scalable Pareto Front Approximation for Deep
       Multi-Objective Learning. ICDM 2021 (arXiv 2103.13392).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from paretoray.algorithms.base import Weighting, register
from paretoray.algorithms.mtche import _as_floats, ideal_tensor
from paretoray.errors import ConfigError


def cosmos_weights(values: Tensor, prefs: Tensor, ideal: Tensor, lam: float) -> Tensor:
    """Batched COSMOS weights ``dg/dF``.

    Args:
        values: A `p x m`-dim tensor of objective values.
        prefs: A `p x m`-dim tensor of preferences (nonzero rows).
        ideal: An `m`-dim tensor ``z``.
        lam: Weight of the cosine term.

    Returns:
        A `p x m`-dim tensor of weights.
    """
    y = values - ideal
    tiny = torch.finfo(values.dtype).tiny
    ny = y.norm(dim=-1, keepdim=True)
    r_hat = prefs / prefs.norm(dim=-1, keepdim=True)
    y_hat = y / ny.clamp_min(tiny)
    cos = (r_hat * y_hat).sum(-1, keepdim=True)
    dcos = torch.where(ny > 0, (r_hat - cos * y_hat) / ny.clamp_min(tiny), torch.zeros_like(y))
    return prefs - lam * dcos


@register("cosmos")
class COSMOS(Weighting):
    """COSMOS ``r . (F - z) - lam * cos(r, F - z)``; per member.

    Args:
        lam: Weight of the cosine-similarity term (default 1, the paper's MultiMNIST value).
        ideal: The ideal point ``z`` (``m`` floats); zeros if None.
    """

    description = "Linear scalarization plus a cosine-similarity penalty toward the preference ray"
    category = "finite set"
    paper = "Ruchte & Grabocka, Scalable Pareto Front Approximation for Deep MOL, ICDM 2021"

    def __init__(self, lam: float = 1.0, *, ideal: Sequence[float] | Tensor | None = None
                 ) -> None:
        if not lam >= 0:
            raise ConfigError(f"`lam` must be >= 0; got lam={lam!r}.")
        self.lam = float(lam)
        self.ideal = _as_floats(ideal)

    @torch.no_grad()
    def weights(self, values: Tensor, prefs: Tensor, /, gram: Tensor | None = None,
                context: Tensor | None = None) -> Tensor:
        """Compute COSMOS weights.

        Args:
            values: A `p x m`-dim tensor of objective values (minimized).
            prefs: A `p x m`-dim tensor of preferences on the simplex.
            gram: Unused.
            context: Unused.

        Returns:
            A `p x m`-dim tensor of weights (entries may be negative).
        """
        return cosmos_weights(values, prefs.to(values), ideal_tensor(self.ideal, values),
                              self.lam)
