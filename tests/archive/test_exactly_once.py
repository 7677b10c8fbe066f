"""Exactly once: a (shard, round) is committed once, whatever is replayed or lost."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from paretoray.archive import Store, read_points, verify
from paretoray.cli import main

from ._helpers import fill, seg_path


def _offer(store: Store, shard: int, rnd: int, seed: int) -> object:
    rng = np.random.default_rng(seed)
    return store.append(rng.random((4, 2)), preference=[0.5, 0.5], x=rng.random((4, 3)),
                        round=rnd, shard=shard, member=np.arange(4), algorithm="epo", step=rnd)


def test_replayed_round_writes_nothing(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with Store.create(run, n_obj=2, n_var=3) as store:
        first = _offer(store, shard=1, rnd=3, seed=0)
        replay = _offer(store, shard=1, rnd=3, seed=99)  # other numbers: a replayed offer
        assert replay.duplicate and not first.duplicate
        assert (replay.segment, replay.rows, replay.accepted, replay.front_size) == (
            first.segment, first.rows, first.accepted, first.front_size)
        assert replay.point_ids.tolist() == first.point_ids.tolist()
        assert store.segments == [first.segment]
        other = _offer(store, shard=0, rnd=3, seed=1)  # another shard's round 3 is new
        assert not other.duplicate
    # After a reopen the check comes from the manifest alone (no state.json was written).
    assert not (run / "state.json").exists()
    with Store.open(run) as store:
        assert _offer(store, shard=1, rnd=3, seed=7).duplicate
        rounds = store.committed_rounds()
        assert sorted(rounds) == [(0, 3), (1, 3)]
        assert rounds[(1, 3)].name == first.segment
        assert store.last_round() == 3
    points = read_points(run)
    assert points.num_rows == 8  # rows read back with pyarrow: two appends, not three
    manifest = json.loads((run / "archive" / "manifest.json").read_text())
    assert [(s["shard"], s["round"]) for s in manifest["segments"]] == [(1, 3), (0, 3)]
    assert verify(run).ok


def test_last_round_survives_a_lost_state_file(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with Store.create(run, n_obj=2, n_var=3) as store:
        assert store.last_round() == -1
        for r in range(5):
            _offer(store, shard=0, rnd=r, seed=r)
        store.write_state({"round": [5]})
    (run / "state.json").unlink()
    with Store.open(run) as store:
        assert store.read_state() is None
        assert store.last_round() == 4
        assert all(_offer(store, shard=0, rnd=r, seed=50 + r).duplicate for r in range(5))
    assert read_points(run).num_rows == 20


def _rewrite_segment(run: Path, name: str, table: pa.Table) -> None:
    """Replace a committed segment by ``table``, updating the manifest's size and checksum."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    data = sink.getvalue().to_pybytes()
    seg_path(run, name).write_bytes(data)
    path = run / "archive" / "manifest.json"
    manifest = json.loads(path.read_text())
    for seg in manifest["segments"]:
        if seg["name"] == name:
            seg.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    path.write_text(json.dumps(manifest))


def _strip_round_records(run: Path) -> None:
    """Make the manifest look like one written before entries recorded (shard, round)."""
    path = run / "archive" / "manifest.json"
    manifest = json.loads(path.read_text())
    for seg in manifest["segments"]:
        for key in ("shard", "round", "rejected", "accepted", "front_size"):
            seg.pop(key, None)
    path.write_text(json.dumps(manifest))


def test_verify_names_duplicates_and_gaps_of_an_older_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A replay appended twice by an older paretoray: round 1 twice, so round 2 is missing."""
    run = tmp_path / "run"
    rng = np.random.default_rng(0)
    with Store.create(run, n_obj=2, n_var=3) as store:
        names = fill(store, [rng.random((4, 2)) for _ in range(4)])  # shard 0, rounds 0..3
    seg3 = names[2]
    table = pa.ipc.open_file(seg_path(run, seg3)).read_all()
    assert table["round"].to_pylist() == [2] * 4
    table = table.set_column(1, table.schema.field("round"), pa.array(np.ones(4, np.int32)))
    _rewrite_segment(run, seg3, table)
    _strip_round_records(run)

    report = verify(run)
    assert not report.ok
    assert report.duplicates == [(0, 1, [names[1], seg3])]
    assert report.missing_rounds == [(0, 2)]
    text = str(report)
    assert f"shard 0 round 1: {names[1]}, {seg3}" in text and "shard 0 round 2" in text
    assert main(["verify", str(run)]) == 1
    out = capsys.readouterr().out
    assert "PROBLEMS FOUND" in out and "shard 0 round 2" in out

    # The store rebuilds its replay check from the segments' rows of the older manifest.
    with Store.open(run) as store:
        assert sorted(store.committed_rounds()) == [(0, 0), (0, 1), (0, 3)]
        assert store.append(np.ones((1, 2)), preference=[0.5, 0.5], x=np.ones(3), round=3,
                            shard=0, member=0, algorithm="epo", step=0).duplicate


def test_verify_names_rounds_missing_in_a_session_only(tmp_path: Path) -> None:
    """Gaps are looked for per shard inside each session of the lineage, not across them."""
    run = tmp_path / "run"
    with Store.create(run, n_obj=2, n_var=3) as store:
        for shard, rounds in ((0, [0, 1, 2, 5, 6]), (1, [0, 2, 5, 7])):
            for r in rounds:
                _offer(store, shard=shard, rnd=r, seed=10 * shard + r)
        # Session 2 began at round 5; shard 1 skipped round 1 and round 6.
        store.update_meta(lineage=[{"session": 1, "first_round": 0},
                                   {"session": 2, "first_round": 5}])
    report = verify(run)
    assert report.duplicates == []
    assert report.missing_rounds == [(1, 1), (1, 6)]
    assert not report.ok


def test_clean_run_verifies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    with Store.create(run, n_obj=2, n_var=3) as store:
        for r in range(3):
            for shard in range(2):
                _offer(store, shard=shard, rnd=r, seed=r + 10 * shard)
    assert main(["verify", str(run)]) == 0
    assert "each (shard, round) committed once" in capsys.readouterr().out
