"""Batched min-norm point of a convex hull: the quadratic program behind MGDA.

For every member ``p`` with Gram matrix ``G = J J^T`` (``G[i, j] = <grad f_i, grad f_j>``)
we solve

    alpha* = argmin_{alpha in simplex} alpha^T G alpha,

so that ``d = J^T alpha*`` is the min-norm element of ``conv{grad f_i}`` [Desideri2012]_
[Sener2018]_ and ``-d`` is the steepest common descent direction [Fliege2000]_.
The same solver serves PMTL's extended Gram matrix and the SVGD driving term.

All members are solved at once, with no Python loop over them and no host sync:

* ``m = 2``: closed form ``alpha_1 = clip((G22 - G12) / (G11 + G22 - 2 G12), 0, 1)``,
  which returns the exact vertices ``1``/``0`` (the reference code of [Sener2018]_
  and LibMOON return ``0.999``/``0.001`` there).
* ``3 <= m <= exact_max_m`` (default 6): exact support enumeration. For each of the
  ``2^m - 1`` supports ``S`` the KKT system ``G_SS a = nu 1, 1^T a = 1`` is
  solved for every member in one batched ``torch.linalg.solve_ex`` call; candidates with a
  negative entry or a failed solve are masked and the feasible one with the least
  ``a^T G a`` wins. The optimum's support always yields the optimum, so the answer
  is exact up to rounding, even for duplicated or affinely dependent gradients.
* larger ``m``: a fixed number of rounds of Wolfe's min-norm-point algorithm
  [Wolfe1976]_, an active-set method: each round is one batched KKT solve on the
  current support followed by a minor step (move toward the affine minimizer until an
  entry hits zero; it leaves the support) or a major step (add the most violated KKT
  index). The objective never increases; once the support is right the answer is
  exact, typically after about ``m`` rounds (default ``3 m + 10``). A member that
  runs out of rounds keeps a feasible, improved, not necessarily optimal point.

A ridge ``1e-12 * trace(G)`` on the diagonal keeps every KKT system solvable and makes
duplicated gradients split their weight (nearly) evenly. Computation is in float64; the
result is cast back to ``gram``'s dtype.

.. [Desideri2012] J.-A. Désidéri. Multiple-gradient descent algorithm (MGDA) for
    multiobjective optimization. C. R. Math. 350(5-6):313-318, 2012.
.. [Sener2018] O. Sener, V. Koltun. Multi-task learning as multi-objective
    optimization. NeurIPS 2018, arXiv 1810.04650.
.. [Fliege2000] J. Fliege, B. F. Svaiter. Steepest descent methods for multicriteria
    optimization. Math. Meth. OR 51:479-494, 2000.
.. [Wolfe1976] P. Wolfe. Finding the nearest point in a polytope. Math. Prog.
    11:128-149, 1976.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from paretoray.errors import ShapeError

__all__ = ["kkt_residual", "min_norm", "min_norm_affine", "tangent_jacobian"]

#: Relative ridge added to the diagonal: ``G + RIDGE * trace(G) * I``.
RIDGE = 1e-12
# A candidate entry below -_NEG_TOL is infeasible (entries are scale-free simplex weights).
_NEG_TOL = 1e-8


def tangent_jacobian(jacobian: Tensor, x: Tensor, lower: Tensor, upper: Tensor) -> Tensor:
    """Drop the gradient components that push a member out of an active bound.

    A descent step moves member ``p`` along ``-J[p]^T alpha``; where ``x[p, d]`` sits on
    its lower bound a component ``J[p, i, d] > 0`` would move it below (and on the upper
    bound ``J[p, i, d] < 0`` above), and the projection undoes that part of the step. With
    those components zeroed, the Gram matrix ``J J^T`` and hence every min-norm direction
    (MGDA, PMTL, the EPO/PMGDA LPs) live in the tangent cone of the active bounds: a
    member whose only remaining descent leaves the box is Pareto stationary *in the box*
    and stops, instead of sliding along the bound (MGDA on ZDT1 drifted into one corner).
    The components are dropped per gradient, before the min-norm problem, not by the exact
    min-norm over the tangent cone (a piecewise-quadratic problem): where gradients
    disagree in sign on an active coordinate, an objective whose dropped component meets an
    inward step may still rise to first order.

    Args:
        jacobian: A `p x m x d`-dim tensor of objective gradients.
        x: A `p x d`-dim tensor of decision vectors (inside the box).
        lower: A `d`-dim tensor, the box's lower bounds (``-inf``: none).
        upper: A `d`-dim tensor, the box's upper bounds (``inf``: none).

    Returns:
        A `p x m x d`-dim tensor: ``jacobian`` with the outward components at active
        bounds set to zero (a new tensor; no host sync).
    """
    # one clamp: at a lower bound the entries are capped at 0 from above, at an upper
    # bound from below (both, a fixed coordinate: 0)
    zero = torch.zeros((), dtype=jacobian.dtype, device=jacobian.device)
    inf = torch.full((), torch.inf, dtype=jacobian.dtype, device=jacobian.device)
    cap = torch.where(x <= lower, zero, inf)[:, None, :]
    floor = torch.where(x >= upper, zero, -inf)[:, None, :]
    return jacobian.clamp(min=floor, max=cap)


def _check_gram(gram: Tensor, name: str = "gram") -> int:
    if gram.dim() < 2 or gram.shape[-1] != gram.shape[-2] or gram.shape[-1] == 0:
        raise ShapeError(
            f"Expected `{name}` of shape `p x m x m` (square in the last two dims, m >= 1); "
            f"got {name}.shape={tuple(gram.shape)}."
        )
    return gram.shape[-1]


def _prepare(gram: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Flatten to `N x m x m` float64, symmetrize, add the ridge.

    Returns the ridged Gram matrices, their traces and a mask of finite members (the
    others are replaced by the identity so no solver sees a NaN).
    """
    m = gram.shape[-1]
    G = gram.detach().reshape(-1, m, m).to(torch.float64)
    G = 0.5 * (G + G.transpose(-1, -2))
    finite = torch.isfinite(G).flatten(1).all(-1)
    eye = torch.eye(m, dtype=G.dtype, device=G.device)
    G = torch.where(finite[:, None, None], G, eye)
    tr = G.diagonal(dim1=-2, dim2=-1).sum(-1)
    return G + (RIDGE * tr)[:, None, None] * eye, tr, finite


def _quad(a: Tensor, G: Tensor) -> Tensor:
    """``a^T G a`` for `N x K x m` candidates ``a`` and `N x m x m` ``G``: `N x K`."""
    return torch.einsum("nki,nij,nkj->nk", a, G, a)


def _solve_supports(G: Tensor, S: Tensor) -> tuple[Tensor, Tensor]:
    """Minimize ``a^T G a`` on ``{sum a = 1, a_i = 0 off S}`` for many supports at once.

    The KKT system ``G_SS a = nu 1, 1^T a = 1`` gives ``a = x / sum(x)`` with
    ``G_SS x = 1``; off-support rows and columns are replaced by identity rows, which pin
    ``x_i = 0``, so every support is one `m x m` solve. The ridge keeps ``G_SS``
    nonsingular for every nonzero Gram matrix.

    Args:
        G: A `N x m x m`-dim float64 tensor (ridged).
        S: A `N x K x m`-dim (or `K x m`-dim) 0/1 float64 tensor of supports.

    Returns:
        The `N x K x m`-dim minimizers (zeros where the solve failed) and a `N x K`-dim
        mask of successful solves.
    """
    N = G.shape[0]
    S = S.expand(N, *S.shape[-2:])
    M = G[:, None] * (S[..., :, None] * S[..., None, :]) + torch.diag_embed(1 - S)
    x, info = torch.linalg.solve_ex(M, S.unsqueeze(-1))
    x = x.squeeze(-1)
    a = x / x.sum(-1, keepdim=True)
    ok = (info == 0) & torch.isfinite(a).all(-1)
    return torch.where(ok[..., None], a, torch.zeros_like(a)), ok


def _pick_best(G: Tensor, a: Tensor, ok: Tensor) -> Tensor:
    """Among `N x K x m` candidates, the feasible one with the least objective: `N x m`."""
    feasible = ok & (a >= -_NEG_TOL).all(-1)
    a = a.clamp_min(0.0)
    a = a / a.sum(-1, keepdim=True).clamp_min(torch.finfo(a.dtype).tiny)
    obj = torch.where(feasible, _quad(a, G), torch.full_like(feasible, torch.inf, dtype=a.dtype))
    best = obj.argmin(-1)  # first index on ties: deterministic
    return a.gather(1, best[:, None, None].expand(-1, 1, a.shape[-1])).squeeze(1)


@functools.lru_cache(maxsize=16)
def _subsets(m: int, device: str) -> Tensor:
    """All ``2^m - 1`` nonempty supports as a `K x m`-dim 0/1 float64 tensor."""
    codes = torch.arange(1, 2**m, device=device)
    bits = 2 ** torch.arange(m, device=device)
    return ((codes[:, None] & bits) > 0).to(torch.float64)


def _closed_form_2(G: Tensor) -> Tensor:
    num = G[:, 1, 1] - G[:, 0, 1]
    den = G[:, 0, 0] + G[:, 1, 1] - 2 * G[:, 0, 1]
    a1 = torch.where(den > 0, num / den.clamp_min(torch.finfo(G.dtype).tiny), 0.5)
    a1 = a1.clamp(0.0, 1.0)
    return torch.stack([a1, 1 - a1], dim=-1)


def _wolfe(G: Tensor, rounds: int) -> Tensor:
    """A fixed number of rounds of Wolfe's min-norm-point method [Wolfe1976]_, batched.

    Starts at the uniform weights with the full support. Each round solves the affine
    problem on the current support. If its minimizer is nonnegative it is taken and the
    most violated KKT index (``(G a)_j < a^T G a``) joins the support (a major cycle);
    otherwise the iterate moves toward it until an entry hits zero, which leaves the
    support (a minor cycle). The objective never increases, the right support gives the
    exact optimum, and a converged member stays put.
    """
    N, m = G.shape[0], G.shape[-1]
    tol = 1e-14 * G.diagonal(dim1=-2, dim2=-1).amax(-1, keepdim=True)
    a = G.new_full((N, m), 1.0 / m)
    Ga = _matvec(G, a)
    fa = (a * Ga).sum(-1, keepdim=True)
    S = torch.ones_like(a)  # support as 0/1 floats
    # Few, fused ops per round: the loop is launch-bound on a GPU.
    for _ in range(rounds):  # fixed count: no host sync, every member together
        M = G * (S[:, :, None] * S[:, None, :]) + torch.diag_embed(1 - S)
        x = torch.linalg.solve_ex(M, S[..., None])[0][..., 0]
        x = x / x.sum(-1, keepdim=True)  # NaN/inf where the solve failed: no move below
        inner = (x >= 0).all(-1, keepdim=True)
        # Minor cycle: the largest step toward x that keeps a >= 0; blocking entries -> 0.
        ratio = torch.where(x < 0, a / (a - x), torch.inf)
        theta = ratio.amin(-1, keepdim=True)
        moved = torch.where(inner, x, (a + theta * (x - a)) * (ratio > theta)).clamp_min(0.0)
        moved = moved / moved.sum(-1, keepdim=True)
        # Accept only finite, non-increasing moves (guards ill-conditioned solves).
        Gm = _matvec(G, moved)
        fm = (moved * Gm).sum(-1, keepdim=True)
        better = fm <= fa  # False for NaN
        a, Ga, fa = (
            torch.where(better, moved, a),
            torch.where(better, Gm, Ga),
            torch.where(better, fm, fa),
        )
        # Major cycle: add the most violated KKT index ((G a)_j < a^T G a) to the support.
        slack = torch.where(a > 0, torch.inf, Ga - fa)
        j = slack.argmin(-1, keepdim=True)
        add = ((slack.gather(-1, j) < -tol) & inner).to(a.dtype)
        S = (a > 0).to(a.dtype).scatter_add(-1, j, add).clamp_max(1.0)
    return a


def _matvec(G: Tensor, a: Tensor) -> Tensor:
    return torch.bmm(G, a.unsqueeze(-1)).squeeze(-1)


def min_norm(gram: Tensor, /, *, iters: int | None = None, exact_max_m: int = 6) -> Tensor:
    """Batched min-norm convex combination: ``argmin_{alpha in simplex} alpha^T G alpha``.

    See the module docstring for the solvers. The result carries no autograd history.

    Args:
        gram: A `p x m x m`-dim PSD tensor (any leading batch shape works),
            ``gram[p, i, j] = <grad f_i, grad f_j>``.
        iters: Rounds of Wolfe's method, used only when ``m > exact_max_m``
            (default ``3 m + 10``).
        exact_max_m: Largest ``m`` solved by exact support enumeration (``2^m - 1``
            small solves per member).

    Returns:
        A `p x m`-dim tensor of weights on the simplex (``gram``'s dtype and device).
        A zero Gram matrix (every gradient zero) gets the uniform ``1/m``; a member whose
        Gram matrix has a NaN or inf entry gets NaN weights, so the caller can see it.

    Example:
        >>> G = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # orthogonal unit gradients
        >>> min_norm(G)
        tensor([[0.5000, 0.5000]])
    """
    m = _check_gram(gram)
    batch = gram.shape[:-2]
    G, tr, finite = _prepare(gram)
    if m == 1:
        alpha = G.new_ones(G.shape[0], 1)
    elif m == 2:
        alpha = _closed_form_2(G)
    elif m <= exact_max_m:
        alpha = _pick_best(G, *_solve_supports(G, _subsets(m, str(G.device))))
    else:
        alpha = _wolfe(G, 3 * m + 10 if iters is None else iters)
    alpha = torch.where((tr > 0)[:, None], alpha, 1.0 / m)
    alpha = torch.where(finite[:, None], alpha, torch.nan)
    return alpha.to(gram.dtype).reshape(*batch, m)


def min_norm_affine(gram: Tensor, /, support: Tensor | None = None) -> Tensor:
    """Min-norm point of the affine hull: ``argmin alpha^T G alpha`` s.t. ``sum alpha = 1``
    and ``alpha_i = 0`` off ``support`` (entries may be negative).

    This is one KKT solve per member (the building block of :func:`min_norm`); it equals
    :func:`min_norm` whenever the result happens to be nonnegative.

    Args:
        gram: A `p x m x m`-dim PSD tensor.
        support: A `p x m`-dim boolean tensor of allowed entries (default: all).

    Returns:
        A `p x m`-dim tensor (``gram``'s dtype); NaN rows where the system is singular
        (an empty support, or gradients on the support that are affinely dependent
        beyond what the ridge resolves).
    """
    m = _check_gram(gram)
    batch = gram.shape[:-2]
    G, _, finite = _prepare(gram)
    if support is None:
        S = G.new_ones(G.shape[0], 1, m)
    else:
        if support.shape[-1] != m or support.shape[:-1] != batch:
            raise ShapeError(
                f"Expected `support` of shape {(*batch, m)} to match `gram`; "
                f"got support.shape={tuple(support.shape)}."
            )
        S = support.reshape(-1, 1, m).to(dtype=G.dtype, device=G.device)
    a, ok = _solve_supports(G, S)
    a = torch.where((ok & (S.sum(-1) > 0))[..., None], a, torch.nan)[:, 0]
    a = torch.where(finite[:, None], a, torch.nan)
    return a.to(gram.dtype).reshape(*batch, m)


def kkt_residual(gram: Tensor, alpha: Tensor, /) -> Tensor:
    """Optimality gap of simplex weights for the min-norm problem.

    ``r = alpha^T G alpha - min_i (G alpha)_i``, clipped at 0. For ``alpha`` on the
    simplex, ``r = 0`` iff ``alpha`` is optimal (the KKT conditions ``(G alpha)_i >=
    alpha^T G alpha``, with equality on the support, reduce to this), and
    ``alpha^T G alpha - min <= 2 r`` (it is the Frank-Wolfe duality gap). Scale: ``G``.

    Args:
        gram: A `p x m x m`-dim PSD tensor.
        alpha: A `p x m`-dim tensor of weights on the simplex.

    Returns:
        A `p`-dim tensor of nonnegative residuals.
    """
    Ga = torch.einsum("...ij,...j->...i", gram, alpha)
    v = (alpha * Ga).sum(-1)
    return (v - Ga.amin(-1)).clamp_min(0.0)
