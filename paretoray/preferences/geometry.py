"""Front geometry shared by the coordinator and the preference adapters.

Preference vectors are rays from the origin (objectives are first shifted so that the
origin lies below every point when some objective goes negative). Minimization is assumed.
Arrays are numpy; shapes use `k` for front points and `p` for preference vectors.
"""

from __future__ import annotations

import numpy as np


def to_simplex(v: np.ndarray) -> np.ndarray:
    """Rows clipped at 0 and scaled to sum to 1 (all-zero rows become uniform).

    Args:
        v: A `p x m`-dim array.

    Returns:
        A `p x m`-dim array with rows on the simplex.
    """
    v = np.clip(np.asarray(v, dtype=float), 0, None)
    s = v.sum(1, keepdims=True)
    return np.where(s > 0, v / np.where(s > 0, s, 1), 1.0 / v.shape[1])


def cosine(F: np.ndarray, prefs: np.ndarray) -> np.ndarray:
    """A `p x k`-dim array of cosines between preference rays and objective vectors.

    Laid out `p x k` so that per-preference reductions run along rows: the column-wise
    argmax of a `k x p` layout cost up to 1 s per round at p = 4096, k = 15,000.

    Args:
        F: A `k x m`-dim array of objective vectors.
        prefs: A `p x m`-dim array of preference vectors.
    """
    Z = F - np.minimum(F.min(0), 0) + 1e-12
    Z = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    R = prefs / np.maximum(np.linalg.norm(prefs, axis=1, keepdims=True), 1e-12)
    return R @ Z.T


def nearest_by_angle(F: np.ndarray, prefs: np.ndarray) -> np.ndarray:
    """For each preference, the index of the front point closest to its ray (a `p`-dim array)."""
    return cosine(F, prefs).argmax(1)


def largest_gaps(front: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` largest gaps of a front, as midpoints and the pairs that bound them.

    The front is normalized by its ideal and nadir points. Candidate gaps are the
    midpoints of neighbouring pairs -- consecutive points along the front for ``m = 2``,
    each point with its ``3m`` nearest neighbours for ``m > 2`` -- scored by the distance
    from the midpoint to the nearest front point (the radius of the empty ball there).

    Args:
        front: A `n x m`-dim array of nondominated objective vectors (``n >= 2``).
        k: How many gaps (repeated, largest first, when there are fewer candidates).

    Returns:
        ``(midpoints, i, j)``: a `k x m`-dim array in the original scale, and the index
        pairs of the points that bound each gap.
    """
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
    score = np.linalg.norm(mid[:, None, :] - z[None, :, :], axis=-1).min(1)
    take = np.resize(np.argsort(-score, kind="stable"), k)
    i, j = i[take], j[take]
    return (front[i] + front[j]) / 2, i, j
