"""Tests of paretoray/preferences/geometry.py: simplex projection, cosines, nearest rays, gaps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from paretoray.preferences.geometry import (
    cosine,
    is_vertex,
    largest_gaps,
    nearest_by_angle,
    normalized_frame,
    to_simplex,
)


def test_to_simplex_numpy_and_torch():
    V = np.array([[2.0, 2.0], [-1.0, 3.0], [0.0, 0.0], [np.nan, 1.0], [np.inf, 1.0]])
    want = np.array([[0.5, 0.5], [0.0, 1.0], [0.5, 0.5], [0.0, 1.0], [0.0, 1.0]])
    np.testing.assert_array_equal(to_simplex(V), want)
    out = to_simplex(torch.tensor(V, dtype=torch.float32))
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, torch.tensor(want, dtype=torch.float32))


def test_cosine_matches_scipy_and_shifts_negative_objectives():
    rng = np.random.default_rng(0)
    F = rng.uniform(0.1, 2.0, (50, 3))
    P = rng.dirichlet(np.ones(3), 7)
    C = cosine(F, P)
    assert C.shape == (7, 50)  # p x k
    np.testing.assert_allclose(C, 1.0 - cdist(P, F, "cosine"), atol=1e-9)
    # negative objectives: the rays start below every point (shift by the ideal's negative part)
    G = F - np.array([1.0, 0.0, 0.5])
    shifted = G - np.minimum(G.min(0), 0)
    np.testing.assert_allclose(cosine(G, P), 1.0 - cdist(P, shifted, "cosine"), atol=1e-9)
    Ct = cosine(torch.tensor(G), torch.tensor(P))
    np.testing.assert_allclose(Ct.numpy(), cosine(G, P), atol=1e-12)


def test_nearest_by_angle_on_a_quarter_circle():
    """m = 2: the nearest point to a ray is the one at the closest polar angle (atan2)."""
    theta_f = np.linspace(0, np.pi / 2, 91)
    F = np.stack([np.cos(theta_f), np.sin(theta_f)], -1)
    theta_p = np.deg2rad([3.2, 44.6, 89.9, 0.0])
    P = to_simplex(np.stack([np.cos(theta_p), np.sin(theta_p)], -1))
    want = np.abs(theta_f[None, :] - np.arctan2(P[:, 1], P[:, 0])[:, None]).argmin(1)
    np.testing.assert_array_equal(nearest_by_angle(F, P), want)
    np.testing.assert_array_equal(want, [3, 45, 90, 0])
    np.testing.assert_array_equal(nearest_by_angle(torch.tensor(F), torch.tensor(P)).numpy(),
                                  want)


def test_largest_gaps_finds_the_hole_of_a_front():
    """A linear front sampled everywhere but (0.4, 0.7): the largest gap is that hole."""
    t = np.concatenate([np.linspace(0, 0.4, 9), np.linspace(0.7, 1.0, 7)])
    front = np.stack([t, 1 - t], -1)
    mid, i, j = largest_gaps(front, 3)
    np.testing.assert_allclose(mid[0], [0.55, 0.45])
    assert {float(front[i[0], 0]), float(front[j[0], 0])} == {0.4, 0.7}
    # the next gaps are the regular spacing of the denser part (0.05), not the hole again
    assert np.allclose(np.abs(front[i[1:], 0] - front[j[1:], 0]), 0.05)
    # torch input gives the same answer as numpy
    mid_t, i_t, j_t = largest_gaps(torch.tensor(front), 3)
    np.testing.assert_array_equal(mid_t, mid)
    np.testing.assert_array_equal(np.stack([i_t, j_t]), np.stack([i, j]))


def test_largest_gaps_2d_scores_are_the_nearest_front_distances():
    """For m = 2 the score is the distance to one end of the pair; on nondominated fronts
    that is the distance to the nearest front point, as a k-d tree over the front finds."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(4)
    for n in (2, 3, 50, 2000):
        u = np.sort(rng.random(n) ** 2)  # uneven spacing: distinct gaps
        front = np.stack([u, 1 - np.sqrt(u)], -1) * [3.0, 0.5] + [-1.0, 2.0]
        front = front[rng.permutation(n)]
        k = min(n - 1, 7)
        mid, i, j = largest_gaps(front, k)
        z = (front - front.min(0)) / (front.max(0) - front.min(0))
        order = np.argsort(z[:, 0])
        a, b = order[:-1], order[1:]
        score = cKDTree(z).query((z[a] + z[b]) / 2)[0]
        best = np.argsort(-score, kind="stable")[:k]
        np.testing.assert_array_equal(np.sort(np.stack([i, j]), 0),
                                      np.sort(np.stack([a[best], b[best]]), 0))
        np.testing.assert_allclose(mid, (front[a[best]] + front[b[best]]) / 2)


@pytest.mark.parametrize("m", [3, 4])
def test_largest_gaps_m_above_two_prefers_empty_regions(m):
    rng = np.random.default_rng(1)
    P = rng.dirichlet(np.ones(m), 400)
    keep = P[:, 0] < 0.5  # nothing with a large first coordinate
    mid, i, j = largest_gaps(P[keep] / np.linalg.norm(P[keep], axis=1, keepdims=True), 1)
    assert mid.shape == (1, m) and i.shape == j.shape == (1,)
    # the gap chosen borders the empty region: its midpoint has a larger first coordinate
    # than the average front point
    front = P[keep] / np.linalg.norm(P[keep], axis=1, keepdims=True)
    assert mid[0, 0] > np.median(front[:, 0])


def test_is_vertex_and_normalized_frame():
    P = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    np.testing.assert_array_equal(is_vertex(P), [True, True, False])
    assert is_vertex(torch.tensor(P)).tolist() == [True, True, False]
    F = np.array([[-1.0, 4.0], [1.0, 2.0], [3.0, 2.0]])
    origin, scale = normalized_frame(F)
    np.testing.assert_array_equal(origin, [-1.0, 0.0])  # negative part of the ideal only
    np.testing.assert_array_equal(scale, [4.0, 2.0])  # nadir - ideal
    o_t, s_t = normalized_frame(torch.tensor(F))
    assert o_t.tolist() == [-1.0, 0.0] and s_t.tolist() == [4.0, 2.0]
