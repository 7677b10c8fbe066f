"""Objectives to maximize and constraint violations in the archive.

Stored values stay in the user's directions; fronts, hypervolumes and decisions follow the
directions (checked against pymoo's nondominated sorting and moocore on the negated values);
infeasible rows are archived but never enter a front, through every reader.
"""

from __future__ import annotations

import json
from pathlib import Path

import moocore
import numpy as np
import pyarrow as pa
import pytest
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

from paretoray.archive import ParetoSet, Store, open, read_points, verify
from paretoray.archive.schema import objective_signs
from paretoray.errors import ArchiveError, ShapeError

DIRECTIONS = ["minimize", "maximize"]
SIGN = np.array([1.0, -1.0])


def _pymoo_front(values: np.ndarray, sign: np.ndarray) -> set[tuple[float, ...]]:
    """pymoo's first front of ``values`` under ``sign`` (rows returned as stored)."""
    rows = NonDominatedSorting().do(values * sign, only_non_dominated_front=True)
    return {tuple(map(float, values[i])) for i in rows}


def _rows(front: ParetoSet) -> set[tuple[float, ...]]:
    return {tuple(map(float, r)) for r in front.objectives}


def _append(store: Store, obj: np.ndarray, rnd: int, **kw: object) -> None:
    k = len(obj)
    store.append(obj, preference=np.full(2, 0.5), x=np.zeros((k, 1)), round=rnd, shard=0,
                 member=np.arange(k), algorithm="test", step=rnd, **kw)


def test_maximized_objective_is_stored_as_given_and_merged_by_direction(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    chunks = [rng.random((40, 2)) for _ in range(4)]
    run = tmp_path / "run"
    with Store.create(run, n_obj=2, n_var=1, meta={"directions": DIRECTIONS}) as store:
        for r, chunk in enumerate(chunks):
            _append(store, chunk, r)
        live = store.front()
    everything = np.concatenate(chunks)
    expected = _pymoo_front(everything, SIGN)
    assert _rows(live) == expected
    # the minimize-minimize front of the same values differs: the direction is what counts
    assert expected != _pymoo_front(everything, np.ones(2))
    reread = open(run)
    assert _rows(reread) == expected and reread.directions == DIRECTIONS
    # segments hold the values as appended (no sign flip on disk)
    stored = np.stack(read_points(run)["objectives"].to_numpy(zero_copy_only=False))
    assert np.array_equal(stored, everything)
    assert verify(run).ok


def test_hypervolume_and_decisions_follow_directions(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    values = rng.random((60, 2))
    front = ParetoSet.from_arrays(values, directions=DIRECTIONS)
    assert _rows(front) == _pymoo_front(values, SIGN)
    ref = np.array([1.5, -0.5])  # worse than every point: f1 above, f2 below
    expected = moocore.hypervolume(front.objectives * SIGN, ref=ref * SIGN)
    assert front.hypervolume(ref) == pytest.approx(expected, rel=1e-12)
    assert front.minimized == pytest.approx(front.objectives * SIGN)
    # the default reference point lies beyond the worst value of each objective
    default = front.default_ref_point()
    assert default[0] > front.objectives[:, 0].max() and default[1] < front.objectives[:, 1].min()
    # pymoo's convention: a weight asks for a better value (largest f2 when maximized)
    assert front.select([0.0, 1.0]).objectives[1] == front.objectives[:, 1].max()
    assert front.select([1.0, 0.0]).objectives[0] == front.objectives[:, 0].min()
    assert front.select([0.0, 1.0], method="asf").objectives[1] == front.objectives[:, 1].max()


def test_history_reads_directions_from_the_run(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    chunks = [rng.random((30, 2)) for _ in range(3)]
    run = tmp_path / "run"
    ref = [1.2, -0.2]
    with Store.create(run, n_obj=2, n_var=1,
                      meta={"directions": DIRECTIONS, "ref_point": ref}) as store:
        for r, chunk in enumerate(chunks):
            _append(store, chunk, r)
    history = open(run).history()
    for r in range(3):
        so_far = np.concatenate(chunks[: r + 1])
        front = np.array(sorted(_pymoo_front(so_far, SIGN)))
        assert history["hypervolume"][r] == pytest.approx(
            moocore.hypervolume(front * SIGN, ref=np.array(ref) * SIGN), rel=1e-12)
        assert history["front_size"][r] == len(front)


@pytest.mark.parametrize("reopen", [False, True])
def test_front_arrays_are_the_fronts_columns_in_minimized_form(tmp_path: Path,
                                                                reopen: bool) -> None:
    """What the coordinator reads every round without taking the table: the front's
    minimized objectives (pymoo's front of the signed feasible rows), preferences, ids and
    shards -- kept by every commit, and rebuilt the same by a reopened store."""
    rng = np.random.default_rng(9)
    run = tmp_path / "run"
    meta = {"directions": DIRECTIONS, "n_ieq_constr": 1}
    values, prefs, cvs = [], [], []
    with Store.create(run, n_obj=2, n_var=1, meta=meta) as store:
        for r in range(6):
            obj, pref = rng.random((25, 2)), rng.dirichlet([1, 1], 25)
            cv = np.where(rng.random(25) < 0.2, 0.5, 0.0)
            store.append(obj, preference=pref, x=np.zeros((25, 1)), round=r, shard=r % 3,
                         member=np.arange(25), algorithm="test", step=r, violation=cv)
            values.append(obj)
            prefs.append(pref)
            cvs.append(cv)
        arrays, table = store.front_arrays(), store.front()
    if reopen:
        with Store.open(run) as store:
            arrays, table = store.front_arrays(), store.front()
    np.testing.assert_array_equal(arrays.point_id, table.point_ids)
    values, prefs, cv = np.concatenate(values), np.concatenate(prefs), np.concatenate(cvs)
    feasible = np.flatnonzero(cv == 0)
    nds = NonDominatedSorting().do(values[feasible] * SIGN, only_non_dominated_front=True)
    want = {tuple(map(float, values[i] * SIGN)) for i in feasible[nds]}
    assert {tuple(map(float, r)) for r in arrays.minimized} == want
    ids = arrays.point_id  # ids are row numbers here: every row was finite
    np.testing.assert_array_equal(arrays.minimized, values[ids] * SIGN)
    np.testing.assert_array_equal(arrays.preference, prefs[ids])
    np.testing.assert_array_equal(arrays.shard, (ids // 25) % 3)


def test_infeasible_rows_are_archived_but_never_in_the_front(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    run = tmp_path / "run"
    chunks, violations = [], []
    with Store.create(run, n_obj=2, n_var=1, meta={"n_ieq_constr": 2}) as store:
        for r in range(3):
            obj = rng.random((30, 2))
            obj[:5] -= 2.0  # the best points of each round are infeasible
            cv = np.where(np.arange(30) < 5, rng.random(30) + 0.1, 0.0)
            _append(store, obj, r, violation=cv)
            chunks.append(obj)
            violations.append(cv)
        live = store.front()
    values, cv = np.concatenate(chunks), np.concatenate(violations)
    expected = _pymoo_front(values[cv == 0], np.ones(2))
    assert _rows(live) == expected
    assert _rows(open(run)) == expected
    points = read_points(run)
    assert points.num_rows == 90  # every row archived, with its violation
    assert np.array_equal(points["violation"].to_numpy(), cv)
    history = open(run).history(ref=[2.0, 2.0])
    assert history["front_size"].iloc[-1] == len(expected)
    # a rebuilt front (front.arrow removed) keeps the infeasible rows out as well
    (run / "archive" / "front.arrow").unlink()
    assert _rows(open(run)) == expected


def test_violation_refused_where_it_does_not_fit(tmp_path: Path) -> None:
    obj = np.random.default_rng(7).random((4, 2))
    with Store.create(tmp_path / "c", n_obj=2, n_var=1, meta={"n_ieq_constr": 1}) as store:
        with pytest.raises(ShapeError, match="violation"):
            _append(store, obj, 0)
        with pytest.raises(ShapeError, match=">= 0"):
            _append(store, obj, 0, violation=np.array([0.0, -1.0, 0.0, 0.0]))
        with pytest.raises(ShapeError, match="shape"):
            _append(store, obj, 0, violation=np.zeros(3))
    with (Store.create(tmp_path / "u", n_obj=2, n_var=1) as store,
          pytest.raises(ShapeError, match="no constraints")):
        _append(store, obj, 0, violation=np.zeros(4))


def test_bad_directions_refused(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="directions"):
        Store.create(tmp_path / "a", n_obj=2, meta={"directions": ["minimize", "up"]})
    with pytest.raises(ValueError, match="directions"):
        objective_signs(["maximize"], 2)
    run = tmp_path / "b"
    Store.create(run, n_obj=2, meta={"directions": DIRECTIONS}).close()
    meta = json.loads((run / "run.json").read_text())
    meta["directions"] = ["minimize", "sideways"]
    (run / "run.json").write_text(json.dumps(meta))
    with pytest.raises(ArchiveError, match="sideways"):
        open(run)


def test_old_runs_without_directions_read_as_minimized(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    values = rng.random((50, 2))
    run = tmp_path / "run"
    with Store.create(run, n_obj=2, n_var=1) as store:
        _append(store, values, 0)
    front = open(run)
    assert "directions" not in json.loads((run / "run.json").read_text())
    assert front.directions == ["minimize", "minimize"]
    assert _rows(front) == _pymoo_front(values, np.ones(2))
    assert pa.types.is_fixed_size_list(front.to_arrow().schema.field("objectives").type)
