"""Batched solvers shared by the single-solution MTL weightings.

Every function works on a whole population of small problems at once (leading batch
dimension), in float64, with a fixed amount of work and no host sync:

* :func:`project_dual_cone` -- ``argmin_v v^T G v`` s.t. ``v >= u`` (UPGrad, DualProj);
* :func:`power_root` -- the positive root of ``G alpha = alpha^(-1/a)`` (Nash-MTL at
  ``a = 1``, FairGrad for any ``a > 0``);
* :func:`project_simplex` -- Euclidean projection onto the probability simplex;
* :func:`enumerate_supports` -- every nonempty support of ``m`` entries.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

#: Relative ridge ``RIDGE * trace(G) / m`` added to a Gram diagonal before a solve.
RIDGE = 1e-12
#: Step lengths ``2^-k`` tried at once by :func:`power_root`'s line search.
_HALVINGS = 20
_EPS = torch.finfo(torch.float64).eps
#: Ridge of :func:`power_root` on the trace-normalized Gram matrix.
ROOT_RIDGE = 1e-14
#: Largest ``m`` solved exactly by enumerating supports (``2^m`` small solves per problem).
EXACT_MAX_M = 6


@functools.lru_cache(maxsize=32)
def _subsets(m: int, device: str, with_empty: bool) -> Tensor:
    codes = torch.arange(0 if with_empty else 1, 2**m, device=device)
    bits = 2 ** torch.arange(m, device=device)
    return ((codes[:, None] & bits) > 0).to(torch.float64)


def enumerate_supports(m: int, device: torch.device, *, with_empty: bool = False) -> Tensor:
    """All supports of ``m`` entries as a `K x m`-dim 0/1 float64 tensor (``K = 2^m - 1``,
    or ``2^m`` with the empty one)."""
    return _subsets(m, str(device), with_empty)


def ridged(G: Tensor) -> Tensor:
    """``G`` symmetrized in float64 with ``RIDGE * trace(G) / m`` on the diagonal."""
    m = G.shape[-1]
    G = G.to(torch.float64)
    G = 0.5 * (G + G.transpose(-1, -2))
    tr = G.diagonal(dim1=-2, dim2=-1).sum(-1).clamp_min(torch.finfo(G.dtype).tiny)
    eye = torch.eye(m, dtype=G.dtype, device=G.device)
    return G + (RIDGE * tr / m)[..., None, None] * eye


def project_dual_cone(U: Tensor, G: Tensor, *, iters: int | None = None) -> Tensor:
    """Weights of the projection of ``J^T u`` onto the dual cone of the rows of ``J``.

    Solves ``argmin_v v^T G v`` s.t. ``v >= u`` (Proposition 1 of [Quinton2024]_): then
    ``J^T v`` is the projection and ``<g_i, J^T v> >= 0`` for every row. For
    ``m <= EXACT_MAX_M`` every active set ``A`` (``v_A = u_A``, ``(G v)_i = 0`` off ``A``)
    is solved in one batched call and the feasible candidate with the least ``v^T G v``
    wins (exact: the optimum's active set yields it). For larger ``m``, ``iters`` sweeps of
    projected Gauss-Seidel (default ``50 m``).

    Args:
        U: A `N x k x m`-dim tensor: ``k`` weight vectors ``u`` per problem.
        G: A `N x m x m`-dim PSD tensor.

    Returns:
        A `N x k x m`-dim float64 tensor of projection weights ``v``.
    """
    N, k, m = U.shape
    G = ridged(G)
    U = U.to(torch.float64)
    if m > EXACT_MAX_M:
        v = U.clone()
        diag = G.diagonal(dim1=-2, dim2=-1)[:, None, :]
        for _ in range(50 * m if iters is None else iters):
            for i in range(m):
                rest = torch.einsum("nkj,nj->nk", v, G[:, i]) - v[..., i] * diag[..., i]
                v[..., i] = torch.maximum(U[..., i], -rest / diag[..., i])
        return v
    S = enumerate_supports(m, G.device, with_empty=True)  # 1 = active (v_i = u_i)
    free = 1 - S
    # Row i: (G v)_i = 0 if free, v_i = u_i if active.
    M = G[:, None] * free[None, :, :, None] + torch.diag_embed(S)[None]  # N x K x m x m
    rhs = S[None, :, :, None] * U.transpose(1, 2)[:, None]  # N x K x m x k
    v, info = torch.linalg.solve_ex(M, rhs)
    v = v.permute(0, 3, 1, 2)  # N x k x K x m
    info = info[:, None, :]
    scale = U.abs().amax(-1, keepdim=True).clamp_min(torch.finfo(v.dtype).tiny)[..., None]
    ok = (info == 0) & torch.isfinite(v).all(-1) & (v >= U[:, :, None] - 1e-9 * scale).all(-1)
    obj = torch.einsum("nkci,nij,nkcj->nkc", v, G, v)
    obj = torch.where(ok, obj, torch.inf)
    best = obj.argmin(-1)
    v = v.gather(2, best[..., None, None].expand(N, k, 1, m))[:, :, 0]
    return torch.maximum(v, U)


def power_root(G: Tensor, a: float, *, iters: int = 25) -> Tensor:
    """The positive solution of ``G alpha = alpha^(-1/a)`` (entrywise power), batched.

    It is the minimizer of the strictly convex ``phi(alpha) = alpha^T G alpha / 2 -
    sum_i psi(alpha_i)`` with ``psi' (t) = t^(-1/a)`` (``psi = log`` at ``a = 1``), found by
    ``iters`` damped Newton steps from the diagonal solution ``alpha_i = G_ii^(-a/(a+1))``.
    Each step backtracks over ``_HALVINGS`` halvings at once (Armijo, fraction to the boundary
    ``0.99``); a member that has converged takes zero steps. ``G`` is normalized by its
    trace first and the root rescaled (``alpha(s G) = s^(-a/(a+1)) alpha(G)``).

    Args:
        G: A `N x m x m`-dim PSD tensor.
        a: The fairness exponent ``a > 0``.
        iters: Newton steps.

    Returns:
        A `N x m`-dim positive float64 tensor.
    """
    m = G.shape[-1]
    G = G.to(torch.float64)
    G = 0.5 * (G + G.transpose(-1, -2))
    tr = G.diagonal(dim1=-2, dim2=-1).sum(-1).clamp_min(torch.finfo(G.dtype).tiny)
    # The ridge keeps a root when some nonnegative mix of gradients is 0 (the objectives
    # cannot all improve: no bargaining point); alpha then grows to ~ROOT_RIDGE^(-a/(a+1)).
    Gh = G / tr[:, None, None] + ROOT_RIDGE * torch.eye(m, dtype=G.dtype, device=G.device)
    e = -1.0 / a

    def psi(t: Tensor) -> Tensor:
        return torch.log(t) if a == 1.0 else t ** (1 + e) / (1 + e)

    def phi(x: Tensor) -> Tensor:  # N x T x m -> N x T
        return (0.5 * (x @ Gh) * x - psi(x)).sum(-1)

    alpha = Gh.diagonal(dim1=-2, dim2=-1).clamp_min(1e-12) ** (-a / (a + 1))
    ts = 0.5 ** torch.arange(_HALVINGS, dtype=G.dtype, device=G.device)  # T
    ks = torch.arange(_HALVINGS, device=G.device)
    for _ in range(iters):
        Ga = (alpha[:, None, :] @ Gh)[:, 0]
        grad = Ga - alpha**e
        H = Gh + torch.diag_embed((1.0 / a) * alpha ** (e - 1))
        step = -torch.linalg.solve_ex(H, grad[..., None])[0][..., 0]
        step = torch.where(torch.isfinite(step), step, torch.zeros_like(step))
        bound = torch.where(step < 0, -0.99 * alpha / step, torch.inf).amin(-1, keepdim=True)
        t = torch.minimum(ts[None, :], bound)  # N x T
        cand = alpha[:, None] + t[..., None] * step[:, None]  # N x T x m
        cand = cand.clamp_min(torch.finfo(G.dtype).tiny)
        slope = (grad * step).sum(-1, keepdim=True)
        phi0 = (0.5 * Ga * alpha - psi(alpha)).sum(-1, keepdim=True)
        # Armijo, up to the rounding of phi: near the root Newton's full step is taken.
        armijo = phi(cand) <= phi0 + 1e-4 * t * slope + 8 * _EPS * phi0.abs()
        first = torch.where(armijo, ks, _HALVINGS).amin(-1)
        pick = cand.gather(1, first.clamp_max(_HALVINGS - 1)[:, None, None].expand(-1, 1, m))[:, 0]
        alpha = torch.where((first < _HALVINGS)[:, None], pick, alpha)
    return alpha * tr[:, None] ** (-a / (a + 1))


def project_simplex(x: Tensor) -> Tensor:
    """Euclidean projection of every row of a `... x m`-dim tensor onto the simplex."""
    m = x.shape[-1]
    srt = x.sort(-1, descending=True).values
    css = srt.cumsum(-1) - 1
    ks = torch.arange(1, m + 1, dtype=x.dtype, device=x.device)
    cond = srt - css / ks > 0
    rho = (cond * ks).amax(-1, keepdim=True)
    theta = css.gather(-1, rho.long() - 1) / rho
    return (x - theta).clamp_min(0)
