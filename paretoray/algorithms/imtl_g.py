"""IMTL-G: impartial MTL, the gradient part -- equal projections of the step on every gradient.

[Liu2021]_ picks the combination ``d = J^T alpha``, ``sum alpha = 1``, whose
projection onto every unit gradient ``u_i = g_i / ||g_i||`` is the same. In Gram form
([Quinton2024]_, which extends it to linearly dependent gradients with a pseudo-inverse):

    v = G^+ sqrt(diag G),    alpha = v / sum(v)   (alpha = 0 when sum(v) ~ 0),

so ``<u_i, d>`` is equal for all ``i``. One batched pseudo-inverse for the population.

.. [Liu2021] L. Liu, Y. Li, Z. Kuang, J.-H. Xue, Y. Chen, W. Yang, Q. Liao, W. Zhang.
   Towards Impartial Multi-task Learning. ICLR 2021.
.. [Quinton2024] P. Quinton, V. Rey. Jacobian Descent for Multi-Objective Optimization.
   arXiv 2406.16232, 2024 (``torchjd.aggregation.IMTLG``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from paretoray.algorithms.base import Weighting, check_gram, register

__all__ = ["IMTLG"]


@register("imtl_g")
class IMTLG(Weighting):
    """IMTL-G weights ``alpha = G^+ sqrt(diag G) / sum(G^+ sqrt(diag G))`` [Liu2021]_.

    Preferences are ignored.
    """

    needs_gram = True
    description = "Step with equal projections on every unit gradient (impartial MTL)"
    category = "single solution"
    paper = "Liu et al., Towards Impartial Multi-task Learning, ICLR 2021"

    def weights(self, values: Tensor, prefs: Tensor, /, gram: Tensor | None = None,
                context: Tensor | None = None) -> Tensor:
        """IMTL-G weights (`p x m`, summing to 1 or all zero), without autograd history."""
        G = check_gram("IMTL-G", values, gram).detach().to(torch.float64)
        d = G.diagonal(dim1=-2, dim2=-1).clamp_min(0).sqrt()
        v = torch.einsum("pij,pj->pi", torch.linalg.pinv(G), d)
        s = v.sum(-1, keepdim=True)
        alpha = torch.where(s.abs() < 1e-12, torch.zeros_like(v), v / s)
        return alpha.to(dtype=values.dtype, device=values.device)
