"""UPGrad: project every objective gradient onto the dual cone of all of them, then average.

Jacobian descent's unconflicting projection of gradients [Quinton2024]_:
with ``pi_J`` the projection onto the dual cone ``{d : J d >= 0}``,

    d = sum_i w_i pi_J(g_i),    pi_J(J^T u) = J^T v,  v = argmin_{v >= u} v^T G v,

so ``alpha = sum_i v(w_i e_i)`` is a function of the Gram matrix ``G = J J^T`` alone
(Proposition 1 of the paper). Every objective decreases to first order (``G alpha >= 0``)
and ``alpha >= w``. The weights ``w`` are the member's preference vector (the paper's
default, the mean ``1/m``, is the uniform preference). The projections are solved for all
members and objectives at once by :func:`paretoray.algorithms._mtl.project_dual_cone`
(exact for ``m <= 6``).

.. [Quinton2024] P. Quinton, V. Rey. Jacobian Descent for Multi-Objective Optimization.
   arXiv 2406.16232, 2024. Reference code: TorchJD (``torchjd.aggregation.UPGrad``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from paretoray.algorithms._mtl import project_dual_cone
from paretoray.algorithms.base import Weighting, check_gram, register
from paretoray.errors import ConfigError

__all__ = ["UPGrad"]


@register("upgrad")
class UPGrad(Weighting):
    """UPGrad weights ``alpha = sum_i argmin_{v >= pref_i e_i} v^T G v`` [Quinton2024]_.

    Args:
        iters: Projected Gauss-Seidel sweeps, used only for ``m > 6`` (default ``50 m``).

    Example:
        >>> import torch
        >>> G = torch.tensor([[[1.0, -0.5], [-0.5, 1.0]]])  # conflicting unit gradients
        >>> UPGrad()(torch.zeros(1, 2), torch.full((1, 2), 0.5), gram=G)
        tensor([[0.7500, 0.7500]])
    """

    needs_gram = True
    description = "Average of the gradients projected onto their dual cone (Jacobian descent)"
    category = "single solution"
    paper = "Quinton & Rey, Jacobian Descent for Multi-Objective Optimization, arXiv 2024"

    def __init__(self, iters: int | None = None) -> None:
        if iters is not None and (isinstance(iters, bool) or not isinstance(iters, int)
                                  or iters < 1):
            raise ConfigError(f"UPGrad `iters` must be None or an integer >= 1; got {iters!r}.")
        self.iters = iters

    def weights(self, values: Tensor, prefs: Tensor, /, gram: Tensor | None = None,
                context: Tensor | None = None) -> Tensor:
        """UPGrad weights (`p x m`, nonnegative, ``>= prefs``), without autograd history."""
        G = check_gram("UPGrad", values, gram).detach()
        U = torch.diag_embed(prefs.detach().to(torch.float64))  # p x m x m: rows w_i e_i
        V = project_dual_cone(U, G, iters=self.iters)
        return V.sum(1).to(dtype=values.dtype, device=values.device)
