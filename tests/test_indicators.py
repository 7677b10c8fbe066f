"""Indicators against independent truth: brute-force hypervolume (inclusion-exclusion),
brute-force dominance, a loop definition of spacing, and pymoo's indicators."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from paretoray import indicators as ind
from paretoray.errors import ConfigError, ShapeError
from paretoray.indicators import (
    HypervolumeIndicator,
    hypervolume,
    hypervolume_contributions,
    igd,
    igd_plus,
    is_nondominated,
    nondominated,
    spacing,
)

DTYPES = (np.float32, np.float64)


# --------------------------------------------------------------------------- brute force
def brute_hv(F: np.ndarray, ref: np.ndarray) -> float:
    """Inclusion-exclusion over every subset of the points that strictly dominate ``ref``."""
    P = [p for p in np.asarray(F, dtype=np.float64) if (p < ref).all()]
    total = 0.0
    for r in range(1, len(P) + 1):
        for S in itertools.combinations(P, r):
            corner = np.max(S, axis=0)
            total += (-1) ** (r + 1) * float(np.prod(ref - corner))
    return total


def brute_dominated(F: np.ndarray) -> np.ndarray:
    """``dominated[i]``: some row is <= everywhere and < somewhere (O(k^2) loops)."""
    k = len(F)
    return np.array(
        [any((F[j] <= F[i]).all() and (F[j] < F[i]).any() for j in range(k)) for i in range(k)],
        dtype=bool,
    ).reshape(k)


def brute_nondominated_first(F: np.ndarray) -> np.ndarray:
    """Nondominated, and the first of identical rows."""
    dom = brute_dominated(F)
    first = np.array(
        [not any((F[j] == F[i]).all() for j in range(i)) for i in range(len(F))], dtype=bool
    )
    return ~dom & first


def random_set(rng, k: int, m: int, dtype) -> np.ndarray:
    """Points in [0, 1.2]^m, some outside ref = 1, with a duplicate and a dominated point."""
    F = rng.random((k, m)) * 1.2
    if k >= 3:
        F[1] = F[0]  # duplicate
        F[2] = F[0] + 0.05  # dominated by row 0
    return F.astype(dtype)


# --------------------------------------------------------------------------- hypervolume
def test_hypervolume_moocore_doc_example():
    F = [[5, 5], [4, 6], [2, 7], [7, 4]]
    assert hypervolume(F, ref=[10, 10]) == 38.0
    assert HypervolumeIndicator([10, 10])(np.array(F)) == 38.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", [1, 2, 3, 4, 5])
def test_hypervolume_matches_inclusion_exclusion(dtype, m):
    rng = np.random.default_rng(m)
    ref = np.ones(m)
    for k in (0, 1, 4, 9):
        F = random_set(rng, k, m, dtype).reshape(k, m)
        truth = brute_hv(F, ref)
        assert hypervolume(F, ref=ref) == pytest.approx(truth, rel=1e-12, abs=1e-15)
        assert hypervolume(torch.as_tensor(F), ref=ref) == pytest.approx(
            truth, rel=1e-12, abs=1e-15
        )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", [2, 3])
def test_hypervolume_matches_pymoo(dtype, m):
    from pymoo.indicators.hv import HV

    rng = np.random.default_rng(7)
    F = random_set(rng, 200, m, dtype)
    ref = np.full(m, 1.1)
    assert hypervolume(F, ref=ref) == pytest.approx(
        HV(ref_point=ref)(F.astype(np.float64)), rel=1e-12
    )


def test_hypervolume_2d_fast_path_equals_moocore_on_large_sets():
    import moocore

    rng = np.random.default_rng(0)
    F = rng.random((5000, 2))
    F = np.vstack([F, F[:100]])  # duplicates
    assert hypervolume(F, ref=[0.9, 0.95]) == pytest.approx(
        moocore.hypervolume(F, ref=[0.9, 0.95]), rel=1e-12
    )


def test_hypervolume_2d_with_ties_in_the_first_objective_equals_moocore():
    """The 2-D path sorts by f1 alone: groups of equal f1 (in any order) change nothing."""
    import moocore

    rng = np.random.default_rng(3)
    for _ in range(200):
        F = rng.integers(0, 6, size=(int(rng.integers(1, 40)), 2)).astype(np.float64)
        assert hypervolume(F, ref=[6.5, 7.0]) == pytest.approx(
            moocore.hypervolume(F, ref=[6.5, 7.0]), rel=1e-12, abs=0)


def test_hypervolume_ignores_points_not_strictly_dominating_ref():
    ref = [1.0, 1.0]
    assert hypervolume([[1.0, 0.0], [0.5, 1.0], [2.0, -5.0]], ref=ref) == 0.0
    assert hypervolume([[0.5, 0.5], [1.0, 0.0]], ref=ref) == pytest.approx(0.25)
    assert hypervolume(np.zeros((0, 3)), ref=[1, 1, 1]) == 0.0
    assert hypervolume([[0.25], [0.5]], ref=[1.0]) == 0.75
    assert hypervolume([[0.5, 0.5]], ref=2.0) == 2.25  # scalar ref is broadcast


def test_hypervolume_errors_name_shapes_and_ref():
    with pytest.raises(ShapeError, match="k x m"):
        hypervolume(np.ones(3), ref=[2, 2, 2])
    with pytest.raises(ShapeError, match=r"length 3.*ref.shape=\(2,\)"):
        hypervolume(np.ones((4, 3)), ref=[2, 2])
    with pytest.raises(ConfigError, match="row 1"):
        hypervolume([[0.1, 0.2], [np.nan, 0.1]], ref=[1, 1])
    with pytest.raises(ConfigError, match="finite"):
        hypervolume([[0.1, 0.2]], ref=[1, np.inf])
    with pytest.raises(ShapeError, match="2 columns"):
        HypervolumeIndicator([1.0, 1.0])(np.ones((3, 3)))


def test_hypervolume_indicator_repr_and_input_immutability():
    hv = HypervolumeIndicator(ref=torch.tensor([1.0, 2.0]))
    assert repr(hv) == "HypervolumeIndicator(ref=[1.0, 2.0])"
    F = np.array([[0.5, 0.5], [0.2, 0.9]], dtype=np.float32)
    before = F.copy()
    hv(F), hypervolume_contributions(F, ref=[1, 2]), nondominated(F), spacing(F)
    np.testing.assert_array_equal(F, before)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_hypervolume_contributions_match_brute_force(dtype, m):
    rng = np.random.default_rng(10 + m)
    F = random_set(rng, 8, m, dtype)
    ref = np.ones(m)
    got = hypervolume_contributions(F, ref=ref)
    F64 = F.astype(np.float64)
    keep = brute_nondominated_first(F64) & (ref > F64).all(1)
    dup = np.array([sum((F64[j] == F64[i]).all() for j in range(len(F64))) > 1 for i in range(8)])
    nd = F64[keep]
    total = brute_hv(nd, ref)
    want = np.zeros(8)
    for i in np.flatnonzero(keep & ~dup):
        want[i] = total - brute_hv(F64[keep & (np.arange(8) != i)], ref)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)
    assert got.shape == (8,) and got[1] == 0.0 and got[2] == 0.0  # duplicate, dominated


# --------------------------------------------------------------------------- IGD, IGD+
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", [2, 3])
def test_igd_and_igd_plus_match_pymoo(dtype, m):
    from pymoo.indicators.igd import IGD
    from pymoo.indicators.igd_plus import IGDPlus

    rng = np.random.default_rng(3)
    F = rng.random((40, m)).astype(dtype)
    front = rng.random((60, m))
    front /= front.sum(1, keepdims=True)
    F64 = F.astype(np.float64)
    assert igd(F, front) == pytest.approx(IGD(front)(F64), rel=1e-12)
    assert igd_plus(torch.as_tensor(F), front) == pytest.approx(IGDPlus(front)(F64), rel=1e-12)


@pytest.mark.parametrize("m", [2, 3])
def test_igd_of_large_sets_matches_pymoo(m):
    """Past ~2 x 10^5 pairs igd searches a k-d tree: the same exact distances."""
    from pymoo.indicators.igd import IGD

    rng = np.random.default_rng(5)
    F = rng.random((900, m))
    front = rng.random((1200, m))
    front /= front.sum(1, keepdims=True)
    F[:5] = front[:5]  # some reference points met exactly (distance 0)
    assert igd(F, front) == pytest.approx(IGD(front)(F), rel=1e-12)


def test_igd_definitions_by_hand():
    front = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert igd(front, front) == 0.0
    # (0.5, 0.5) is 0.5*sqrt(2) from both front points.
    assert igd([[0.5, 0.5]], front) == pytest.approx(math.sqrt(0.5))
    # d+ counts only where F is worse: (0, 2) vs (0, 1) -> 1; vs (1, 0) -> 2.
    assert igd_plus([[0.0, 2.0]], front) == pytest.approx((1.0 + 2.0) / 2)
    assert igd_plus([[-1.0, -1.0]], front) == 0.0  # dominates the whole front
    assert igd(np.zeros((0, 2)), front) == math.inf
    with pytest.raises(ShapeError, match="at least one point"):
        igd([[0.0, 1.0]], np.zeros((0, 2)))
    with pytest.raises(ShapeError, match="front"):
        igd_plus([[0.0, 1.0]], np.zeros((3, 3)))


# --------------------------------------------------------------------------- spacing
def brute_spacing(F: np.ndarray) -> float:
    k = len(F)
    d = [min(np.abs(F[i] - F[j]).sum() for j in range(k) if j != i) for i in range(k)]
    dm = sum(d) / k
    return math.sqrt(sum((di - dm) ** 2 for di in d) / (k - 1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_spacing_matches_definition_and_pymoo(dtype, monkeypatch):
    from pymoo.indicators.spacing import SpacingIndicator

    rng = np.random.default_rng(5)
    F = rng.random((30, 3)).astype(dtype)
    want = brute_spacing(F.astype(np.float64))
    assert spacing(F) == pytest.approx(want, rel=1e-12)
    # pymoo divides by k, Schott by k - 1.
    pym = SpacingIndicator()(F.astype(np.float64))
    assert spacing(F) * math.sqrt(29 / 30) == pytest.approx(pym, rel=1e-12)
    monkeypatch.setattr(ind, "_CHUNK_FLOATS", 7 * 30 * 3)  # force several chunks
    assert spacing(F) == pytest.approx(want, rel=1e-12)


def test_spacing_even_sets_and_tiny_sets():
    t = np.linspace(0, 1, 11)
    assert spacing(np.stack([t, 1 - t], 1)) == pytest.approx(0.0, abs=1e-12)
    assert spacing([[0.0, 1.0]]) == 0.0
    assert spacing([[0.0, 1.0], [1.0, 0.0]]) == 0.0
    assert spacing([[0.0, 1.0], [0.1, 0.9], [1.0, 0.0]]) > 0


# --------------------------------------------------------------------------- nondominated
@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_is_nondominated_matches_brute_force(m):
    rng = np.random.default_rng(m)
    F = rng.integers(0, 4, size=(60, m)).astype(float)  # many ties and duplicates
    np.testing.assert_array_equal(is_nondominated(F), brute_nondominated_first(F))
    np.testing.assert_array_equal(is_nondominated(F, keep_duplicates=True), ~brute_dominated(F))


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(0, 12), st.integers(2, 3)), elements=st.integers(0, 3))
)
def test_is_nondominated_property(F):
    mask = is_nondominated(F)
    np.testing.assert_array_equal(mask, brute_nondominated_first(F))
    kept = nondominated(F)
    assert len(kept) == len(np.unique(kept, axis=0))  # no duplicates kept


@pytest.mark.parametrize("dtype", DTYPES)
def test_nondominated_filters_in_order_and_keeps_dtype(dtype):
    F = np.array([[1, 1], [0, 1], [1, 0], [1, 0], [2, 2]], dtype=dtype)
    out = nondominated(F)
    np.testing.assert_array_equal(out, np.array([[0, 1], [1, 0]], dtype=dtype))
    assert out.dtype == dtype
    assert nondominated(F, keep_duplicates=True).shape == (3, 2)
    t = torch.tensor(F, requires_grad=True)
    np.testing.assert_array_equal(is_nondominated(t), [False, True, True, False, False])
    assert is_nondominated(np.zeros((0, 2))).shape == (0,)
    with pytest.raises(ShapeError):
        is_nondominated(np.ones((2, 2, 2)))


def test_default_ref_point_is_worse_than_every_point_on_every_axis():
    """1.1 * max for positive maxima; for a non-positive maximum still above it (a tenth
    of |max|, of the spread where max == 0, or 1 where every point has the same 0); the
    ParetoSet and the dashboard take theirs from it."""
    from paretoray.archive import ParetoSet
    from paretoray.viz.data import _ref_point

    F = np.array([[1.0, -2.0, 0.0, 0.0], [2.0, -4.0, -3.0, 0.0]])
    np.testing.assert_allclose(ind.default_ref_point(F), [2.2, -1.8, 0.3, 1.0])
    rng = np.random.default_rng(0)
    for _ in range(200):
        P = rng.normal(size=(int(rng.integers(1, 30)), 3)) * rng.choice([0.0, 1.0, 10.0], 3)
        assert np.all(ind.default_ref_point(P) > P.max(axis=0))
    np.testing.assert_array_equal(ind.default_ref_point(np.empty((0, 2))), [1.0, 1.0])
    pos = np.array([[0.0, 1.0], [1.0, 0.5]])
    np.testing.assert_allclose(ParetoSet.from_arrays(pos).default_ref_point(), [1.1, 1.1])
    np.testing.assert_allclose(_ref_point({"n_obj": 2}, None, pos, np.ones(2)), [1.1, 1.1])


def test_igd_of_a_2d_front_by_binary_search_equals_the_nearest_neighbours_of_a_kd_tree():
    """Large 2-D fronts (a staircase: f2 never rises along f1) take IGD by binary search;
    every value equals the mean of scipy's exact nearest distances, near the true front
    and far from it (where the k-d tree takes over), with ties in f1 and f2, and for a
    set that is no staircase."""
    from scipy.spatial import cKDTree

    from paretoray.archive.merge import nondominated_mask

    rng = np.random.default_rng(7)
    t = np.linspace(0, 1, 500)
    truth = np.stack([t, 1 - np.sqrt(t)], axis=1)
    used = []
    for offset in (0.0005, 0.002, 0.01, 0.3):
        u = rng.random(20_000)
        u[:200] = np.round(u[:200], 2)  # ties in f1
        F = np.stack([u, 1 - np.sqrt(u) + 0.002 * rng.random(20_000)], axis=1)
        F = F[nondominated_mask(F)] + [0.0, offset]  # a front that far above the truth
        expected = cKDTree(F).query(truth)[0].mean()
        assert ind.igd(F, truth) == pytest.approx(expected, rel=1e-12, abs=0)
        used.append(ind._igd_staircase(F, truth) is not None)
        steps = np.repeat(F[::50], 3, axis=0)  # repeated points: still a staircase
        assert ind.igd(steps, truth) == pytest.approx(cKDTree(steps).query(truth)[0].mean(),
                                                      rel=1e-12, abs=0)
    assert used[0] and not used[-1]  # near the truth by search, far by the tree
    cloud = rng.random((5000, 2))  # no staircase: the k-d tree
    assert ind._igd_staircase(cloud, truth) is None
    assert ind.igd(cloud, truth) == pytest.approx(cKDTree(cloud).query(truth)[0].mean(),
                                                  rel=1e-12, abs=0)
