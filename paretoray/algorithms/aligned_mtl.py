"""Aligned-MTL: align the principal components of the gradients, then combine them.

[Senushkin2023]_ (Algorithm 1) replaces the gradient matrix ``J`` by the condition-number-1
matrix ``J_hat = sqrt(sigma) U V^T`` (from the SVD ``J = U Sigma V^T``, ``sigma`` the smallest
nonzero singular value squared) and steps along ``J_hat^T w``. In Gram form, with the
eigendecomposition ``G = V diag(lambda) V^T`` restricted to ``rank(G)`` eigenvalues,

    alpha = B w,    B = sqrt(lambda_min) V diag(lambda^(-1/2)) V^T,

so ``J^T alpha = J_hat^T w``. ``w`` is the member's preference vector (the paper's uniform
task weights are the uniform preference). ``scale_mode`` picks ``lambda_min``: the smallest
retained eigenvalue (``"min"``, the paper), their median or their mean (``"rmse"``, the
reference code). One batched ``eigh`` for the population; the rank uses the tolerance
``max(lambda) m eps`` of the reference code.

.. [Senushkin2023] D. Senushkin, N. Patakin, A. Kuznetsov, A. Konushin. Independent
   Component Alignment for Multi-Task Learning. CVPR 2023 (``torchjd.aggregation.AlignedMTL``).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from paretoray.algorithms.base import Weighting, check_gram, register
from paretoray.errors import ConfigError

__all__ = ["AlignedMTL"]

_MODES = ("min", "median", "rmse")
#: cuSOLVER's batched ``syevBatched`` fails on very large batches (seen at 100 000 on an
#: H200): CUDA batches are decomposed in chunks of this many matrices.
CUDA_EIGH_CHUNK = 16384


def _eigh(G: Tensor) -> tuple[Tensor, Tensor]:
    if not G.is_cuda or G.shape[0] <= CUDA_EIGH_CHUNK:
        return torch.linalg.eigh(G)
    parts = [torch.linalg.eigh(c) for c in G.split(CUDA_EIGH_CHUNK)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


@register("aligned_mtl")
class AlignedMTL(Weighting):
    """Aligned-MTL weights ``alpha = B pref`` (module docstring) [Senushkin2023]_.

    Args:
        scale_mode: ``"min"`` (smallest retained eigenvalue), ``"median"`` or ``"rmse"`` (mean).
    """

    needs_gram = True
    description = "Gradients aligned to condition number one, then preference-weighted"
    category = "single solution"
    paper = "Senushkin et al., Independent Component Alignment for Multi-Task Learning, CVPR 2023"

    def __init__(self, scale_mode: Literal["min", "median", "rmse"] = "min") -> None:
        if scale_mode not in _MODES:
            raise ConfigError(
                f"AlignedMTL `scale_mode` must be one of {', '.join(map(repr, _MODES))}; "
                f"got {scale_mode!r}.")
        self.scale_mode = scale_mode

    def weights(self, values: Tensor, prefs: Tensor, /, gram: Tensor | None = None,
                context: Tensor | None = None) -> Tensor:
        """Aligned-MTL weights (`p x m`), without autograd history."""
        G = check_gram("AlignedMTL", values, gram).detach().to(torch.float64)
        m = G.shape[-1]
        lam, V = _eigh(G)  # ascending
        tol = lam.amax(-1, keepdim=True) * m * torch.finfo(G.dtype).eps
        keep = lam > tol  # p x m
        rank = keep.sum(-1)
        inv_sqrt = torch.where(keep, lam.clamp_min(torch.finfo(G.dtype).tiny).rsqrt(), 0.0)
        if self.scale_mode == "min":
            scale = torch.where(keep, lam, torch.inf).amin(-1)
        elif self.scale_mode == "rmse":
            scale = torch.where(keep, lam, 0.0).sum(-1) / rank.clamp_min(1)
        else:  # lower median of the retained eigenvalues, as torch.median
            kept = torch.where(keep, lam, torch.inf).sort(-1).values
            scale = kept.gather(-1, ((rank - 1).clamp_min(0) // 2)[:, None])[:, 0]
        B = scale.clamp_min(0).sqrt()[:, None, None] * (V * inv_sqrt[:, None, :]) @ V.mT
        B = torch.where((rank > 0)[:, None, None], B, torch.eye(m, dtype=G.dtype, device=G.device))
        alpha = torch.einsum("pij,pj->pi", B, prefs.detach().to(torch.float64))
        return alpha.to(dtype=values.dtype, device=values.device)
