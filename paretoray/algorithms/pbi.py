"""Penalty-based boundary intersection (PBI) as a weighting.

Minimization is assumed. PBI [Zhang2007]_ measures ``F`` along and across the preference
ray through the ideal point ``z``: with ``u = l / ||l||``,

    d1 = (F - z) . u,    d2 = ||F - z - d1 u||,    g = d1 + theta * d2.

Weights are ``alpha = dg/dF = u + theta * (F - z - d1 u) / d2`` (the second term is dropped
where ``d2 = 0``, a valid subgradient). ``alpha`` can have negative entries (the
across-ray pull may ask one objective to grow). For ``theta`` large enough the minimizer
is the point where the ray meets the front: this is the library's preference convention
("``F`` aligns with the preference ray"), so preferences are used as given.

References:
    .. [Zhang2007] Q. Zhang, H. Li. MOEA/D: A Multiobjective Evolutionary Algorithm Based
       on Decomposition. IEEE TEVC 11(6):712-731, 2007.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from paretoray.algorithms.base import Weighting, register
from paretoray.algorithms.mtche import _as_floats, ideal_tensor
from paretoray.errors import ConfigError


def pbi_weights(values: Tensor, prefs: Tensor, ideal: Tensor, theta: float) -> Tensor:
    """Batched PBI weights ``dg/dF``.

    Args:
        values: A `p x m`-dim tensor of objective values.
        prefs: A `p x m`-dim tensor of preference directions (nonzero rows).
        ideal: An `m`-dim tensor ``z``.
        theta: Penalty on the distance to the ray.

    Returns:
        A `p x m`-dim tensor of weights.
    """
    u = prefs / prefs.norm(dim=-1, keepdim=True)
    y = values - ideal
    d1 = (y * u).sum(-1, keepdim=True)
    perp = y - d1 * u
    d2 = perp.norm(dim=-1, keepdim=True)
    tiny = torch.finfo(values.dtype).tiny
    unit_perp = torch.where(d2 > 0, perp / d2.clamp_min(tiny), torch.zeros_like(perp))
    return u + theta * unit_perp


@register("pbi")
class PBI(Weighting):
    """PBI ``d1 + theta * d2`` about the preference ray; per member.

    Args:
        theta: Penalty on the distance ``d2`` to the ray (default 5, MOEA/D's choice).
        ideal: The ideal point ``z`` (``m`` floats); zeros if None.
    """

    description = "Penalty-based boundary intersection: distance along plus penalty off the ray"
    category = "finite set"
    paper = "Zhang & Li, MOEA/D, IEEE TEVC 2007"

    def __init__(self, theta: float = 5.0, *, ideal: Sequence[float] | Tensor | None = None
                 ) -> None:
        if not theta >= 0:
            raise ConfigError(f"`theta` must be >= 0; got theta={theta!r}.")
        self.theta = float(theta)
        self.ideal = _as_floats(ideal)

    @torch.no_grad()
    def weights(self, values: Tensor, prefs: Tensor, /, gram: Tensor | None = None,
                context: Tensor | None = None) -> Tensor:
        """Compute PBI weights.

        Args:
            values: A `p x m`-dim tensor of objective values (minimized).
            prefs: A `p x m`-dim tensor of preferences on the simplex.
            gram: Unused.
            context: Unused.

        Returns:
            A `p x m`-dim tensor of weights (entries may be negative).
        """
        return pbi_weights(values, prefs.to(values), ideal_tensor(self.ideal, values),
                           self.theta)
