"""The manifest's journal and group commits: a commit appends one line whatever the number
of segments, readers see journal entries, a torn line is the write in flight (never a lost
commit of another round), and a group of appends commits once with the same results as
one by one. Rows are read back with pyarrow, independently of paretoray's reader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from paretoray.archive import Store, verify
from paretoray.archive import open as open_run
from paretoray.archive.reader import segment_paths

from ._helpers import brute_force_front


def _request(shard: int, rnd: int, seed: int, k: int = 4) -> dict:
    rng = np.random.default_rng(seed)
    return {"objectives": rng.random((k, 2)), "preference": [0.5, 0.5],
            "x": rng.random((k, 3)), "round": rnd, "shard": shard, "member": np.arange(k),
            "algorithm": "epo", "step": rnd}


def _rows(run: Path) -> pa.Table:
    tables = [pa.ipc.open_file(pa.memory_map(p)).read_all() for p in segment_paths(str(run))]
    return pa.concat_tables(tables)


def _manifest_segments(run: Path) -> list[str]:
    return [s["name"] for s in json.loads((run / "archive" / "manifest.json").read_text())[
        "segments"]]


def test_commits_between_compactions_go_to_the_journal(tmp_path: Path) -> None:
    run = tmp_path / "run"
    store = Store.create(run, n_obj=2, n_var=3, compact_every=4)
    for r in range(3):
        store.append(**_request(0, r, seed=r))
    journal = (run / "archive" / "manifest.log").read_text().splitlines()
    assert len(journal) == 3 and _manifest_segments(run) == []  # manifest.json untouched
    # a reader sees every committed round while the writer goes on
    assert len(_rows(run)) == 12
    seen = open_run(run)
    assert {tuple(p) for p in seen.objectives} == brute_force_front(
        np.asarray(_rows(run)["objectives"].to_pylist()))
    store.append(**_request(0, 3, seed=3))  # the 4th append compacts
    assert not (run / "archive" / "manifest.log").exists()
    assert len(_manifest_segments(run)) == 4
    store.append(**_request(0, 4, seed=4))
    store.close()  # closing compacts too
    assert len(_manifest_segments(run)) == 5 and verify(str(run)).ok


def test_a_torn_journal_line_loses_only_the_write_in_flight(tmp_path: Path) -> None:
    run = tmp_path / "run"
    store = Store.create(run, n_obj=2, n_var=3, compact_every=100)
    for r in range(3):
        store.append(**_request(0, r, seed=r))
    store._lock.release()  # the writer dies here ...
    journal = run / "archive" / "manifest.log"
    data = journal.read_bytes()
    journal.write_bytes(data[: len(data) - 25])  # ... in the middle of its last line
    assert len(open_run(run)) > 0
    with pytest.warns(Warning, match="quarantine"), Store.open(run) as again:
        assert sorted(again.committed_rounds()) == [(0, 0), (0, 1)]
        assert not again.append(**_request(0, 2, seed=2)).duplicate  # round 2 is redone
    assert verify(str(run)).ok
    # the torn line's segment was complete: kept aside, never deleted
    assert len(list((run / "archive" / "quarantine").glob("seg-*.arrow"))) == 1


def test_a_compaction_that_died_before_emptying_the_journal_counts_nothing_twice(
        tmp_path: Path) -> None:
    run = tmp_path / "run"
    store = Store.create(run, n_obj=2, n_var=3, compact_every=100)
    for r in range(3):
        store.append(**_request(0, r, seed=r))
    journal = (run / "archive" / "manifest.log").read_bytes()
    store.close()  # compacts: manifest.json lists all three, the journal is gone
    (run / "archive" / "manifest.log").write_bytes(journal)  # as if the unlink never ran
    assert len(open_run(run, checksums=True).objectives) > 0
    report = verify(str(run))
    assert report.ok, str(report)
    with Store.open(run) as again:
        assert len(again.segments) == 3


def test_a_group_commit_equals_appends_one_by_one(tmp_path: Path) -> None:
    requests = [_request(s, 0, seed=s) for s in range(6)]
    with Store.create(tmp_path / "one", n_obj=2, n_var=3, compact_every=100) as one:
        singles = [one.append(**r) for r in requests]
    with Store.create(tmp_path / "group", n_obj=2, n_var=3, compact_every=100) as group:
        grouped = group.append_many([*requests, _request(2, 0, seed=99)])
        assert group.append(**_request(4, 0, seed=5)).duplicate
    assert grouped[-1].duplicate and grouped[-1].segment == grouped[2].segment
    for a, b in zip(singles, grouped, strict=False):
        assert (a.segment, a.rows, a.accepted, a.front_size) == (
            b.segment, b.rows, b.accepted, b.front_size)
        assert a.point_ids.tolist() == b.point_ids.tolist()
    a, b = _rows(tmp_path / "one"), _rows(tmp_path / "group")
    assert a.drop(["time"]).equals(b.drop(["time"]))
    assert verify(str(tmp_path / "group")).ok
