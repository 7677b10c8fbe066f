"""Nash-MTL: the Nash bargaining solution between the objectives.

[Navon2022]_ (Algorithm 1): the update ``d = J^T alpha`` with ``alpha > 0`` solving

    G alpha = 1 / alpha   (entrywise),

the Nash bargaining point of the objectives' utilities ``<g_i, d>`` (the reference code
normalizes the Gram matrix by its Frobenius norm ``nu`` for its solver and multiplies its
constraints back by ``nu``: the root is that of the raw ``G``). The paper approximates the
root with a sequence of convex programs (cvxpy/ECOS, stopped at a residual of ``1e-3``);
here it is found to machine precision for every member at once by damped Newton steps on
the convex potential ``alpha^T G alpha / 2 - sum log alpha_i``
(:func:`paretoray.algorithms._mtl.power_root`). As the reference code, the step
``||J^T alpha||`` is then clipped at ``max_norm`` (``0`` disables the clip). The reference
option ``update_weights_every`` (reuse weights for several steps) is not offered.

At a Pareto-stationary point where a nonnegative mix of the gradients vanishes (no step
improves every objective) the condition has no solution: the root of
``G + 1e-14 trace(G) I`` is used, whose weights are large (``~1e7``) while the step
``J^T alpha`` is ~0, as it should be there.

.. [Navon2022] A. Navon, A. Shamsian, I. Achituve, H. Maron, K. Kawaguchi, G. Chechik,
   E. Fetaya. Multi-Task Learning as a Bargaining Game. ICML 2022 (``torchjd.aggregation.NashMTL``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from paretoray.algorithms._mtl import power_root
from paretoray.algorithms.base import Weighting, check_gram, register
from paretoray.errors import ConfigError

__all__ = ["NashMTL"]


@register("nash_mtl")
class NashMTL(Weighting):
    """Nash-MTL weights: the positive root of ``G alpha = 1/alpha`` [Navon2022]_.

    Preferences are ignored.

    Args:
        max_norm: Clip ``||J^T alpha||`` at this value (``0``: no clip; paper: 1).
        iters: Newton steps of the root finder.
    """

    needs_gram = True
    description = "Nash bargaining between objectives: G alpha = 1/alpha"
    category = "single solution"
    paper = "Navon et al., Multi-Task Learning as a Bargaining Game, ICML 2022"

    def __init__(self, max_norm: float = 1.0, iters: int = 25) -> None:
        if not max_norm >= 0:
            raise ConfigError(f"NashMTL `max_norm` must be >= 0 (0: no clip); got {max_norm!r}.")
        if isinstance(iters, bool) or not isinstance(iters, int) or iters < 1:
            raise ConfigError(f"NashMTL `iters` must be an integer >= 1; got {iters!r}.")
        self.max_norm = float(max_norm)
        self.iters = iters

    def weights(self, values: Tensor, prefs: Tensor, /, gram: Tensor | None = None,
                context: Tensor | None = None) -> Tensor:
        """Nash-MTL weights (`p x m`, positive), without autograd history."""
        G = check_gram("NashMTL", values, gram).detach().to(torch.float64)
        alpha = power_root(G, 1.0, iters=self.iters)
        if self.max_norm > 0:
            norm = torch.einsum("pi,pij,pj->p", alpha, G, alpha).clamp_min(0).sqrt()
            alpha = alpha * torch.where(norm > self.max_norm, self.max_norm / norm, 1.0)[:, None]
        return alpha.to(dtype=values.dtype, device=values.device)
