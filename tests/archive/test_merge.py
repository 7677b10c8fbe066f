"""The nondominated merge against an independent brute force, duplicates and ties included."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paretoray.archive import merge
from paretoray.archive.merge import (
    merge_nondominated,
    merge_sorted_2d,
    nondominated_mask,
    nondominated_naive,
)

from ._helpers import as_set, brute_force_front


@st.composite
def point_sets(draw: st.DrawFn, max_points: int = 40) -> np.ndarray:
    """Small integer grids: many duplicates and ties (equal values on some axes)."""
    m = draw(st.integers(2, 5))
    k = draw(st.integers(0, max_points))
    hi = draw(st.sampled_from([1, 2, 3, 6]))
    values = draw(st.lists(st.integers(0, hi), min_size=k * m, max_size=k * m))
    return np.array(values, dtype=np.float64).reshape(k, m)


@settings(max_examples=150, deadline=None)
@given(point_sets())
def test_mask_matches_brute_force(points: np.ndarray) -> None:
    mask = nondominated_mask(points)
    assert as_set(points[mask]) == brute_force_front(points)
    assert as_set(points[nondominated_naive(points)]) == brute_force_front(points)


@settings(max_examples=150, deadline=None)
@given(point_sets(), st.data())
def test_incremental_merge_any_chunk_order(points: np.ndarray, data: st.DataObject) -> None:
    """Merging random chunks in a random order gives the brute-force front."""
    m = points.shape[1]
    strategy = data.draw(st.sampled_from(["pairwise", "union", "auto"]))
    order = data.draw(st.permutations(range(len(points))))
    shuffled = points[list(order)] if len(points) else points
    cuts = sorted(data.draw(st.lists(st.integers(0, len(points)), max_size=6)))
    front = np.empty((0, m))
    for chunk in np.split(shuffled, cuts):
        keep_front, keep_new = merge_nondominated(front, chunk, strategy=strategy)
        front = np.concatenate([front[keep_front], chunk[keep_new]])
    assert as_set(front) == brute_force_front(points)


@pytest.mark.parametrize("strategy", ["pairwise", "union", "auto"])
@pytest.mark.parametrize("m", [2, 3, 4, 5])
def test_merge_keeps_front_copy_of_duplicates(m: int, strategy: merge.Strategy) -> None:
    """Every strategy (pairwise blocks, moocore on the union) keeps the older copy."""
    rng = np.random.default_rng(m)
    grid = rng.integers(0, 4, size=(3000, m)).astype(float)
    front_mask = nondominated_mask(grid[:1500])
    front = grid[:1500][front_mask]
    new = np.concatenate([grid[1500:], front[: len(front) // 2]])  # repeats of front points
    keep_front, keep_new = merge_nondominated(front, new, strategy=strategy)
    merged = np.concatenate([front[keep_front], new[keep_new]])
    assert as_set(merged) == brute_force_front(np.concatenate([front, new]))
    # every repeat of a surviving front point is dropped from `new`
    front_rows = {tuple(r) for r in front[keep_front]}
    assert not any(tuple(r) in front_rows for r in new[keep_new])


def test_2d_mask_keeps_the_same_rows_as_brute_force_and_moocore() -> None:
    """The 2-D sweep keeps exactly the rows the brute force keeps (the earliest of equal
    points), on tie-heavy grids with signed zeros, and moocore's rows on a front-like
    union of 3 x 10^4 points whose first objective ties at a bound."""
    import moocore

    rng = np.random.default_rng(11)
    for _ in range(2000):
        k, hi = int(rng.integers(1, 50)), int(rng.choice([1, 2, 3, 6]))
        points = rng.integers(-hi, hi + 1, size=(k, 2)).astype(np.float64)
        points[points == 0] = rng.choice([0.0, -0.0], size=int((points == 0).sum()))
        assert nondominated_mask(points).tolist() == nondominated_naive(points).tolist()
    u = rng.random(30_000)
    front_like = np.stack([u, 1 - np.sqrt(u) + 0.01 * rng.random(30_000)], axis=1)
    front_like[:40, 0] = 0.0  # members clamped at the box's bound tie in f1
    expected = np.asarray(moocore.is_nondominated(front_like, keep_weakly=False))
    assert nondominated_mask(front_like).tolist() == expected.tolist()


def test_sorted_2d_merge_keeps_the_rows_the_brute_force_keeps() -> None:
    """Merging batch after batch into a sorted 2-D front keeps, batch by batch, exactly the
    rows of the union that the brute force keeps (the front's copy of equal points, then
    the earliest new one), on tie-heavy grids with signed zeros; the order it hands on is
    the merged front's own sort by the first objective."""
    rng = np.random.default_rng(5)
    for _ in range(1500):
        hi = int(rng.integers(1, 7))
        front, order = np.empty((0, 2)), np.empty(0, dtype=np.int64)
        for _ in range(int(rng.integers(1, 6))):
            new = rng.integers(-hi, hi + 1, size=(int(rng.integers(0, 14)), 2)).astype(float)
            new[new == 0] = rng.choice([0.0, -0.0], size=int((new == 0).sum()))
            keep_front, keep_new, order = merge_sorted_2d(front, order, new)
            union = np.concatenate([front, new])
            expected = nondominated_naive(union)
            assert np.concatenate([keep_front, keep_new]).tolist() == expected.tolist()
            front = union[expected]
            assert order.tolist() == np.argsort(front[:, 0], kind="stable").tolist()
            assert np.all(np.diff(front[order, 0]) > 0) and np.all(np.diff(front[order, 1]) < 0)


def test_sorted_2d_merge_of_offers_matches_moocore() -> None:
    """Offers of 512 front-like points merged one after the other into a growing front
    (as a coordinator does) end with moocore's nondominated set of every point offered."""
    import moocore

    rng = np.random.default_rng(3)
    front, order, offered = np.empty((0, 2)), np.empty(0, dtype=np.int64), []
    for i in range(60):
        u = rng.random(512)
        u[:8] = 0.0  # members clamped at the box's bound tie in f1
        new = np.stack([u, 1 - np.sqrt(u) + np.abs(rng.normal(0, 0.1 / (i + 1), 512))], axis=1)
        keep_front, keep_new, order = merge_sorted_2d(front, order, new)
        front = np.concatenate([front[keep_front], new[keep_new]])
        offered.append(new)
    union = np.concatenate(offered)
    expected = union[np.asarray(moocore.is_nondominated(union, keep_weakly=False))]
    assert as_set(front) == as_set(expected)
    assert len(front) == len(expected) > 2000
    np.testing.assert_array_equal(front[order, 0], np.sort(expected[:, 0]))


def test_sorted_2d_merge_refuses_what_it_cannot_merge() -> None:
    with pytest.raises(ValueError, match="2 objectives"):
        merge_sorted_2d(np.zeros((1, 3)), np.zeros(1, dtype=np.int64), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="`order` of shape"):
        merge_sorted_2d(np.zeros((2, 2)), np.zeros(1, dtype=np.int64), np.zeros((1, 2)))


def test_merge_shapes_and_empty() -> None:
    keep_front, keep_new = merge_nondominated(np.empty((0, 3)), np.empty((0, 3)))
    assert keep_front.shape == (0,) and keep_new.shape == (0,)
    keep_front, keep_new = merge_nondominated(np.array([[1.0, 2.0]]), np.empty((0, 2)))
    assert keep_front.tolist() == [True]
    with pytest.raises(ValueError, match="same number of objectives"):
        merge_nondominated(np.zeros((2, 2)), np.zeros((2, 3)))


@pytest.mark.parametrize("m", [2, 3])
def test_merge_1e5_into_1e4_matches_moocore(m: int) -> None:
    """At benchmark size (its speed is in benchmarks/archive_merge.py), the merge keeps
    exactly the union's nondominated points that moocore finds (the front's copy of ties)."""
    import moocore

    rng = np.random.default_rng(0)
    ray = rng.random((10_000, m)) + 1e-9
    front = ray / np.linalg.norm(ray, axis=1, keepdims=True)  # on the unit sphere: nondominated
    new = rng.random((100_000, m)) * 1.2
    keep_front, keep_new = merge_nondominated(front, new)
    union = np.concatenate([front, new])
    expected = moocore.is_nondominated(union, keep_weakly=False)
    np.testing.assert_array_equal(np.concatenate([keep_front, keep_new]), expected)
    assert 0 < keep_new.sum() < len(new)
