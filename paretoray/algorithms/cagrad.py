"""CAGrad: conflict-averse gradient descent.

[Liu2021]_ (Algorithm 1 and its dual problem): with ``g_0`` the mean gradient and
``phi = c^2 ||g_0||^2``, the update maximizes the worst objective's improvement in a ball
around ``g_0``; its dual is

    w* = argmin_{w in simplex}  g_w^T g_0 + sqrt(phi) ||g_w||,     g_w = J^T w,

and the update is ``d = g_0 + sqrt(phi) / ||g_w*|| g_w*``, i.e.
``alpha = 1/m + sqrt(phi) / ||g_w*|| w*``. In Gram form ``g_w^T g_0 = w^T G 1 / m``,
``||g_w||^2 = w^T G w``. ``rescale`` divides by ``1 + c^2`` (``1``, the reference default),
by ``1 + c`` (``2``) or not at all (``0``, TorchJD's choice). When ``||g_w*|| < norm_eps``
(on the Gram matrix normalized by its trace: ``0`` is in the convex hull of the gradients)
the weights are zero, as TorchJD (which also zeroes a Gram matrix of trace below
``norm_eps``; here only an all-zero one, so the weights do not depend on the scale).

Solver, for all members at once: on a support ``S`` the stationarity condition
``b + sqrt(phi) G w / ||g_w|| = nu 1`` (``b = G 1 / m``) gives ``w = (nu x - y) / sqrt(D)``
with ``G_SS x = 1``, ``G_SS y = b``, ``D = beta^2 - a (gamma - phi)``
(``a = 1^T x``, ``beta = 1^T y``, ``gamma = b^T y``, ``nu = (beta + sqrt D) / a``). All
``2^m - 1`` supports are solved in one batched call, plus the min-norm point (the
nonsmooth candidate ``g_w = 0``); the feasible candidate with the least objective is the
optimum (exact for ``m <= 8``). For larger ``m``: ``iters`` Frank-Wolfe steps (approximate).

.. [Liu2021] B. Liu, X. Liu, X. Jin, P. Stone, Q. Liu. Conflict-Averse Gradient Descent
   for Multi-task Learning. NeurIPS 2021 (``torchjd.aggregation.CAGrad``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from paretoray.algorithms._mtl import enumerate_supports, ridged
from paretoray.algorithms.base import Weighting, check_gram, register
from paretoray.algorithms.minnorm import min_norm
from paretoray.errors import ConfigError

__all__ = ["CAGrad", "cagrad_dual"]

#: Largest ``m`` solved exactly (``2^m - 1`` supports).
EXACT_MAX_M = 8


def _objective(w: Tensor, G: Tensor, b: Tensor, s: Tensor) -> Tensor:
    """``b^T w + s sqrt(w^T G w)`` for `N x K x m` ``w``: `N x K`."""
    quad = torch.einsum("nki,nij,nkj->nk", w, G, w).clamp_min(0)
    return (w * b[:, None]).sum(-1) + s[:, None] * quad.sqrt()


def cagrad_dual(gram: Tensor, c: float, *, iters: int | None = None) -> Tensor:
    """The dual solution ``w*`` of CAGrad for every member (module docstring).

    Args:
        gram: A `p x m x m`-dim PSD tensor (any positive scale).
        c: The conflict-aversion radius ``c >= 0``.
        iters: Frank-Wolfe steps, only for ``m > EXACT_MAX_M`` (default ``200 m``).

    Returns:
        A `p x m`-dim float64 tensor on the simplex.
    """
    G = gram.detach().to(torch.float64)
    G = 0.5 * (G + G.mT)
    N, m = G.shape[0], G.shape[-1]
    tr = G.diagonal(dim1=-2, dim2=-1).sum(-1).clamp_min(torch.finfo(G.dtype).tiny)
    G = G / tr[:, None, None]
    b = G.mean(-1)
    s = c * G.sum((-1, -2)).clamp_min(0).sqrt() / m  # sqrt(phi) = c ||g_0||
    if m > EXACT_MAX_M:
        w = G.new_full((N, m), 1.0 / m)
        for k in range(200 * m if iters is None else iters):
            Gw = torch.einsum("nij,nj->ni", G, w)
            nrm = (w * Gw).sum(-1, keepdim=True).clamp_min(1e-30).sqrt()
            grad = b + s[:, None] * Gw / nrm
            vertex = torch.nn.functional.one_hot(grad.argmin(-1), m).to(G.dtype)
            gamma = 2.0 / (k + 2)
            w = (1 - gamma) * w + gamma * vertex
        return w
    Gr = ridged(G)
    S = enumerate_supports(m, G.device)  # K x m
    M = Gr[:, None] * (S[:, :, None] * S[:, None, :]) + torch.diag_embed(1 - S)
    rhs = torch.stack([S.expand(N, -1, -1), S * b[:, None]], -1)  # N x K x m x 2
    X, info = torch.linalg.solve_ex(M, rhs)
    x, y = X[..., 0], X[..., 1]
    a, beta = x.sum(-1), y.sum(-1)
    gamma = (y * b[:, None]).sum(-1)
    D = beta * beta - a * (gamma - (s * s)[:, None])
    sqD = D.clamp_min(0).sqrt()
    nu = (beta + sqD) / a
    w = (nu[..., None] * x - y) / sqD.clamp_min(torch.finfo(G.dtype).tiny)[..., None]
    ok = (info == 0) & (D > 0) & torch.isfinite(w).all(-1) & (w >= -1e-10).all(-1)
    w = w.clamp_min(0)
    w = w / w.sum(-1, keepdim=True).clamp_min(torch.finfo(G.dtype).tiny)
    w = torch.cat([w, min_norm(G)[:, None]], 1)  # the nonsmooth candidate g_w = 0
    ok = torch.cat([ok, ok.new_ones(N, 1)], 1)
    obj = torch.where(ok, _objective(w, G, b, s), torch.inf)
    best = obj.argmin(-1)
    return w.gather(1, best[:, None, None].expand(N, 1, m))[:, 0]


@register("cagrad")
class CAGrad(Weighting):
    """CAGrad weights ``alpha = (1/m + c ||g_0|| / ||g_w*|| w*) / rescale`` [Liu2021]_.

    Preferences are ignored.

    Args:
        c: Conflict-aversion radius ``c >= 0`` (paper: 0.4 or 0.5; ``0`` is the mean).
        rescale: ``0`` none, ``1`` divide by ``1 + c^2`` (reference default), ``2`` by ``1 + c``.
        norm_eps: Below this ``||g_w*||`` (trace-normalized scale) the weights are zero.
        iters: Frank-Wolfe steps for ``m > 8`` (default ``200 m``).
    """

    needs_gram = True
    description = "Conflict-averse step: best worst-case improvement near the mean gradient"
    category = "single solution"
    paper = "Liu et al., Conflict-Averse Gradient Descent for Multi-task Learning, NeurIPS 2021"

    def __init__(self, c: float = 0.4, rescale: int = 1, norm_eps: float = 1e-4,
                 iters: int | None = None) -> None:
        if not c >= 0:
            raise ConfigError(f"CAGrad `c` must be >= 0; got {c!r}.")
        if rescale not in (0, 1, 2):
            raise ConfigError(f"CAGrad `rescale` must be 0, 1 or 2; got {rescale!r}.")
        if not norm_eps >= 0:
            raise ConfigError(f"CAGrad `norm_eps` must be >= 0; got {norm_eps!r}.")
        if iters is not None and (isinstance(iters, bool) or not isinstance(iters, int)
                                  or iters < 1):
            raise ConfigError(f"CAGrad `iters` must be None or an integer >= 1; got {iters!r}.")
        self.c = float(c)
        self.rescale = rescale
        self.norm_eps = float(norm_eps)
        self.iters = iters

    def weights(self, values: Tensor, prefs: Tensor, /, gram: Tensor | None = None,
                context: Tensor | None = None) -> Tensor:
        """CAGrad weights (`p x m`), without autograd history."""
        G = check_gram("CAGrad", values, gram).detach().to(torch.float64)
        m = G.shape[-1]
        tr = G.diagonal(dim1=-2, dim2=-1).sum(-1)
        Gn = G / tr.clamp_min(torch.finfo(G.dtype).tiny)[:, None, None]
        w = cagrad_dual(Gn, self.c, iters=self.iters)
        s = self.c * Gn.sum((-1, -2)).clamp_min(0).sqrt() / m
        gw = torch.einsum("pi,pij,pj->p", w, Gn, w).clamp_min(0).sqrt()
        alpha = 1.0 / m + (s / gw.clamp_min(torch.finfo(G.dtype).tiny))[:, None] * w
        alpha = torch.where(((gw >= self.norm_eps) & (tr > 0))[:, None],
                            alpha, 0.0)
        alpha = alpha / {0: 1.0, 1: 1.0 + self.c**2, 2: 1.0 + self.c}[self.rescale]
        return alpha.to(dtype=values.dtype, device=values.device)
