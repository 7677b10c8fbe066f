"""Front geometry shared by the coordinator and the preference adapters.

Minimization is assumed. A preference ``r`` (a point of the simplex) stands for the ray
from the origin through ``r``; a front point's direction is its ray from the origin after
objectives that go negative are shifted so that the origin lies below every point. Every
function takes NumPy arrays or torch tensors and returns the same kind (``largest_gaps``:
NumPy); computations are vectorized over all points and preferences at once.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

__all__ = ["cosine", "is_vertex", "largest_gaps", "nearest_by_angle", "normalized_frame",
           "to_simplex"]

Array = TypeVar("Array", np.ndarray, Tensor)

_EPS = 1e-12


def to_simplex(V: Array) -> Array:
    """Rows clipped at 0 (NaN and inf -> 0) and rescaled to sum to one.

    A row with nothing left (sum <= 1e-12) becomes the centroid ``1/m``.

    Args:
        V: A `p x m`-dim array or tensor.

    Returns:
        A `p x m`-dim array or tensor (like ``V``) of points of the simplex.
    """
    if isinstance(V, Tensor):
        V = torch.nan_to_num(V, nan=0.0, posinf=0.0, neginf=0.0).clamp_min(0.0)
        s = V.sum(-1, keepdim=True)
        return torch.where(s > _EPS, V / s.clamp_min(_EPS),
                           torch.full_like(V, 1.0 / V.shape[-1]))
    V = np.clip(np.nan_to_num(np.asarray(V, dtype=float), nan=0.0, posinf=0.0, neginf=0.0),
                0.0, None)
    s = V.sum(-1, keepdims=True)
    return np.where(s > _EPS, V / np.maximum(s, _EPS), 1.0 / V.shape[-1])


def cosine(F: Array, prefs: Array) -> Array:
    """Cosines between preference rays and the directions of objective vectors.

    Rays start at the origin, as in the library's preference convention; objectives
    with negative values are first shifted so that the origin is below every point. Laid
    out `p x k` so that per-preference reductions run along rows (the column-wise argmax
    of a `k x p` layout cost up to 1 s per round at p = 4096, k = 15,000).

    Args:
        F: A `k x m`-dim array or tensor of objective vectors (``k >= 1``).
        prefs: A `p x m`-dim array or tensor of preference vectors, of the same kind.

    Returns:
        A `p x k`-dim array or tensor of cosines in [-1, 1].
    """
    if isinstance(F, Tensor):
        P = torch.as_tensor(prefs).to(F)
        Z = F - torch.minimum(F.min(0).values, torch.zeros_like(F[0])) + _EPS
        Z = Z / Z.norm(dim=-1, keepdim=True)
        R = P / P.norm(dim=-1, keepdim=True).clamp_min(_EPS)
        return R @ Z.T
    F = np.asarray(F, dtype=float)
    Z = F - np.minimum(F.min(0), 0) + _EPS
    Z = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    P = np.asarray(prefs, dtype=float)
    R = P / np.maximum(np.linalg.norm(P, axis=1, keepdims=True), _EPS)
    return R @ Z.T


def nearest_by_angle(F: Array, prefs: Array) -> Array:
    """For each preference, the index of the objective vector closest to its ray.

    Args:
        F: A `k x m`-dim array or tensor of objective vectors (``k >= 1``).
        prefs: A `p x m`-dim array or tensor of preference vectors.

    Returns:
        A `p`-dim integer array or tensor of row indices into ``F`` (ties: lowest index).
    """
    return cosine(F, prefs).argmax(1)


def is_vertex(prefs: Array) -> Array:
    """Which preferences are simplex vertices (axis preferences, one nonzero entry).

    Args:
        prefs: A `p x m`-dim array or tensor of preference vectors.

    Returns:
        A `p`-dim boolean array or tensor.
    """
    return (prefs > _EPS).sum(-1) <= 1


def normalized_frame(F: Array) -> tuple[Array, Array]:
    """(origin, scale) of the normalized space ``G = (F - origin) / scale`` of a front.

    The origin is 0 (so rays through the origin stay rays), or the ideal point in the
    coordinates where the front goes negative. The scale is ``nadir - ideal`` per
    objective (RVEA's scale adaptation), a flat objective getting the largest range (or
    1), so that ``G`` is nonnegative and of unit extent in every objective.

    Args:
        F: A `k x m`-dim array or tensor of objective vectors (``k >= 1``).

    Returns:
        Two `m`-dim arrays or tensors (like ``F``): the origin and the scale.
    """
    if isinstance(F, Tensor):
        ideal, nadir = F.min(0).values, F.max(0).values
        origin = torch.minimum(ideal, torch.zeros_like(ideal))
        rng = nadir - ideal
        big = float(rng.max()) if float(rng.max()) > _EPS else 1.0
        return origin, torch.where(rng > 1e-9 * big, rng, torch.full_like(rng, big))
    F = np.asarray(F, dtype=float)
    ideal, nadir = F.min(0), F.max(0)
    rng = nadir - ideal
    big = float(rng.max()) if float(rng.max()) > _EPS else 1.0
    return np.minimum(ideal, 0.0), np.where(rng > 1e-9 * big, rng, big)


def largest_gaps(front: Array, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` largest gaps of a front, as midpoints and the pairs that bound them.

    The front is normalized by its ideal and nadir points. Candidate gaps are the
    midpoints of neighbouring pairs -- consecutive points along the front for ``m = 2``,
    each point with its ``3m`` nearest neighbours for ``m > 2`` -- scored by the distance
    from the midpoint to the nearest front point (the radius of the empty ball there).

    Args:
        front: A `n x m`-dim array or tensor of nondominated objective vectors (``n >= 2``).
        k: How many gaps (repeated, largest first, when there are fewer candidates).

    Returns:
        ``(midpoints, i, j)``: a `k x m`-dim array in the original scale, and the index
        pairs (two `k`-dim integer arrays) of the points that bound each gap.
    """
    front = np.asarray(front.detach().cpu() if isinstance(front, Tensor) else front,
                       dtype=float)
    n, m = front.shape
    lo, hi = front.min(0), front.max(0)
    z = (front - lo) / np.where(hi > lo, hi - lo, 1.0)
    if m == 2:
        order = np.argsort(z[:, 0], kind="stable")
        i, j = order[:-1], order[1:]
    else:
        d = np.linalg.norm(z[:, None, :] - z[None, :, :], axis=-1)
        nn = np.argsort(d, axis=1, kind="stable")[:, 1:1 + min(n - 1, 3 * m)]
        i, j = np.repeat(np.arange(n), nn.shape[1]), nn.ravel()
        keep = i < j
        i, j = i[keep], j[keep]
    mid = (z[i] + z[j]) / 2
    if m == 2:
        # the nearest front point to the midpoint of two neighbours is either of them:
        # every other point lies beyond one of them in both objectives (no k-d tree, ~10
        # ms at n = 3 x 10^4)
        score = np.sqrt(((mid - z[i]) ** 2).sum(axis=1))
    else:
        # distance to the nearest front point by a k-d tree: an n x n array of differences
        # took 2.4 s and 0.4 GB at n = 5000 (the coordinator re-aims on fronts that large)
        from scipy.spatial import cKDTree  # comes with pymoo

        score = cKDTree(z).query(mid)[0]
    take = np.resize(np.argsort(-score, kind="stable"), k)
    i, j = i[take], j[take]
    return (front[i] + front[j]) / 2, i, j
