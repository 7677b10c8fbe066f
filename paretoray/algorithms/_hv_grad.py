"""Gradients of the hypervolume indicator with respect to the points, batched.

Minimization is assumed: a point ``y`` (``m`` floats) dominates the box ``[y, r]`` up
to the reference point ``r`` and the hypervolume ``HV(Y)`` is the volume of the union of
those boxes. Every function here returns ``dHV/dy`` (entries ``<= 0``) for points given
with a *layer* id; each layer is a mutually nondominated set whose own HV is
differentiated (HIGA-MO's nondominated-sorting steering [Wang2017]_), so dominated
points are steered by the front they belong to and never get a zero gradient.

The derivative along axis ``k`` is, by the sweep argument of [Emmerich2014]_,

    dHV/dy_ik = -HV_{m-1}-exclusive contribution of proj_k(y_i)
                relative to {proj_k(y_j) : y_j in the same layer, y_jk < y_ik},

i.e. minus the area (volume) of the slab that disappears when ``y_ik`` grows. With a tie
``y_jk = y_ik`` the point ``j`` is left out (strict ``<``): that is the one-sided
derivative for *decreasing* ``y_ik``, the direction a descent step moves in.

* ``m = 2``: the sorted closed form (side lengths of the exclusive rectangles),
  ``O(n log n)``, all layers at once.
* ``m = 3``: exact; each slab area is a 2-D exclusive contribution, found by one sweep
  per axis over a 2-D staircase (``O(n log n)`` after [Emmerich2014]_; a host loop, the
  only one here). :func:`grad_3d_quadratic` computes the same for all points and axes
  at once by one batched sort/cummin 2-D hypervolume (``O(n^2 log n)``).
* ``m = 4, 5`` (default) or any ``m`` on request: exact, from moocore's hypervolume of
  the projections (``O(n m)`` calls of ``(m-1)``-D hypervolume).
* ``m >= 6`` (default) or any ``m`` on request: a randomized quasi-Monte-Carlo estimate
  of the same ``(m-1)``-D slab volumes, from one scrambled Sobol sample of the box
  ``[y_i, r]`` shared by all axes; unbiased for each slab, with error below plain Monte
  Carlo's ``O(n_samples^-1/2)`` (the integrands are indicators, so not ``O(1/n)``).

References:
    .. [Emmerich2014] M. Emmerich, A. Deutz. Time complexity and zeros of the
       hypervolume indicator gradient field. EVOLVE III, Springer, 2014, pp. 169-193.
    .. [Wang2017] H. Wang, A. Deutz, T. Bäck, M. Emmerich. Hypervolume Indicator Gradient
       Ascent Multi-objective Optimization. EMO 2017, LNCS 10173, pp. 654-669.
"""

from __future__ import annotations

import bisect

import numpy as np
import torch
from torch import Tensor

#: Elements per intermediate tensor before the batched computations are chunked.
_CHUNK_ELEMENTS = 1 << 24


def layers(points: Tensor) -> Tensor:
    """Layer ids: nondominated rank, with exact duplicates split into layers of their own.

    The ``c``-th copy (``c >= 1``) of a point of rank ``r`` gets the id of the pair
    ``(r, c)``; within every layer the points are unique and mutually nondominated.

    Args:
        points: A `n x m`-dim tensor.

    Returns:
        An `n`-dim long tensor of layer ids (same device as ``points``).
    """
    P = points.detach().cpu().double().numpy()
    return torch.as_tensor(layers_np(P), dtype=torch.long, device=points.device)


def layers_np(P: np.ndarray) -> np.ndarray:
    """:func:`layers` on a `n x m` float64 array: an `n`-dim int64 array of layer ids.

    Ranks from moocore's ``pareto_rank``; copies found by one lexicographic sort (a copy's
    index ``c`` counts the equal rows before it in input order).
    """
    import moocore

    n = P.shape[0]
    rank = np.asarray(moocore.pareto_rank(P), dtype=np.int64)
    if n < 2:
        return rank
    order = np.lexsort(P.T[::-1])  # rows sorted lexicographically, ties in input order
    Ps = P[order]
    new = np.ones(n, dtype=bool)
    new[1:] = (Ps[1:] != Ps[:-1]).any(1)
    if new.all():
        return rank
    pos = np.arange(n)
    start = np.maximum.accumulate(np.where(new, pos, 0))
    copy = np.empty(n, dtype=np.int64)
    copy[order] = pos - start
    return rank + copy * (int(rank.max()) + 1)


def hv2d(points: Tensor, ref: Tensor) -> Tensor:
    """Batched 2-D hypervolume of arbitrary (possibly dominated) point sets.

    ``HV = sum_j (x_(j+1) - x_(j)) * (r_2 - min_{l <= j} y_(l))`` after sorting by the
    first coordinate; points beyond ``ref`` are clamped onto it (they add nothing).

    Args:
        points: A `batch x n x 2`-dim tensor.
        ref: A `2`-dim tensor.

    Returns:
        A `batch`-dim tensor of hypervolumes.
    """
    x = torch.minimum(points[..., 0], ref[0])
    y = torch.minimum(points[..., 1], ref[1])
    xs, order = torch.sort(x, dim=-1)
    ys = torch.gather(y, -1, order)
    low = torch.cummin(ys, dim=-1).values
    right = torch.cat([xs[..., 1:], ref[0].expand(*xs.shape[:-1], 1)], dim=-1)
    return ((right - xs) * (ref[1] - low)).sum(-1)


def grad_2d(points: Tensor, layer: Tensor, ref: Tensor) -> Tensor:
    """``dHV/dy`` of each point in its own layer's 2-D hypervolume (closed form).

    Args:
        points: An `n x 2`-dim tensor of unique points strictly inside ``ref``; points
            with the same ``layer`` id are mutually nondominated.
        layer: An `n`-dim integer tensor of layer ids.
        ref: A `2`-dim tensor.

    Returns:
        An `n x 2`-dim tensor (entries < 0): ``-(y_prev_2 - y_2, x_next_1 - y_1)`` with the
        neighbours in the layer sorted by the first objective (``r`` at the ends).
    """
    n = points.shape[0]
    order = torch.sort(points[:, 0], stable=True).indices
    order = order[torch.sort(layer[order], stable=True).indices]  # by layer, then f1
    ys, ls = points[order], layer[order]
    same_prev = torch.zeros(n, dtype=torch.bool, device=points.device)
    same_prev[1:] = ls[1:] == ls[:-1]
    same_next = torch.zeros_like(same_prev)
    same_next[:-1] = same_prev[1:]
    prev_f2 = torch.where(same_prev, torch.roll(ys[:, 1], 1), ref[1])
    next_f1 = torch.where(same_next, torch.roll(ys[:, 0], -1), ref[0])
    g = -torch.stack([prev_f2 - ys[:, 1], next_f1 - ys[:, 0]], dim=1)
    out = torch.empty_like(g)
    out[order] = g
    return out


def grad_2d_np(P: np.ndarray, layer: np.ndarray | None, ref: np.ndarray) -> np.ndarray:
    """:func:`grad_2d` on float64 arrays (`n x 2`, `n` or None, `2`): an `n x 2` array.

    The same neighbours (sorted by layer, then the first objective; within a layer the
    first objectives differ, as weakly dominated points rank later). ``layer=None``: the
    layer ids are found here, with a shortcut for the common case of one nondominated
    set of unique points (first objective increasing, second decreasing once sorted)
    that skips moocore. numpy's per-call cost is a fraction of torch's at one engine's
    sizes.
    """
    n = P.shape[0]
    order = None
    if layer is None:
        order = np.argsort(P[:, 0], kind="stable")  # ties in f1 fail the check below
        ys = P[order]
        if not ((ys[1:, 0] > ys[:-1, 0]).all() and (ys[1:, 1] < ys[:-1, 1]).all()):
            layer, order = layers_np(P), None
    prev_f2, next_f1 = np.empty(n), np.empty(n)
    prev_f2[0], next_f1[-1] = ref[1], ref[0]
    if order is None:
        order = np.lexsort((P[:, 0], layer))
        ys = P[order]
        same = layer[order]
        same = same[1:] == same[:-1]
        prev_f2[1:] = np.where(same, ys[:-1, 1], ref[1])
        next_f1[:-1] = np.where(same, ys[1:, 0], ref[0])
    else:  # one layer: every neighbour counts
        prev_f2[1:] = ys[:-1, 1]
        next_f1[:-1] = ys[1:, 0]
    out = np.empty((n, 2))
    out[order, 0] = ys[:, 1] - prev_f2
    out[order, 1] = ys[:, 0] - next_f1
    return out


def grad_3d(points: Tensor, layer: Tensor, ref: Tensor, rows: Tensor) -> Tensor:
    """Exact ``dHV/dy`` in 3-D for the points ``rows``: one sweep per axis, ``O(n log n)``.

    For axis ``k`` the points are visited in increasing ``y_k`` (layer by layer) while a
    2-D staircase of the projections seen so far (axis ``k`` dropped, kept sorted by the
    first remaining coordinate) is maintained [Emmerich2014]_. The slab of point ``a`` is
    the area between ``a'`` and the staircase up to ``r'``: a walk over the staircase
    points that ``a'`` dominates (they are then removed, so every point is removed at
    most once) plus two binary searches. Points with equal ``y_k`` are all measured
    before any of them is inserted (strict ``<``, as :func:`grad_3d_quadratic`).

    Args:
        points: An `n x 3`-dim tensor of unique points strictly inside ``ref``.
        layer: An `n`-dim integer tensor of layer ids.
        ref: A `3`-dim tensor.
        rows: A `b`-dim index tensor: the points whose gradient is wanted.

    Returns:
        A `b x 3`-dim tensor (entries <= 0).
    """
    P = points.detach().cpu().double().numpy()
    L = layer.detach().cpu().numpy()
    r = ref.detach().cpu().double().numpy()
    out = grad_3d_np(P, L, r)
    idx = rows.detach().cpu().numpy()
    return -torch.as_tensor(out[idx], dtype=points.dtype, device=points.device)


def grad_3d_np(P: np.ndarray, L: np.ndarray, r: np.ndarray) -> np.ndarray:
    """The slab areas of :func:`grad_3d` on float64 arrays: an `n x 3` array (``>= 0``,
    ``-dHV/dy``) for `n x 3` points, `n` layer ids and a `3`-dim reference point."""
    n = P.shape[0]
    out = np.zeros((n, 3))
    for k in range(3):
        a, b = [c for c in range(3) if c != k]
        rx, ry = float(r[a]), float(r[b])
        order = np.lexsort((P[:, k], L))  # by layer, then y_k
        col_x, col_y, col_k = P[order, a].tolist(), P[order, b].tolist(), P[order, k].tolist()
        lay = L[order].tolist()
        slab = [0.0] * n
        xs: list[float] = []
        ys: list[float] = []
        i = 0
        while i < n:
            if i == 0 or lay[i] != lay[i - 1]:
                xs, ys = [], []  # a new layer: empty staircase
            j = i  # the group of equal (layer, y_k)
            while j + 1 < n and lay[j + 1] == lay[i] and col_k[j + 1] == col_k[i]:
                j += 1
            if j == i:  # one point (the common case): measure and insert, one search
                ax, ay = col_x[i], col_y[i]
                i0 = bisect.bisect_right(xs, ax)
                if i0 and ys[i0 - 1] <= ay:
                    i += 1
                    continue  # dominated: no slab, the staircase does not change
                h, area, cur_x, t, nx = ys[i0 - 1] if i0 else ry, 0.0, ax, i0, len(xs)
                while t < nx:  # as _staircase_gap
                    area += (xs[t] - cur_x) * (h - ay)
                    if ys[t] <= ay:
                        break
                    cur_x, h = xs[t], ys[t]
                    t += 1
                else:
                    area += (rx - cur_x) * (h - ay)
                slab[i] = area
                lo = i0 - 1 if i0 and xs[i0 - 1] == ax else i0  # as _staircase_insert
                hi = i0
                while hi < nx and ys[hi] >= ay:
                    hi += 1
                xs[lo:hi] = [ax]
                ys[lo:hi] = [ay]
                i += 1
                continue
            for t in range(i, j + 1):
                slab[t] = _staircase_gap(xs, ys, col_x[t], col_y[t], rx, ry)
            for t in range(i, j + 1):
                _staircase_insert(xs, ys, col_x[t], col_y[t])
            i = j + 1
        out[order, k] = slab
    return out


def _staircase_gap(xs: list[float], ys: list[float], ax: float, ay: float, rx: float,
                   ry: float) -> float:
    """Area of ``[a, r]`` not dominated by the staircase ``(xs ascending, ys descending)``."""
    i0 = bisect.bisect_right(xs, ax)
    h = ys[i0 - 1] if i0 else ry
    if h <= ay:
        return 0.0  # a' is dominated
    area, cur_x = 0.0, ax
    for j in range(i0, len(xs)):
        area += (xs[j] - cur_x) * (h - ay)
        if ys[j] <= ay:
            return area
        cur_x, h = xs[j], ys[j]
    return area + (rx - cur_x) * (h - ay)


def _staircase_insert(xs: list[float], ys: list[float], ax: float, ay: float) -> None:
    """Insert ``a`` into the staircase, removing the points it weakly dominates."""
    i0 = bisect.bisect_right(xs, ax)
    if i0 and ys[i0 - 1] <= ay:
        return  # dominated: the staircase does not change
    lo = bisect.bisect_left(xs, ax)  # a point with the same x and a larger y goes
    hi = i0
    while hi < len(xs) and ys[hi] >= ay:
        hi += 1
    xs[lo:hi] = [ax]
    ys[lo:hi] = [ay]


def grad_3d_quadratic(points: Tensor, layer: Tensor, ref: Tensor, rows: Tensor) -> Tensor:
    """Exact ``dHV/dy`` in 3-D for the points ``rows`` (batched 2-D slab areas).

    The slab of point ``a`` along axis ``k`` is the box ``[a', r']`` (``'`` = axis ``k``
    dropped) minus the part dominated by ``S`` (same layer, smaller ``k``-coordinate);
    that part is the hypervolume of ``max(s', a')``, so one batched :func:`hv2d` does
    every (row, axis) pair at once.

    Args:
        points: An `n x 3`-dim tensor of unique points strictly inside ``ref``.
        layer: An `n`-dim integer tensor of layer ids.
        ref: A `3`-dim tensor.
        rows: A `b`-dim index tensor: the points whose gradient is wanted.

    The former default (``O(n^2 log n)``, fully batched torch); kept as the independent
    check of :func:`grad_3d`.

    Returns:
        A `b x 3`-dim tensor (entries < 0).
    """
    n = points.shape[0]
    out = []
    step = max(1, _CHUNK_ELEMENTS // max(1, 6 * n))
    for start in range(0, rows.numel(), step):
        idx = rows[start:start + step]
        a = points[idx]  # b x 3
        member = (layer[None, :] == layer[idx, None])  # b x n
        slabs = []
        for k in range(3):
            keep = [c for c in range(3) if c != k]
            mask = member & (points[None, :, k] < a[:, None, k])  # b x n
            rp = ref[keep]
            s = torch.maximum(points[None, :, keep], a[:, None, keep])  # b x n x 2
            s = torch.where(mask[..., None], s, rp)
            box = (rp - a[:, keep]).prod(-1)
            slabs.append(box - hv2d(s, rp))
        out.append(-torch.stack(slabs, dim=1))
    return torch.cat(out) if out else points.new_zeros(0, 3)


def grad_mc(points: Tensor, layer: Tensor, ref: Tensor, rows: Tensor, n_samples: int,
            seed: int) -> Tensor:
    """Quasi-Monte-Carlo ``dHV/dy`` for any ``m`` (the default for ``m >= 6``).

    For point ``a`` a scrambled Sobol sample ``z`` of the box ``[a, r]`` (the same
    unit-cube sample for every point, fixed by ``seed``) is drawn once; for axis ``k`` a
    sample counts toward the slab when no same-layer point with smaller ``k``-coordinate
    dominates it with axis ``k`` ignored. Slab volume = box volume (axis ``k`` dropped)
    times the uncovered fraction.

    Args:
        points: An `n x m`-dim tensor of unique points strictly inside ``ref``.
        layer: An `n`-dim integer tensor of layer ids.
        ref: An `m`-dim tensor.
        rows: A `b`-dim index tensor: the points whose gradient is wanted.
        n_samples: Sample size per point.
        seed: Seed of the Sobol scrambling.

    Returns:
        A `b x m`-dim tensor (entries <= 0).
    """
    m = points.shape[1]
    sobol = torch.quasirandom.SobolEngine(m, scramble=True, seed=int(seed))
    u = sobol.draw(int(n_samples), dtype=torch.float64).to(points.device, points.dtype)
    out = points.new_zeros(rows.numel(), m)
    drop = [[c for c in range(m) if c != k] for k in range(m)]
    for lay in torch.unique(layer[rows]).tolist():  # candidates come from one layer only
        sel = (layer[rows] == lay).nonzero().squeeze(1)
        pts = points[layer == lay]  # n_l x m
        step = max(1, _CHUNK_ELEMENTS // max(1, u.shape[0] * pts.shape[0] * m))
        for start in range(0, sel.numel(), step):
            where = sel[start:start + step]
            a = points[rows[where]]  # b x m
            z = a[:, None, :] + u[None] * (ref - a)[:, None, :]  # b x s x m
            le = pts[None, None, :, :] <= z[:, :, None, :]  # b x s x n_l x m
            n_fail = (~le).sum(-1, keepdim=True)  # b x s x n_l x 1
            dom_wo_k = (n_fail == 0) | ((n_fail == 1) & ~le)  # dominated with axis k ignored
            cand = pts[None, :, :] < a[:, None, :]  # b x n_l x m
            covered = (dom_wo_k & cand[:, None]).any(2)  # b x s x m
            frac = 1.0 - covered.to(points.dtype).mean(1)  # b x m
            side = ref - a
            vol = torch.stack([side[:, d].prod(-1) for d in drop], dim=1)
            out[where] = -vol * frac
    return out


def grad_exact_moocore(points: Tensor, layer: Tensor, ref: Tensor, rows: Tensor) -> Tensor:
    """Exact ``dHV/dy`` for any ``m`` with moocore's hypervolume of the projections.

    One moocore call per (point, axis): ``O(b m)`` calls of ``(m-1)``-D hypervolume;
    exact but slow for large populations with ``m >= 5``.

    Args:
        points: An `n x m`-dim tensor of unique points strictly inside ``ref``.
        layer: An `n`-dim integer tensor of layer ids.
        ref: An `m`-dim tensor.
        rows: A `b`-dim index tensor: the points whose gradient is wanted.

    Returns:
        A `b x m`-dim tensor (entries < 0).
    """
    import moocore

    P = points.detach().cpu().double().numpy()
    L = layer.cpu().numpy()
    r = ref.detach().cpu().double().numpy()
    m = P.shape[1]
    out = np.zeros((rows.numel(), m))
    for b, i in enumerate(rows.cpu().tolist()):
        for k in range(m):
            keep = [c for c in range(m) if c != k]
            mask = (L[i] == L) & (P[:, k] < P[i, k])
            box = float(np.prod(r[keep] - P[i, keep]))
            covered = 0.0
            if mask.any():
                s = np.maximum(P[mask][:, keep], P[i, keep])
                covered = float(moocore.hypervolume(s, ref=r[keep]))
            out[b, k] = -(box - covered)
    return torch.as_tensor(out, dtype=points.dtype, device=points.device)
