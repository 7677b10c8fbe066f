"""Recovery never deletes a checksummed segment, and the manifest cannot leave the run."""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from paretoray.archive import ArchiveWarning, Store, open, read_points, verify
from paretoray.archive.manifest import segment_name
from paretoray.cli import main
from paretoray.errors import ArchiveError

from ._helpers import as_set, brute_force_front, fill, seg_path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _five_rounds(run: Path) -> tuple[list[np.ndarray], list[str], bytes]:
    """Five appends; returns the chunks, segment names and the manifest after the second."""
    rng = np.random.default_rng(4)
    chunks = [rng.random((16, 2)) for _ in range(5)]
    with Store.create(run, n_obj=2, n_var=3) as store:
        names = fill(store, chunks[:2])
        old_manifest = (run / "archive" / "manifest.json").read_bytes()
        names += fill(store, chunks[2:], start_round=2)
    return chunks, names, old_manifest


def test_manifest_older_than_segments_quarantines_then_readmits(tmp_path: Path) -> None:
    run = tmp_path / "run"
    chunks, names, old_manifest = _five_rounds(run)
    shas = {n: _sha(seg_path(run, n)) for n in names[2:]}
    # The manifest is restored from a backup taken after two rounds, as errors advise.
    (run / "archive" / "manifest.json").write_bytes(old_manifest)
    report = verify(run)
    assert report.ok and sorted(report.orphans) == [f"archive/segments/{n}" for n in names[2:]]

    with pytest.warns(ArchiveWarning, match="Quarantined 3") as caught, Store.open(run) as store:
        assert store.segments == names[:2]
        assert as_set(store.front().objectives) == brute_force_front(np.concatenate(chunks[:2]))
    message = str(next(w.message for w in caught if "Quarantined" in str(w.message)))
    assert all(n in message for n in names[2:]) and "--readmit" in message
    quarantine = run / "archive" / "quarantine"
    assert {p.name: _sha(p) for p in quarantine.iterdir()} == shas  # kept, byte for byte
    report = verify(run)
    assert report.orphans == [] and len(report.quarantined) == 3 and report.ok

    with Store.open(run, readmit=True) as store:
        assert store.readmitted == [segment_name(3), segment_name(4), segment_name(5)]
        assert sorted(store.committed_rounds()) == [(0, r) for r in range(5)]
    assert not any(quarantine.iterdir())
    points = read_points(run)  # rows read back with pyarrow: every chunk, fresh unique ids
    got = np.stack(points["objectives"].to_numpy(zero_copy_only=False))
    np.testing.assert_array_equal(got, np.concatenate(chunks))
    assert points["point_id"].to_pylist() == list(range(80))
    assert as_set(open(run).objectives) == brute_force_front(np.concatenate(chunks))
    report = verify(run)
    assert report.ok and report.quarantined == [] and report.missing_rounds == []


def test_only_the_write_in_flight_is_discarded(tmp_path: Path) -> None:
    """Next-numbered and incomplete: discarded. Complete, or another number: quarantined."""
    run = tmp_path / "run"
    _, names, _ = _five_rounds(run)
    whole = seg_path(run, names[0]).read_bytes()
    seg_path(run, segment_name(6)).write_bytes(whole)  # complete: renamed, manifest not replaced
    seg_path(run, segment_name(9)).write_bytes(whole[:100])  # not the next number
    (run / "archive" / segment_name(7)).write_bytes(whole)  # a stray in the old folder
    with pytest.warns(ArchiveWarning, match="Quarantined 3"), Store.open(run) as store:
        assert store.segments == names
    kept = sorted(p.name for p in (run / "archive" / "quarantine").iterdir())
    assert kept == [segment_name(6), segment_name(7), segment_name(9)]

    seg_path(run, segment_name(6)).write_bytes(whole[: len(whole) // 3])  # incomplete, next
    with pytest.warns(ArchiveWarning, match="write in flight") as caught, Store.open(run):
        pass
    assert not any("Quarantined" in str(w.message) for w in caught)
    assert not seg_path(run, segment_name(6)).exists()

    # Re-admission refuses what would duplicate a committed round or is not the run's data.
    with pytest.warns(ArchiveWarning, match="Left 3") as caught, \
            Store.open(run, readmit=True) as store:
        assert store.readmitted == []
    text = " ".join(str(w.message) for w in caught)
    assert f"shard 0 round 0 is already committed by {names[0]}" in text
    assert "not a readable Arrow IPC file" in text
    assert len(list((run / "archive" / "quarantine").iterdir())) == 3


def test_quarantine_never_overwrites(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _, names, _ = _five_rounds(run)
    whole = seg_path(run, names[1]).read_bytes()
    for attempt in range(2):
        seg_path(run, segment_name(8)).write_bytes(whole[: 200 + attempt])
        with pytest.warns(ArchiveWarning, match="Quarantined 1"), Store.open(run):
            pass
    sizes = sorted(p.stat().st_size for p in (run / "archive" / "quarantine").iterdir())
    assert sizes == [200, 201]


@pytest.mark.parametrize("name", [
    "../../../../etc/hostname", "../../secret.txt", "/etc/hostname", "segments/seg-000001.arrow",
    "seg-1.arrow", "front.arrow", "seg-000001.arrow/../../../secret.txt",
])
def test_manifest_entries_are_confined_to_the_run(tmp_path: Path, name: str) -> None:
    run = tmp_path / "run"
    _five_rounds(run)
    (tmp_path / "secret.txt").write_text("not yours")
    path = run / "archive" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["segments"][1]["name"] = name
    path.write_text(json.dumps(manifest))
    for reader in (verify, open, read_points, Store.open):
        with pytest.raises(ArchiveError, match=r"not a plain 'seg-NNNNNN\.arrow'") as err:
            reader(run)
        assert repr(name) in str(err.value) and "manifest.json" in str(err.value)
    assert main(["verify", str(run)]) == 2


def test_confined_front_names(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _five_rounds(run)
    path = run / "archive" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["front"]["covers_through"] = "../../../etc/passwd"
    path.write_text(json.dumps(manifest))
    with pytest.raises(ArchiveError, match="etc/passwd"):
        verify(run)


def test_cli_verify_readmit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    _, _, old_manifest = _five_rounds(run)
    (run / "archive" / "manifest.json").write_bytes(old_manifest)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ArchiveWarning)
        assert main(["verify", "--readmit", str(run)]) == 0
    out = capsys.readouterr().out
    assert all(n in out for n in (segment_name(3), segment_name(5))) and "OK" in out
    assert read_points(run).num_rows == 80
    shutil.rmtree(run / "archive" / "quarantine")
    assert main(["verify", "--readmit", str(run)]) == 0
    assert "nothing to re-admit" in capsys.readouterr().out
