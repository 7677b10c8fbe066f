"""Batched solvers for the tiny LPs and QPs inside EPO, PMTL and PMGDA.

Every member of a population poses its own small problem (a handful of variables, a
few dozen constraints at most). Instead of one solver call per member, the problems are
solved for all ``p`` members in one tensor program:

* :func:`lp_vertices` -- a linear program by vertex enumeration: every basic solution
  (equalities plus a choice of active inequalities) is one small linear solve, all of
  them batched; the best feasible one is the optimum (an LP over a pointed polyhedron
  attains its optimum at a vertex). Exact, no iterations, cost ``C(k, n - e)`` solves
  of ``n x n`` systems per member.
* :func:`lp_highs` -- the same LP, one ``scipy.optimize.linprog`` (HiGHS) call per member:
  the fallback when enumeration would be too large (host round-trip; not for hot loops).
* :func:`min_norm` -- ``min_{a in simplex, a_j = 0 off mask} a^T Q a`` by support
  enumeration (the affine-hull min-norm point of every candidate support, batched), with
  an accelerated projected-gradient fallback for large instances. Unlike
  :func:`paretoray.algorithms.minnorm.min_norm` it takes a mask (PMTL's variable number
  of active constraints) and a support cap (``m + 1`` suffices for an extended Gram
  matrix of rank ``m``).

All of them compute in float64 whatever the input dtype and return the input dtype.
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

#: Enumerate vertices / supports only while the candidate count stays below this.
MAX_CANDIDATES = 4096


@lru_cache(maxsize=256)
def _combinations(k: int, r: int) -> Tensor:
    """All ``r``-subsets of ``range(k)`` as a `V x r` long tensor (CPU, cached)."""
    combos = list(itertools.combinations(range(k), r))
    if not combos:
        return torch.zeros(0, r, dtype=torch.long)
    return torch.tensor(combos, dtype=torch.long).reshape(len(combos), r)


def n_vertex_candidates(n_var: int, n_eq: int, n_ub: int) -> int:
    """Number of basic solutions :func:`lp_vertices` would solve for."""
    from math import comb

    return comb(n_ub, n_var - n_eq)


def _rtol(dtype: torch.dtype) -> float:
    return float(torch.finfo(dtype).eps) ** 0.6


def lp_vertices(
    c: Tensor,
    A_eq: Tensor,
    b_eq: Tensor,
    A_ub: Tensor,
    b_ub: Tensor,
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Solve ``p`` small LPs ``max c^T z s.t. A_eq z = b_eq, A_ub z >= b_ub`` at once.

    The feasible sets must be pointed polyhedra with bounded optimum (true for the
    simplex-based LPs here); then an optimum is a vertex, i.e. the unique solution of the
    equalities plus ``n - e`` active inequalities. All ``C(k, n - e)`` choices are solved
    as one batched ``n x n`` linear solve; infeasible and singular choices are discarded and
    the best remaining one is returned (ties: the first in lexicographic order of the
    active set, so the result is deterministic).

    Args:
        c: A `p x n`-dim tensor, the objective (maximized).
        A_eq: A `p x e x n`-dim tensor of equality rows.
        b_eq: A `p x e`-dim tensor.
        A_ub: A `p x k x n`-dim tensor of inequality rows (``A_ub z >= b_ub``).
        b_ub: A `p x k`-dim tensor; entries whose row is masked out may be anything,
            including ``-inf``.
        mask: A `p x k`-dim bool tensor; False drops that inequality for that member.

    Returns:
        ``(z, feasible)``: a `p x n`-dim tensor of optimal points and a `p`-dim bool tensor
        (False where no feasible vertex was found; ``z`` is zero there).
    """
    out_dtype = c.dtype
    dt = torch.float64
    c, A_eq, b_eq, A_ub, b_ub = (t.to(dt) for t in (c, A_eq, b_eq, A_ub, b_ub))
    p, k, n = A_ub.shape
    e = A_eq.shape[1]
    if mask is None:
        mask = torch.ones(p, k, dtype=torch.bool, device=c.device)
    b_ub = torch.where(mask, b_ub, torch.zeros((), dtype=dt, device=c.device))
    combos = _combinations(k, n - e).to(c.device)  # V x (n - e)
    V = combos.shape[0]
    if V == 0:
        return torch.zeros(p, n, dtype=out_dtype, device=c.device), torch.zeros(
            p, dtype=torch.bool, device=c.device)
    M = torch.cat([A_eq[:, None].expand(p, V, e, n), A_ub[:, combos]], dim=2)  # p V n n
    rhs = torch.cat([b_eq[:, None].expand(p, V, e), b_ub[:, combos]], dim=2)  # p V n
    z, solved = batched_solve(M, rhs)  # p V n
    # Feasibility up to a tolerance relative to each row's scale at that point.
    rtol = _rtol(dt)
    z_size = 1 + z.abs().amax(-1, keepdim=True)  # p V 1
    tol_ub = rtol * (1 + A_ub.abs().sum(-1)[:, None] * z_size + b_ub.abs()[:, None])
    slack = torch.einsum("pkn,pvn->pvk", A_ub, z) - b_ub[:, None]
    ok_ub = (slack >= -tol_ub) | ~mask[:, None]
    tol_eq = rtol * (1 + A_eq.abs().sum(-1)[:, None] * z_size + b_eq.abs()[:, None])
    ok_eq = (torch.einsum("pen,pvn->pve", A_eq, z) - b_eq[:, None]).abs() <= tol_eq
    valid = (
        solved
        & torch.isfinite(z).all(-1)
        & mask[:, combos].all(-1)
        & ok_ub.all(-1)
        & ok_eq.all(-1)
    )
    val = (c[:, None] * z).sum(-1)
    val = torch.where(valid, val, torch.full_like(val, -torch.inf))
    best = val.argmax(dim=1)  # first maximum -> deterministic ties
    z_best = z.gather(1, best[:, None, None].expand(p, 1, n)).squeeze(1)
    feasible = valid.any(dim=1)
    z_best = torch.where(feasible[:, None], z_best, torch.zeros_like(z_best))
    return z_best.to(out_dtype), feasible


def lp_highs(
    c: Tensor,
    A_eq: Tensor,
    b_eq: Tensor,
    A_ub: Tensor,
    b_ub: Tensor,
    mask: Tensor | None = None,
    bounds: tuple[float | None, float | None] = (None, None),
) -> tuple[Tensor, Tensor]:
    """Same problem and return value as :func:`lp_vertices`, one HiGHS call per member.

    A fallback for sizes where vertex enumeration is too large: it loops over members on
    the host (``scipy.optimize.linprog``, method ``"highs"``), so it syncs and is slow for
    large ``p``; scipy is imported lazily (it comes with pymoo).
    """
    import numpy as np
    from scipy.optimize import linprog

    p, k, n = A_ub.shape
    if mask is None:
        mask = torch.ones(p, k, dtype=torch.bool)
    c_np, Ae, be, Au, bu, mk = (t.detach().cpu().double().numpy() if t.dtype != torch.bool
                                else t.detach().cpu().numpy()
                                for t in (c, A_eq, b_eq, A_ub, b_ub, mask))
    z = np.zeros((p, n))
    ok = np.zeros(p, dtype=bool)
    for i in range(p):
        rows = mk[i]
        res = linprog(-c_np[i], A_ub=-Au[i][rows] if rows.any() else None,
                      b_ub=-bu[i][rows] if rows.any() else None,
                      A_eq=Ae[i], b_eq=be[i], bounds=[bounds] * n, method="highs")
        if res.status == 0:
            z[i] = res.x
            ok[i] = True
    return (torch.as_tensor(z, dtype=c.dtype, device=c.device),
            torch.as_tensor(ok, device=c.device))


def min_norm(
    gram: Tensor,
    mask: Tensor | None = None,
    *,
    max_support: int | None = None,
    iters: int = 500,
) -> Tensor:
    """Batched ``argmin_{a in simplex, a_j = 0 where ~mask} a^T Q a`` (min-norm point).

    With ``Q = V G V^T`` this is the minimum-norm element of the convex hull of the
    vectors ``y_j = J^T v_j`` (MGDA's sub-problem, and PMTL's on an extended Gram matrix).

    Exact support enumeration: for every candidate support ``S = (i_0, ..., i_{s-1})``
    (``|S| <= max_support``) the min-norm point of the affine hull of ``{y_i : i in S}`` is
    ``y_{i_0} + D t`` with ``D = [y_{i_k} - y_{i_0}]`` and ``(D^T D) t = -D^T y_{i_0}``, an
    ``(s-1) x (s-1)`` system built from ``Q`` alone; candidates with a negative weight or a
    (near-)singular system are dropped and the smallest ``a^T Q a`` wins -- the optimum's
    own minimal support (affinely independent vectors) is among the candidates. When
    ``Q = V G V^T`` with ``V`` in ``R^{n x m}`` the optimum needs at most ``m + 1`` vectors
    (Carathéodory in ``R^m``), so ``max_support = m + 1`` is exact. If the candidate count
    exceeds :data:`MAX_CANDIDATES`, an accelerated projected gradient with ``iters`` fixed
    iterations is used instead (approximate; masked coordinates stay 0).

    Args:
        gram: A `p x n x n`-dim PSD tensor ``Q``.
        mask: A `p x n`-dim bool tensor of allowed coordinates (each row needs one True);
            None allows all.
        max_support: Largest support tried; ``n`` when None.
        iters: Iterations of the projected-gradient fallback.

    Returns:
        A `p x n`-dim tensor of weights on the simplex, zero outside ``mask``.
    """
    from math import comb

    out_dtype = gram.dtype
    Q = gram.detach().to(torch.float64)
    Q = 0.5 * (Q + Q.transpose(1, 2))
    p, n, _ = Q.shape
    dev = Q.device
    if mask is None:
        mask = torch.ones(p, n, dtype=torch.bool, device=dev)
    s_max = n if max_support is None else max(1, min(int(max_support), n))
    if n == 3 and s_max == 3:  # PMTL with m = 2: closed forms, no LAPACK call
        best_a, missing = _min_norm_3(Q, mask)
        if bool(missing.any()):  # only on degenerate input (all-masked or NaN rows)
            best_a = torch.where(missing[:, None], _min_norm_pgd(Q, mask, iters), best_a)
        return best_a.to(out_dtype)
    if sum(comb(n, s) for s in range(1, s_max + 1)) > MAX_CANDIDATES:
        return _min_norm_pgd(Q, mask, iters).to(out_dtype)
    Qf = Q.reshape(p, n * n)
    scale = Q.diagonal(dim1=1, dim2=2).amax(-1).clamp_min(1e-300)  # p
    best_val = torch.full((p,), torch.inf, dtype=Q.dtype, device=dev)
    best_a = torch.zeros(p, n, dtype=Q.dtype, device=dev)
    for s in range(1, s_max + 1):
        S = _combinations(n, s).to(dev)  # V x s
        V = S.shape[0]
        q00 = Qf[:, S[:, 0] * (n + 1)]  # p V: Q[i0, i0]
        if s == 1:
            a = torch.ones(p, V, 1, dtype=Q.dtype, device=dev)
            val = q00
            ok = torch.ones(p, V, dtype=torch.bool, device=dev)
        else:
            i0, rest = S[:, :1], S[:, 1:]  # V x 1, V x (s-1)
            q0k = Qf[:, (i0 * n + rest).reshape(-1)].reshape(p, V, s - 1)  # Q[i0, ik]
            qkl = Qf[:, (rest[:, :, None] * n + rest[:, None, :]).reshape(-1)].reshape(
                p, V, s - 1, s - 1)
            M = qkl - q0k[..., :, None] - q0k[..., None, :] + q00[..., None, None]  # D^T D
            b = q0k - q00[..., None]  # D^T y0
            t, ok = batched_solve(M, -b, rtol=1e-10)
            a = torch.cat([1 - t.sum(-1, keepdim=True), t], dim=-1)  # p V s
            val = q00 + (t * b).sum(-1)
            ok = ok & torch.isfinite(a).all(-1) & (a >= -1e-9).all(-1)
        ok = ok & mask[:, S].all(-1)
        val = torch.where(ok, val.clamp_min(0), torch.full_like(val, torch.inf))
        v_best, idx = val.min(dim=1)
        better = v_best < best_val - 1e-12 * scale
        a_best = a.gather(1, idx[:, None, None].expand(p, 1, s)).squeeze(1).clamp_min(0)
        a_best = a_best / a_best.sum(-1, keepdim=True)
        full = torch.zeros(p, n, dtype=Q.dtype, device=dev).scatter_(1, S[idx], a_best)
        best_a = torch.where(better[:, None], full, best_a)
        best_val = torch.where(better, v_best, best_val)
    missing = ~torch.isfinite(best_val)
    if bool(missing.any()):  # only on degenerate input (all-masked or NaN rows)
        best_a = torch.where(missing[:, None], _min_norm_pgd(Q, mask, iters), best_a)
    return best_a.to(out_dtype)


def _min_norm_3(Q: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """:func:`min_norm` for three vectors by closed forms (2.2x faster at ``p = 100``).

    The seven candidate supports: each vertex, each edge (the 2-point closed form, clamped
    to the segment) and the triangle (its affine-hull min-norm point by Cramer's rule,
    kept when its weights are nonnegative); the least ``a^T Q a`` among the allowed ones.

    Args:
        Q: A `p x 3 x 3`-dim PSD float64 tensor.
        mask: A `p x 3`-dim bool tensor of allowed coordinates.

    Returns:
        ``(a, missing)``: the `p x 3` weights and a `p`-dim bool tensor of rows without
        any allowed finite candidate.
    """
    p, dt, dev = Q.shape[0], Q.dtype, Q.device
    d = Q.diagonal(dim1=1, dim2=2)  # p 3
    i, j = torch.tensor([0, 0, 1], device=dev), torch.tensor([1, 2, 2], device=dev)
    qii, qjj, qij = d[:, i], d[:, j], Q[:, i, j]
    den = qii + qjj - 2 * qij
    t = torch.where(den > 0, (qii - qij) / den.clamp_min(1e-300), 0.0).clamp(0, 1)  # p 3
    edges = torch.zeros(p, 3, 3, dtype=dt, device=dev)
    rows = torch.arange(3, device=dev)
    edges[:, rows, i] = 1 - t
    edges[:, rows, j] = t
    m00 = d[:, 1] - 2 * Q[:, 0, 1] + d[:, 0]  # D^T D with D = [y1 - y0, y2 - y0]
    m11 = d[:, 2] - 2 * Q[:, 0, 2] + d[:, 0]
    m01 = Q[:, 1, 2] - Q[:, 0, 1] - Q[:, 0, 2] + d[:, 0]
    b0, b1 = Q[:, 0, 1] - d[:, 0], Q[:, 0, 2] - d[:, 0]
    det = m00 * m11 - m01 * m01
    solvable = det.abs() > 1e-10 * (m00.abs() + m11.abs()).square().clamp_min(1e-300)
    det = torch.where(solvable, det, 1.0)
    t1, t2 = (-b0 * m11 + b1 * m01) / det, (-b1 * m00 + b0 * m01) / det
    tri = torch.stack([1 - t1 - t2, t1, t2], -1)
    tri_ok = solvable & (tri >= -1e-9).all(-1) & mask.all(-1)
    A = torch.cat([torch.eye(3, dtype=dt, device=dev).expand(p, 3, 3), edges, tri[:, None]], 1)
    ok = torch.cat([mask, mask[:, i] & mask[:, j], tri_ok[:, None]], 1)  # p 7
    val = torch.einsum("pki,pij,pkj->pk", A, Q, A)
    val = torch.where(ok & torch.isfinite(val), val, torch.inf)
    best_val, best = val.min(1)
    a = A[torch.arange(p, device=dev), best].clamp_min(0)
    return a / a.sum(-1, keepdim=True).clamp_min(1e-300), ~torch.isfinite(best_val)


def batched_solve(M: Tensor, b: Tensor, rtol: float = 1e-10) -> tuple[Tensor, Tensor]:
    """Solve many tiny systems ``M x = b`` in one batched LAPACK/cuSOLVER call.

    Args:
        M: A `... x n x n`-dim tensor.
        b: A `... x n`-dim tensor.
        rtol: Norm-wise relative residual above which a solution counts as failed
            (near-singular systems): ``|M x - b|_inf <= rtol (|M|_inf |x|_inf + |b|_inf)``.

    Returns:
        ``(x, ok)``: the `... x n`-dim solutions (meaningless where not ok) and a `...`-dim
        bool tensor, False for singular or inaccurately solved systems.
    """
    x, info = torch.linalg.solve_ex(M, b.unsqueeze(-1))
    x = x.squeeze(-1)
    resid = ((M @ x.unsqueeze(-1)).squeeze(-1) - b).abs().amax(-1)
    # Norm-wise backward error: LU with partial pivoting keeps it near machine epsilon.
    bound = M.abs().sum(-1).amax(-1) * x.abs().amax(-1) + b.abs().amax(-1)
    ok = (info == 0) & torch.isfinite(x).all(-1) & (resid <= rtol * bound + 1e-300)
    return x, ok


def project_simplex(v: Tensor, mask: Tensor | None = None) -> Tensor:
    """Euclidean projection of each row of ``v`` onto the simplex (sort-based).

    Coordinates outside ``mask`` (a bool tensor of ``v``'s shape) are forced to zero.
    """
    if mask is not None:
        big = v.abs().amax(-1, keepdim=True) + 1.0
        v = torch.where(mask, v, -1e6 * big)
    n = v.shape[-1]
    u, _ = torch.sort(v, dim=-1, descending=True)
    css = u.cumsum(-1) - 1
    k = torch.arange(1, n + 1, dtype=v.dtype, device=v.device)
    cond = u - css / k > 0
    rho = (cond * k).argmax(-1, keepdim=True)  # last index where cond holds
    theta = css.gather(-1, rho) / (rho + 1).to(v.dtype)
    out = (v - theta).clamp_min(0)
    if mask is not None:
        out = torch.where(mask, out, torch.zeros_like(out))
    return out


def _min_norm_pgd(Q: Tensor, mask: Tensor, iters: int) -> Tensor:
    """FISTA on ``a^T Q a`` over the masked simplex, fixed ``iters`` steps."""
    L = torch.linalg.matrix_norm(Q, ord="fro").clamp_min(1e-300)  # >= largest eigenvalue
    a = mask.to(Q.dtype)
    a = a / a.sum(-1, keepdim=True).clamp_min(1)
    y, t = a, 1.0
    for _ in range(iters):
        grad = 2 * torch.einsum("pij,pj->pi", Q, y)
        a_next = project_simplex(y - grad / (2 * L[:, None]), mask)
        t_next = (1 + (1 + 4 * t * t) ** 0.5) / 2
        y = a_next + ((t - 1) / t_next) * (a_next - a)
        a, t = a_next, t_next
    return a



def min_norm_3_host(Q: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """:func:`_min_norm_3` in float64 numpy (the same seven candidates and tests).

    At one engine's sizes on a CPU numpy's per-call cost is a fraction of torch's (PMTL's
    QP for ``m = 2`` is :func:`min_norm_3_entries`); the torch version serves other devices.

    Args:
        Q: A `p x 3 x 3`-dim float64 PSD array.
        mask: A `p x 3`-dim bool array of allowed coordinates.

    Returns:
        The `p x 3` weights, or None when a row has no allowed finite candidate (the
        caller falls back to :func:`min_norm`).
    """
    Q = 0.5 * (Q + Q.transpose(0, 2, 1))
    a = min_norm_3_entries(Q[:, 0, 0], Q[:, 0, 1], Q[:, 0, 2], Q[:, 1, 1], Q[:, 1, 2],
                           Q[:, 2, 2], mask)
    return None if a is None else np.stack(a, -1)


def min_norm_3_entries(q00: np.ndarray, q01: np.ndarray, q02: np.ndarray, q11: np.ndarray,
                       q12: np.ndarray, q22: np.ndarray, mask: np.ndarray,
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The min-norm weights of three vectors from the six entries of their Gram matrix.

    The candidates of :func:`_min_norm_3`: each vertex, each edge (the 2-point closed
    form, clamped to the segment) and the triangle (its affine-hull min-norm point by
    Cramer's rule, kept when its weights are nonnegative); the least ``a^T Q a`` among
    the allowed ones. All on `p`-dim arrays, no `p x 3 x 3` tensor.

    Args:
        q00, q01, q02, q11, q12, q22: `p`-dim float64 arrays, ``Q[i, j]``.
        mask: A `p x 3`-dim bool array of allowed coordinates.

    Returns:
        The three `p`-dim weight arrays (on the simplex), or None when a row has no
        allowed finite candidate.
    """
    m0, m1, m2 = mask[:, 0], mask[:, 1], mask[:, 2]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        edges = []
        for qii, qij, qjj in ((q00, q01, q11), (q00, q02, q22), (q11, q12, q22)):
            gap = qii - qij
            den = gap + qjj - qij
            t = np.minimum(np.where(den > 0, gap / np.maximum(den, 1e-300), 0.0), 1.0)
            t = np.maximum(t, 0.0)
            edges.append((t, qii - t * (2 * gap - t * den), gap, den))
        (t01, v01, g01, d01), (t02, v02, g02, d02), (t12, v12, _, _) = edges
        m01 = q12 - q01 - q02 + q00  # D^T D with D = [y1 - y0, y2 - y0]: d01, m01, d02
        det = d01 * d02 - m01 * m01
        solvable = np.abs(det) > 1e-10 * np.maximum((np.abs(d01) + np.abs(d02)) ** 2, 1e-300)
        det = np.where(solvable, det, 1.0)
        t1, t2 = (g01 * d02 - g02 * m01) / det, (g02 * d01 - g01 * m01) / det
        t0 = 1 - t1 - t2
        tri_ok = (solvable & (t0 >= -1e-9) & (t1 >= -1e-9) & (t2 >= -1e-9) & m0 & m1 & m2)
        # candidates along axis 0 (np.array of a list: one C call, unlike np.stack)
        val = np.array([q00, q11, q22, v01, v02, v12, q00 - t1 * g01 - t2 * g02])
    ok = np.array([m0, m1, m2, m0 & m1, m0 & m2, m1 & m2, tri_ok]) & np.isfinite(val)
    val = np.where(ok, val, np.inf)
    best = val.argmin(0)
    cols = np.arange(val.shape[1])
    if not np.isfinite(val[best, cols]).all():
        return None
    zero, one = np.zeros_like(q00), np.ones_like(q00)
    a0 = np.array([one, zero, zero, 1 - t01, 1 - t02, zero, t0])[best, cols]
    a1 = np.array([zero, one, zero, t01, zero, 1 - t12, t1])[best, cols]
    a2 = np.array([zero, zero, one, zero, t02, t12, t2])[best, cols]
    a0, a1, a2 = np.maximum(a0, 0.0), np.maximum(a1, 0.0), np.maximum(a2, 0.0)
    total = np.maximum(a0 + a1 + a2, 1e-300)
    return a0 / total, a1 / total, a2 / total


@lru_cache(maxsize=64)
def _support_index(n: int, s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the ``s``-subsets of ``range(n)``: the subsets (`V x s`), their first index
    (`V`) and the rest (`V x (s-1)`), as numpy arrays (cached)."""
    S = _combinations(n, s).numpy()
    return S, S[:, 0], S[:, 1:]


def min_norm_host(Q: np.ndarray, mask: np.ndarray, max_support: int) -> np.ndarray | None:
    """:func:`min_norm` in float64 numpy for supports of at most four vectors.

    The same support enumeration (each candidate's affine-hull min-norm point; negative
    weights, masked coordinates and near-singular systems drop it; the least
    ``a^T Q a`` wins, a larger support only when better by ``1e-12`` of the scale), with
    the ``(s - 1) x (s - 1)`` systems (``s <= 4``) solved in closed form (adjugates, a
    relative determinant test instead of :func:`batched_solve`'s residual test, as
    :func:`_min_norm_3`):
    at one engine's sizes on a CPU a fraction of the torch program's dispatch cost.

    Args:
        Q: A `p x n x n`-dim float64 PSD array.
        mask: A `p x n`-dim bool array of allowed coordinates.
        max_support: Largest support tried (at most 4).

    Returns:
        A `p x n`-dim array of weights on the simplex, or None when a row has no
        candidate (degenerate input: the caller falls back to :func:`min_norm`).
    """
    s_max = max(1, min(int(max_support), Q.shape[1]))
    if s_max > 4:
        raise ValueError(f"min_norm_host solves supports of at most 4 vectors; got {s_max}.")
    with np.errstate(all="ignore"):  # singular candidates are dropped, not warned about
        return _min_norm_host(0.5 * (Q + Q.transpose(0, 2, 1)), mask, s_max)


def _min_norm_host(Q: np.ndarray, mask: np.ndarray, s_max: int) -> np.ndarray | None:
    p, n, _ = Q.shape
    diag = np.einsum("pii->pi", Q)
    scale = 1e-12 * np.maximum(diag.max(-1), 1e-300)
    rows = np.arange(p)
    best_val = np.where(mask, diag, np.inf)  # supports of one vector
    idx = best_val.argmin(1)
    best_val = best_val[rows, idx]
    best_a = np.zeros((p, n))
    best_a[rows, idx] = 1.0
    for s in range(2, s_max + 1):
        S, i0, rest = _support_index(n, s)
        q00 = diag[:, i0]  # p V
        q0k = Q[:, i0[:, None], rest]  # p V k
        qkl = Q[:, rest[:, :, None], rest[:, None, :]]  # p V k k
        M = qkl - q0k[..., :, None] - q0k[..., None, :] + q00[..., None, None]
        b = q0k - q00[..., None]
        t, ok = _solve_small(M, -b)  # near-singular systems dropped by a determinant test
        t0 = 1 - t.sum(-1)
        ok &= (t0 >= -1e-9) & (t >= -1e-9).all(-1) & mask[:, S].all(-1)
        val = np.where(ok, np.maximum(q00 + (t * b).sum(-1), 0.0), np.inf)
        j = val.argmin(1)
        v_best = val[rows, j]
        better = v_best < best_val - scale
        if better.any():
            a = np.maximum(np.concatenate([t0[rows, j][:, None], t[rows, j]], -1), 0.0)
            a /= a.sum(-1, keepdims=True)
            full = np.zeros((p, n))
            full[rows[:, None], S[j]] = a
            best_a = np.where(better[:, None], full, best_a)
            best_val = np.where(better, v_best, best_val)
    return best_a if np.isfinite(best_val).all() else None


def _solve_small(M: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``M x = b`` for `... x k x k` arrays with ``k <= 3`` by adjugates.

    Returns ``(x, ok)``; ``ok`` is False where ``|det M|`` is below ``1e-10`` of the scale
    ``(sum_i |M_ii|)^k`` (near-singular: an affinely dependent support) or ``x`` is not
    finite.
    """
    k = M.shape[-1]
    size = np.abs(np.einsum("...ii->...i", M)).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if k == 1:
            det = M[..., 0, 0]
            x = b / det[..., None]
        elif k == 2:
            m00, m01, m10, m11 = M[..., 0, 0], M[..., 0, 1], M[..., 1, 0], M[..., 1, 1]
            det = m00 * m11 - m01 * m10
            x = np.stack([m11 * b[..., 0] - m01 * b[..., 1],
                          m00 * b[..., 1] - m10 * b[..., 0]], -1) / det[..., None]
        else:  # M^-1 = adj(M) / det
            a, b_, c = M[..., 0, 0], M[..., 0, 1], M[..., 0, 2]
            d, e, f = M[..., 1, 0], M[..., 1, 1], M[..., 1, 2]
            g, h, i = M[..., 2, 0], M[..., 2, 1], M[..., 2, 2]
            A, B, C = e * i - f * h, f * g - d * i, d * h - e * g
            det = a * A + b_ * B + c * C
            y0, y1, y2 = b[..., 0], b[..., 1], b[..., 2]
            x = np.stack([A * y0 + (c * h - b_ * i) * y1 + (b_ * f - c * e) * y2,
                          B * y0 + (a * i - c * g) * y1 + (c * d - a * f) * y2,
                          C * y0 + (b_ * g - a * h) * y1 + (a * e - b_ * d) * y2],
                         -1) / det[..., None]
        ok = (np.abs(det) > 1e-10 * np.maximum(size, 1e-300) ** k) & np.isfinite(x).all(-1)
    return x, ok
