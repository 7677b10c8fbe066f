"""Faults: killed writers, corrupt segments, orphans, stale or missing fronts."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from paretoray.archive import ArchiveWarning, Store, open, read_points, verify
from paretoray.archive.manifest import segment_name

from ._helpers import as_set, brute_force_front, fill, seg_path

WRITER = Path(__file__).with_name("_writer.py")
REPO = Path(__file__).resolve().parents[2]


def _three_segments(run: Path) -> tuple[list[np.ndarray], list[str]]:
    """Three appends; the middle one holds the point (0, 0) that dominates everything."""
    rng = np.random.default_rng(3)
    chunks = [rng.random((30, 2)) + 0.1, np.array([[0.0, 0.0], [0.5, 0.5]]),
              rng.random((30, 2)) + 0.1]
    with Store.create(run, n_obj=2, n_var=3) as store:
        names = fill(store, chunks)
    return chunks, names


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _bit_flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def _reschema(path: Path, run: Path) -> None:
    """Replace a segment by a valid Arrow file of another schema, checksum updated."""
    table = pa.table({"point_id": pa.array([0, 1], pa.int64()), "f": [1.0, 2.0]})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table)
    data = sink.getvalue().to_pybytes()
    path.write_bytes(data)
    manifest_path = run / "archive" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    import hashlib

    for seg in manifest["segments"]:
        if seg["name"] == path.name:
            seg.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest(), rows=2)
    manifest_path.write_text(json.dumps(manifest))


@pytest.mark.parametrize(("damage", "reason"), [
    ("truncate", "size is"), ("bitflip", "checksum"), ("schema", "schema mismatch")
])
def test_corrupt_segment_is_reported_and_skipped(tmp_path: Path, damage: str, reason: str) -> None:
    run = tmp_path / "run"
    chunks, names = _three_segments(run)
    bad = names[1]
    path = seg_path(run, bad)
    {"truncate": _truncate, "bitflip": _bit_flip}.get(damage, lambda p: _reschema(p, run))(path)
    expected = brute_force_front(np.concatenate([chunks[0], chunks[2]]))

    report = verify(run)
    assert not report.ok
    assert [name for name, _ in report.corrupt] == [bad]
    assert reason in report.corrupt[0][1]
    assert bad in str(report) and "PROBLEMS FOUND" in str(report)
    assert not report.front_fresh  # the front still held (0, 0) from the damaged segment
    assert report.rows == 60

    with pytest.warns(ArchiveWarning, match=bad):
        front = open(run)
    assert as_set(front.objectives) == expected
    assert not set(front.point_ids.tolist()) & {30, 31}

    with pytest.warns(ArchiveWarning, match=bad), Store.open(run) as store:
        assert store.report.corrupt[0][0] == bad
        assert as_set(store.front().objectives) == expected
        fill(store, [np.array([[0.05, 5.0]])], start_round=3)
        assert store.segments[-1] == segment_name(4)
    # The rebuilt front.arrow records the exclusion, so it is fresh from now on.
    report = verify(run)
    assert report.front_fresh and report.corrupt[0][0] == bad
    with pytest.warns(ArchiveWarning, match=bad):
        assert as_set(open(run).objectives) == brute_force_front(
            np.concatenate([chunks[0], chunks[2], [[0.05, 5.0]]])
        )


def test_write_in_flight_ignored_then_discarded(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _, names = _three_segments(run)
    before = as_set(open(run).objectives)
    # A crash mid-rename of the next segment (half of it on disk), and temp files mid-write.
    whole = seg_path(run, names[1]).read_bytes()
    seg_path(run, segment_name(4)).write_bytes(whole[: len(whole) // 2])
    seg_path(run, f".{segment_name(5)}.abc123.tmp").write_bytes(b"partial")
    (run / ".state.json.deadbeef.tmp").write_bytes(b"{")
    report = verify(run)
    assert report.ok
    assert sorted(report.orphans) == sorted([
        f"archive/segments/{segment_name(4)}", f"archive/segments/.{segment_name(5)}.abc123.tmp",
        ".state.json.deadbeef.tmp",
    ])
    assert as_set(open(run).objectives) == before
    with pytest.warns(ArchiveWarning, match="write in flight"), Store.open(run) as store:
        assert store.segments == names
        res = fill(store, [np.array([[9.0, 9.0]])], start_round=3)
        assert res == [segment_name(4)]
    report = verify(run)
    assert report.orphans == [] and report.quarantined == []
    assert not (run / "archive" / "quarantine").exists()


def test_missing_or_replaced_front_is_rebuilt(tmp_path: Path) -> None:
    run = tmp_path / "run"
    chunks, _ = _three_segments(run)
    expected = brute_force_front(np.concatenate(chunks))
    (run / "archive" / "front.arrow").unlink()
    report = verify(run)
    assert report.ok and not report.front_fresh and "missing" in report.front_note
    assert as_set(open(run).objectives) == expected

    # A front written just before a crash, whose manifest update never happened.
    other = tmp_path / "other"
    with Store.create(other, n_obj=2, n_var=3) as store:
        fill(store, [np.array([[5.0, 5.0]])])
    (run / "archive" / "front.arrow").write_bytes((other / "archive" / "front.arrow").read_bytes())
    report = verify(run)
    assert not report.front_fresh and "checksum" in report.front_note
    assert as_set(open(run).objectives) == expected
    with Store.open(run) as store:
        assert as_set(store.front().objectives) == expected
    assert verify(run).front_fresh


def test_killed_writer_never_loses_committed_segments(tmp_path: Path) -> None:
    """SIGKILL a writer at random times mid-append, five times; every committed segment stays."""
    run = tmp_path / "run"
    Store.create(run, n_obj=2, n_var=8, meta={"problem": "kill-test"}).close()
    rnd = random.Random(1234)
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    committed: dict[str, str] = {}
    kills_with_orphans = 0
    for attempt in range(5):
        proc = subprocess.Popen(
            [sys.executable, str(WRITER), str(run), str(attempt)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
        )
        assert proc.stdout is not None
        if attempt > 0:  # the first kill may land anywhere, even in the writer's recovery
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        time.sleep(rnd.uniform(0.05, 0.6))
        manifest = json.loads((run / "archive" / "manifest.json").read_text())
        before = {s["name"]: s["sha256"] for s in manifest["segments"]}
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()

        report = verify(run)
        assert report.ok, str(report)
        kills_with_orphans += bool(report.orphans)
        after = {s["name"]: s["sha256"] for s in
                 json.loads((run / "archive" / "manifest.json").read_text())["segments"]}
        assert before.items() <= after.items()
        assert committed.items() <= after.items()
        committed = after
        front = open(run)  # opens read-only despite the stale LOCK
        assert len(front) > 0 or not committed

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = Store.open(run)
    assert any("stale lock" in str(w.message) for w in caught)
    with store:
        assert set(committed) <= set(store.segments)
        expected = brute_force_front_fast(read_points(run))
        assert as_set(store.front().objectives) == expected
    report = verify(run)
    assert report.ok and report.front_fresh and not report.orphans
    assert report.rows == sum(len(t) for t in [read_points(run)])


def brute_force_front_fast(points: pa.Table) -> set[tuple[float, ...]]:
    """m = 2 front by sorting: an independent check for tables too large for a double loop."""
    obj = np.stack(points["objectives"].to_numpy(zero_copy_only=False))
    order = np.lexsort((obj[:, 1], obj[:, 0]))
    best = np.inf
    front = set()
    for f1, f2 in obj[order]:
        if f2 < best:
            front.add((float(f1), float(f2)))
            best = f2
    return front


def test_brute_force_helpers_agree() -> None:
    rng = np.random.default_rng(5)
    pts = rng.integers(0, 6, size=(80, 2)).astype(float)
    table = pa.table({"objectives": pa.array(list(pts), pa.list_(pa.float64(), 2))})
    assert brute_force_front_fast(table) == brute_force_front(pts)


def test_disk_full_is_one_clear_error_and_keeps_what_was_committed(tmp_path: Path) -> None:
    run = tmp_path / "run"
    chunks, _ = _three_segments(run)
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("_full_disk.py")), str(run), "200000"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr  # no traceback: every failure was handled
    lines = proc.stdout.splitlines()
    assert lines[0] == f"committed {segment_name(4)}"
    assert lines[1].startswith(f"error Could not write segment {segment_name(5)} to {run}")
    assert "File too large" in lines[1] and f"paretoray resume {run}" in lines[1]
    assert lines[2].startswith("closed")  # the front compaction on close failed or not: no raise
    report = verify(run)
    assert report.ok and report.orphans == [] and len(report.segments) == 4
    assert read_points(run).num_rows == sum(len(c) for c in chunks) + 10
