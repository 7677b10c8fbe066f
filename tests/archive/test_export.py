"""Reading the archive from outside: the layout, old run directories, flat exports."""

from __future__ import annotations

import glob
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from paretoray.archive import Store, open, read_points, segment_paths, verify
from paretoray.archive.export import export
from paretoray.cli import main
from paretoray.errors import ArchiveError

from ._helpers import as_set, brute_force_front, fill

NAMES = ["error", "latency"]


def _run(tmp_path: Path, *, d: int | None = 3) -> tuple[Path, list[np.ndarray]]:
    run = tmp_path / "run"
    rng = np.random.default_rng(6)
    chunks = [rng.random((12, 2)) for _ in range(4)]
    with Store.create(run, n_obj=2, n_var=d, meta={"objective_names": NAMES}) as store:
        fill(store, chunks, d=d, shards=2)
    return run, chunks


def test_archive_globs_mean_one_thing(tmp_path: Path) -> None:
    run, chunks = _run(tmp_path)
    assert [Path(p).name for p in glob.glob(str(run / "archive" / "*.arrow"))] == ["front.arrow"]
    # pyarrow.dataset over the segments folder: every point once, nothing else in there.
    points = ds.dataset(run / "archive" / "segments", format="arrow").to_table()
    assert points.num_rows == sum(len(c) for c in chunks)
    assert sorted(points["point_id"].to_pylist()) == list(range(48))


def _to_old_layout(run: Path) -> None:
    """Rewrite a run directory as paretoray wrote it before schema version 2."""
    seg_dir = run / "archive" / "segments"
    for path in seg_dir.iterdir():
        shutil.move(path, run / "archive" / path.name)
    seg_dir.rmdir()
    manifest_path = run / "archive" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["segment_dir"]
    manifest["schema_version"] = 1
    for seg in manifest["segments"]:
        for key in ("shard", "round", "rejected", "accepted", "front_size"):
            del seg[key]
    manifest_path.write_text(json.dumps(manifest))
    run_json = json.loads((run / "run.json").read_text())
    run_json["schema_version"] = 1
    (run / "run.json").write_text(json.dumps(run_json))


def test_old_layout_is_read_and_appended_in_place(tmp_path: Path) -> None:
    run, chunks = _run(tmp_path)
    _to_old_layout(run)
    expected = brute_force_front(np.concatenate(chunks))
    report = verify(run)
    assert report.ok and report.orphans == [] and len(report.segments) == 4
    assert as_set(open(run).objectives) == expected
    assert read_points(run).num_rows == 48
    assert all(Path(p).parent == run / "archive" for p in segment_paths(run))
    with Store.open(run) as store:
        assert sorted(store.committed_rounds()) == [(0, 0), (0, 1), (1, 0), (1, 1)]
        res = fill(store, [np.array([[0.0, 0.0]])], start_round=2)
    assert (run / "archive" / res[0]).exists() and not (run / "archive" / "segments").exists()
    assert as_set(open(run).objectives) == {(0.0, 0.0)}
    assert verify(run).ok


@pytest.mark.parametrize("which", ["front", "all"])
def test_export_parquet_and_csv_columns(tmp_path: Path, which: str) -> None:
    run, _ = _run(tmp_path)
    table = open(run).to_arrow() if which == "front" else read_points(run)
    obj = np.stack(table["objectives"].to_numpy(zero_copy_only=False))
    x = np.stack(table["x"].to_numpy(zero_copy_only=False))
    pref = np.stack(table["preference"].to_numpy(zero_copy_only=False))
    for fmt in ("parquet", "csv"):
        out = tmp_path / f"points.{fmt}"
        flag = "--front" if which == "front" else "--all"
        assert main(["export", str(run), "--format", fmt, flag, "-o", str(out)]) == 0
        got = pq.read_table(out) if fmt == "parquet" else pcsv.read_csv(out)
        assert got.column_names == ["point_id", "round", "shard", "member", "algorithm",
                                    "error", "latency", "w1", "w2", "x1", "x2", "x3",
                                    "params_ref", "step", "time"]
        assert got["point_id"].to_pylist() == table["point_id"].to_pylist()
        np.testing.assert_array_equal(np.stack([got["error"], got["latency"]], 1), obj)
        np.testing.assert_array_equal(np.stack([got[f"x{i}"] for i in (1, 2, 3)], 1), x)
        np.testing.assert_array_equal(np.stack([got["w1"], got["w2"]], 1), pref)


def test_export_refuses_bad_destinations(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run, _ = _run(tmp_path, d=None)
    assert main(["export", str(run), "-o", "/nonexistent/dir/x.parquet"]) == 2
    assert "/nonexistent/dir" in capsys.readouterr().err
    with pytest.raises(ArchiveError, match="format"):
        export(run, tmp_path / "x.json", format="json")  # type: ignore[arg-type]
    out = export(run, tmp_path / "front.parquet")
    assert "x1" not in pq.read_table(out).column_names  # a run without decision vectors


def test_export_renames_a_colliding_objective(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with Store.create(run, n_obj=2, meta={"objective_names": ["round", "cost"]}) as store:
        store.append(np.array([[1.0, 2.0]]), preference=[0.5, 0.5], round=7, shard=0,
                     member=0, algorithm="epo", step=0)
    got = pq.read_table(export(run, tmp_path / "f.parquet"))
    assert got["round"].to_pylist() == [7] and got["objective_round"].to_pylist() == [1.0]
    assert isinstance(got.schema.field("cost").type, pa.DataType)
