"""FairGrad: alpha-fair resource allocation between the objectives.

[Ban2024]_ (Eq. 4 and Algorithm 1): the update ``d = J^T w`` maximizes the alpha-fair utility
``sum_i u_i^(1-a) / (1-a)`` of the objectives' first-order improvements ``u_i = <g_i, d>``
over a ball; its optimality condition is

    G w = w^(-1/a)   (entrywise),  w > 0,

``a = 1`` is proportional fairness (Nash-MTL's condition), ``a -> 0`` the plain sum and
``a -> inf`` max-min fairness. The reference code solves it with
``scipy.optimize.least_squares`` per step; here every member's root is found at once to
machine precision by damped Newton steps on a convex potential
(:func:`paretoray.algorithms._mtl.power_root`). ``a = 0`` gives the uniform ``1/m``. As for
Nash-MTL, where a nonnegative mix of the gradients vanishes (no solution) the root of
``G + 1e-14 trace(G) I`` is used: large weights, a step ``J^T w`` of about 0.

.. [Ban2024] H. Ban, K. Ji. Fair Resource Allocation in Multi-Task Learning. ICML 2024
   (``torchjd.aggregation.FairGrad``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from paretoray.algorithms._mtl import power_root
from paretoray.algorithms.base import Weighting, check_gram, register
from paretoray.errors import ConfigError

__all__ = ["FairGrad"]


@register("fairgrad")
class FairGrad(Weighting):
    """FairGrad weights: the positive root of ``G w = w^(-1/alpha)`` [Ban2024]_.

    Preferences are ignored.

    Args:
        alpha: The fairness exponent ``a >= 0`` (paper's experiments: 0.5 to 2; default 1).
        iters: Newton steps of the root finder.
    """

    needs_gram = True
    description = "Alpha-fair allocation of the step between objectives: G w = w^(-1/alpha)"
    category = "single solution"
    paper = "Ban & Ji, Fair Resource Allocation in Multi-Task Learning, ICML 2024"

    def __init__(self, alpha: float = 1.0, iters: int = 25) -> None:
        if not alpha >= 0:
            raise ConfigError(f"FairGrad `alpha` must be >= 0; got {alpha!r}.")
        if isinstance(iters, bool) or not isinstance(iters, int) or iters < 1:
            raise ConfigError(f"FairGrad `iters` must be an integer >= 1; got {iters!r}.")
        self.alpha = float(alpha)
        self.iters = iters

    def weights(self, values: Tensor, prefs: Tensor, /, gram: Tensor | None = None,
                context: Tensor | None = None) -> Tensor:
        """FairGrad weights (`p x m`, positive), without autograd history."""
        G = check_gram("FairGrad", values, gram).detach()
        if self.alpha == 0:
            return torch.full_like(values, 1.0 / values.shape[1]).detach()
        w = power_root(G, self.alpha, iters=self.iters)
        return w.to(dtype=values.dtype, device=values.device)
