"""Store: round trips through Arrow readers, metadata, ids, rejects, front, state."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from paretoray.archive import (
    SCHEMA_VERSION,
    ParetoSet,
    Store,
    open,
    read_points,
    segment_paths,
    verify,
)
from paretoray.errors import ArchiveError, ShapeError

from ._helpers import as_set, brute_force_front, fill

META = {
    "problem": "zdt1",
    "algorithm": "epo",
    "objective_names": ["loss_a", "loss_b"],
    "ref_point": [1.1, 1.1],
    "config": {"population": 8, "steps": 100},
}


def test_round_trip_points_and_metadata(tmp_path: Path) -> None:
    run = tmp_path / "run"
    rng = np.random.default_rng(0)
    F = rng.random((8, 2))
    X = rng.random((8, 3))
    R = rng.dirichlet(np.ones(2), size=8)
    with Store.create(run, n_obj=2, n_var=3, meta=META) as store:
        res = store.append(F, preference=R, x=X, params_ref=None, round=4, shard=2,
                           member=np.arange(8), algorithm="epo", step=250)
        assert res.segment == "seg-000001.arrow" and res.rows == 8 and res.rejected == 0
        assert res.point_ids.tolist() == list(range(8))
        assert store.segments == ["seg-000001.arrow"]
        assert store.n_rounds == 5

    run_json = json.loads((run / "run.json").read_text())
    assert run_json["schema_version"] == SCHEMA_VERSION
    assert run_json["n_obj"] == 2 and run_json["n_var"] == 3
    assert run_json["problem"] == "zdt1" and run_json["config"]["population"] == 8
    assert run_json["objective_names"] == ["loss_a", "loss_b"]

    # Any Arrow reader opens the segment directly.
    path = run / "archive" / "segments" / "seg-000001.arrow"
    with pa.ipc.open_file(path) as reader:
        table = reader.read_all()
    meta = table.schema.metadata
    assert meta[b"paretoray.m"] == b"2" and meta[b"paretoray.d"] == b"3"
    assert json.loads(meta[b"paretoray.objective_names"]) == ["loss_a", "loss_b"]
    assert meta[b"paretoray.schema_version"] == str(SCHEMA_VERSION).encode()
    assert table.schema.field("objectives").type == pa.list_(pa.float64(), 2)
    assert table.schema.field("x").type == pa.list_(pa.float64(), 3)
    assert table.schema.field("time").type == pa.timestamp("us", tz="UTC")
    np.testing.assert_array_equal(np.stack(table["objectives"].to_pylist()), F)
    np.testing.assert_array_equal(np.stack(table["x"].to_pylist()), X)
    np.testing.assert_array_equal(np.stack(table["preference"].to_pylist()), R)
    assert table["round"].to_pylist() == [4] * 8
    assert table["member"].to_pylist() == list(range(8))
    assert table["algorithm"].to_pylist() == ["epo"] * 8
    assert table["params_ref"].null_count == 8

    dataset_table = ds.dataset(segment_paths(run), format="arrow").to_table()
    assert dataset_table.num_rows == 8
    assert dataset_table.equals(read_points(run))
    globbed = sorted(str(p) for p in (run / "archive" / "segments").glob("seg-*.arrow"))
    assert ds.dataset(globbed, format="arrow").to_table().equals(dataset_table)

    df = table.to_pandas(types_mapper=pd.ArrowDtype)
    assert isinstance(df["objectives"].dtype, pd.ArrowDtype)
    assert df["time"].dtype == pd.ArrowDtype(pa.timestamp("us", tz="UTC"))

    front = open(run)
    assert isinstance(front, ParetoSet)
    assert front.objective_names == ["loss_a", "loss_b"]
    assert front.meta["ref_point"] == [1.1, 1.1]
    assert as_set(front.objectives) == brute_force_front(F)
    rows = {int(i): k for k, i in enumerate(front.point_ids)}
    for pid, k in rows.items():
        np.testing.assert_array_equal(front.x[k], X[pid])
        np.testing.assert_array_equal(front.preferences[k], R[pid])
    with pa.ipc.open_file(run / "archive" / "front.arrow") as reader:
        assert reader.read_all().num_rows == len(front)


def test_point_ids_increase_across_reopen_and_rejects(tmp_path: Path) -> None:
    run = tmp_path / "run"
    F = np.array([[1.0, 2.0], [np.nan, 1.0], [2.0, 1.0], [np.inf, 0.0], [0.5, 5.0]])
    with Store.create(run, n_obj=2) as store:
        res = store.append(F, preference=[0.5, 0.5], round=0, shard=0, member=np.arange(5),
                           algorithm="pmtl", step=1, params_ref=[f"ck{i}" for i in range(5)])
        assert (res.rows, res.rejected, res.front_size, res.accepted) == (3, 2, 3, 3)
        assert res.point_ids.tolist() == [0, 1, 2]
        nothing = store.append(np.full((2, 2), np.nan), preference=[0.5, 0.5], round=1,
                               shard=0, member=0, algorithm="pmtl", step=2)
        # The round is recorded (a 0-row segment), so verify can tell it from a lost one.
        assert nothing.segment == "seg-000002.arrow" and nothing.rejected == 2
        assert nothing.rows == 0 and not nothing.duplicate
        mixed = store.append(np.full((2, 2), np.nan), preference=[0.5, 0.5],
                             round=np.array([1, 2]), shard=0, member=0, algorithm="pmtl", step=2)
        assert mixed.segment is None and mixed.rows == 0  # no single round: nothing recorded
    with Store.open(run) as store:
        assert store.next_point_id == 3
        again = store.append(np.array([[0.1, 0.1]]), preference=[0.5, 0.5], round=1, shard=0,
                             member=0, algorithm="pmtl", step=3)
        assert again.duplicate and again.rows == 0 and again.segment == "seg-000002.arrow"
        res = store.append(np.array([[0.1, 0.1]]), preference=[0.5, 0.5], round=2, shard=0,
                           member=0, algorithm="pmtl", step=3)
        assert res.point_ids.tolist() == [3] and res.segment == "seg-000003.arrow"
        assert res.accepted == 1 and res.front_size == 1
    points = read_points(run)
    assert points["point_id"].to_pylist() == [0, 1, 2, 3]
    assert points["params_ref"].to_pylist() == ["ck0", "ck2", "ck4", None]
    assert open(run).x is None  # a run without n_var has no x column
    assert "x" not in points.schema.names


def test_front_equals_brute_force_over_many_appends(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    for m in (2, 3, 4, 5):
        run = tmp_path / f"run{m}"
        points = rng.integers(0, 5, size=(400, m)).astype(float)  # many duplicates and ties
        chunks = np.split(points, np.sort(rng.choice(400, size=9, replace=False)))
        with Store.create(run, n_obj=m, n_var=3) as store:
            fill(store, chunks)
            assert as_set(store.front().objectives) == brute_force_front(points)
        front = open(run)
        assert as_set(front.objectives) == brute_force_front(points)
        # among repeats, the earliest point (smallest id) is the one kept
        for pid, obj in zip(front.point_ids, front.objectives, strict=True):
            first = np.flatnonzero((points == obj).all(axis=1))[0]
            assert pid == first


@pytest.mark.parametrize("reads", ["every append", "now and then", "never"])
def test_front_rows_are_the_segments_rows_however_often_it_is_read(
        tmp_path: Path, reads: str) -> None:
    """The front's rows (ids, objectives, x) are those of the segments as pyarrow reads
    them, whether it is read after every group commit, now and then, or once at the end
    of 80 of them."""
    rng = np.random.default_rng(7)
    run = tmp_path / "run"
    with Store.create(run, n_obj=2, n_var=3, compact_every=1000) as store:
        for i in range(80):
            k = int(rng.integers(1, 12))
            F = rng.integers(0, 8, size=(k, 2)).astype(float)
            store.append_many([{"objectives": F[: k // 2 + 1], "preference": [0.5, 0.5],
                                "x": rng.random((k // 2 + 1, 3)), "round": i, "shard": 0,
                                "member": 0, "algorithm": "epo", "step": i},
                               {"objectives": F[k // 2 + 1:], "preference": [0.5, 0.5],
                                "x": rng.random((k - k // 2 - 1, 3)), "round": i, "shard": 1,
                                "member": 1, "algorithm": "epo", "step": i}])
            if reads == "every append" or (reads == "now and then" and rng.random() < 0.2):
                _assert_front_is_segments_front(store, run)
        _assert_front_is_segments_front(store, run)


def _assert_front_is_segments_front(store: Store, run: Path) -> None:
    table = ds.dataset([str(p) for p in segment_paths(run)], format="ipc").to_table()
    F = np.array(table.column("objectives").to_pylist())
    ids = table.column("point_id").to_numpy()
    X = np.array(table.column("x").to_pylist())
    want_objs = brute_force_front(F)
    # among repeats the earliest point (smallest id) is the one kept
    want = sorted(int(ids[np.flatnonzero((np.array(o) == F).all(1))].min()) for o in want_objs)
    row = {int(pid): j for j, pid in enumerate(ids)}
    # some rows (repeated, any order) before the front table is taken: the segments' rows
    arrays = store.front_arrays()
    pick = np.random.default_rng(len(ids)).integers(0, len(arrays), size=5)
    some = store.front_rows(pick)
    np.testing.assert_array_equal(some.point_ids, arrays.point_id[pick])
    np.testing.assert_array_equal(some.x, X[[row[int(p)] for p in some.point_ids]])
    front = store.front()
    got = front.point_ids
    assert sorted(got.tolist()) == want
    np.testing.assert_array_equal(front.objectives, F[[row[int(p)] for p in got]])
    np.testing.assert_array_equal(front.x, X[[row[int(p)] for p in got]])


def test_compaction_every_n_and_fresh_after_close(tmp_path: Path) -> None:
    run = tmp_path / "run"
    rng = np.random.default_rng(2)
    chunks = [rng.random((50, 2)) for _ in range(4)]
    store = Store.create(run, n_obj=2, compact_every=3)
    fill(store, chunks, d=None)
    report = verify(run)  # read-only, while the writer holds the lock
    assert report.ok and not report.front_fresh and "merged in memory" in report.front_note
    assert as_set(open(run).objectives) == as_set(store.front().objectives)
    store.close()
    store.close()  # idempotent
    assert verify(run).front_fresh
    assert "OK" in str(verify(run)) and "fresh" in str(verify(run))
    fast = open(run, checksums=False)  # trusts the fresh front.arrow, checks sizes only
    assert as_set(fast.objectives) == as_set(open(run).objectives)
    assert not (run / "LOCK").exists()
    with pytest.raises(ArchiveError, match="closed"):
        store.append(chunks[0], preference=[1, 0], round=9, shard=0, member=0,
                     algorithm="x", step=0)


def test_meta_state_and_errors(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with Store.create(run, n_obj=3, meta={"problem": "dtlz2"}) as store:
        assert store.meta["objective_names"] == ["f1", "f2", "f3"]
        assert store.read_state() is None
        store.write_state({"round": 3, "prefs": np.eye(3)})
        assert store.read_state() == {"round": 3, "prefs": np.eye(3).tolist()}
        store.update_meta(ref_point=np.array([2.0, 2.0, 2.0]), lineage=["parent"])
        assert store.meta["ref_point"] == [2.0, 2.0, 2.0]
        with pytest.raises(ArchiveError, match="n_obj"):
            store.update_meta(n_obj=4)
        with pytest.raises(ArchiveError, match="ref_point"):
            store.update_meta(ref_point=[1.0])
        with pytest.raises(ShapeError, match="k x 3"):
            store.append(np.zeros((2, 2)), preference=[1, 0, 0], round=0, shard=0,
                         member=0, algorithm="a", step=0)
        with pytest.raises(ShapeError, match="n_var"):
            store.append(np.zeros((2, 3)), preference=[1, 0, 0], x=np.zeros((2, 2)),
                         round=0, shard=0, member=0, algorithm="a", step=0)
        with pytest.raises(ShapeError, match="member"):
            store.append(np.zeros((2, 3)), preference=[1, 0, 0], round=0, shard=0,
                         member=[0, 1, 2], algorithm="a", step=0)
    assert json.loads((run / "run.json").read_text())["lineage"] == ["parent"]
    assert json.loads((run / "state.json").read_text())["round"] == 3
    assert open(run).meta["ref_point"] == [2.0, 2.0, 2.0]
    with pytest.raises(ArchiveError, match=r"Store\.open"):
        Store.create(run, n_obj=3)
    with pytest.raises(ArchiveError, match=r"Store\.create"):
        Store.open(tmp_path / "nothing")
    with pytest.raises(ArchiveError, match="not a paretoray run"):
        open(tmp_path / "nothing")
    with pytest.raises(ArchiveError, match="n_obj"):
        Store.create(tmp_path / "bad", n_obj=1)
    with pytest.raises(ArchiveError, match="owns"):
        Store.create(tmp_path / "bad", n_obj=2, meta={"schema_version": 7})
    with pytest.raises(TypeError, match=r"Store\.create"):
        Store()


def test_uris(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with Store.create(run.as_uri(), n_obj=2) as store:  # file:// is a local path
        store.append(np.array([[1.0, 0.0], [0.0, 1.0]]), preference=[0.5, 0.5], round=0,
                     shard=0, member=[0, 1], algorithm="ls", step=0)
    front = open(run.as_uri())  # read through pyarrow's filesystem layer
    assert len(front) == 2 and verify(run.as_uri()).ok
    with pytest.raises(ArchiveError, match="POSIX"):
        Store.create("s3://bucket/run", n_obj=2)


def test_newer_schema_version_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    Store.create(run, n_obj=2).close()
    meta = json.loads((run / "run.json").read_text())
    meta["schema_version"] = SCHEMA_VERSION + 1
    (run / "run.json").write_text(json.dumps(meta))
    with pytest.raises(ArchiveError, match="Upgrade paretoray"):
        open(run)


def test_run_dir_naming_a_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("mine")
    with pytest.raises(ArchiveError, match="is a file"):
        Store.create(path, n_obj=2)
    with pytest.raises(ArchiveError, match="is a file"):
        Store.open(path)
    with pytest.raises(ArchiveError, match="Cannot create the run directory"):
        Store.create(path / "run", n_obj=2)  # a parent that is a file
    assert path.read_text() == "mine"
