"""Network checkpoints in the archive: written for front rows only, durable before the
manifest, reloadable into modules that reproduce their archived objectives, collected
when their points leave the front."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
import torch
from torch import nn

from paretoray import archive, problems
from paretoray.archive import Store
from paretoray.archive.checkpoints import (
    CHECKPOINT_DIR,
    checkpoint_ref,
    network_meta,
    read_checkpoint,
)
from paretoray.engine import Engine
from paretoray.errors import ArchiveError, ShapeError
from tests.archive._helpers import brute_force_front


@pytest.fixture(scope="module")
def trained():
    """A small EPO population on multi_digits after a few steps, and its held-out values."""
    prob = problems.get("multi_digits", n_train=256, n_val=128, n_test=64)
    p = 6
    w = torch.linspace(0.1, 0.9, p, dtype=torch.float64)
    eng = Engine(prob, "epo", torch.stack([w, 1 - w], 1), lr=3e-3, seed=0, device="cpu")
    eng.run(30)
    _, F, _finite = eng.evaluate()
    return prob, eng, F.numpy().astype(np.float64), eng.heldout_metrics()


def _append(store, eng, F, metrics, round_):
    idx = torch.arange(eng.p)
    return store.append(F, preference=eng.prefs.numpy(), round=round_, shard=0,
                        member=np.arange(eng.p), algorithm="epo", step=eng.steps_done,
                        params=eng.member_params(idx),
                        metrics={k: v.numpy() for k, v in metrics.items()})


def _files(run) -> set[str]:
    return {f"{CHECKPOINT_DIR}/{p.name}" for p in (run / CHECKPOINT_DIR).iterdir()}


def test_front_rows_get_checkpoints_that_reproduce_their_objectives(tmp_path, trained) -> None:
    prob, eng, F, metrics = trained
    run = tmp_path / "run"
    meta = network_meta(prob)
    assert meta["problem"] == "multi_digits" and meta["metric_names"] == [
        "left_accuracy", "right_accuracy"]
    with Store.create(run, n_obj=2, meta=meta) as store:
        res = _append(store, eng, F, metrics, 0)
    # rows read back with pyarrow, independently of paretoray's reader
    seg = list((run / "archive").rglob("seg-*.arrow"))
    assert len(seg) == 1
    table = pa.ipc.open_file(pa.memory_map(str(seg[0]))).read_all()
    refs = table.column("params_ref").to_pylist()
    objs = np.array(table.column("objectives").to_pylist())
    in_front = {tuple(r) for r in brute_force_front(objs)}
    for ref, obj, pid in zip(refs, objs, table.column("point_id").to_pylist(), strict=True):
        assert (ref is not None) == (tuple(obj) in in_front)
        if ref is not None:
            assert ref == checkpoint_ref(pid)
    assert res.accepted == sum(r is not None for r in refs) == len(_files(run))
    np.testing.assert_array_equal(table.column("left_accuracy").to_numpy(),
                                  metrics["left_accuracy"].numpy())
    assert json.loads((run / "run.json").read_text())["metric_names"] == [
        "left_accuracy", "right_accuracy"]

    front = archive.open(run)
    assert set(front.metrics) == {"left_accuracy", "right_accuracy"}
    assert {"left_accuracy", "right_accuracy"} <= set(front.to_pandas().columns)
    va = prob.data.split("validation")
    for i in range(len(front)):
        model = front.load_model(i)  # rebuilt from run.json's problem name and options
        assert isinstance(model, nn.Module) and not model.training
        with torch.no_grad():
            left, right = model(va["x"])
        archived = front.objectives[i]
        again = [float(nn.functional.cross_entropy(left, va["y_left"])),
                 float(nn.functional.cross_entropy(right, va["y_right"]))]
        np.testing.assert_allclose(again, archived, rtol=0, atol=1e-6)
        acc = float((left.argmax(-1) == va["y_left"]).float().mean())
        assert acc == pytest.approx(front.metrics["left_accuracy"][i], abs=1e-9)


def test_points_that_leave_the_front_lose_their_checkpoints(tmp_path, trained) -> None:
    prob, eng, F, metrics = trained
    run = tmp_path / "run"
    with Store.create(run, n_obj=2, meta=network_meta(prob)) as store:
        _append(store, eng, F, metrics, 0)
        first = _files(run)
        assert first
        # the same models, better by 0.5 in both losses: every earlier point leaves the front
        _append(store, eng, F - 0.5, metrics, 1)
        now = _files(run)
        front_refs = set(store.front().to_arrow().column("params_ref").to_pylist())
        assert now == front_refs and not (now & first)
        # the manifest that no longer refers to the old points was committed first
        manifest = json.loads((run / "archive" / "manifest.json").read_text())
        assert manifest["front"]["rows"] == len(front_refs)
    gone = archive.read_points(run).column("params_ref").to_pylist()[0]
    if gone is not None:
        with pytest.raises(ArchiveError, match="garbage-collected"):
            read_checkpoint(run, gone)


def test_nan_rows_never_reach_the_archive_or_its_checkpoints(tmp_path, trained) -> None:
    prob, eng, F, metrics = trained
    run = tmp_path / "run"
    bad = F.copy()
    bad[1, 0] = np.nan
    with Store.create(run, n_obj=2, meta=network_meta(prob)) as store:
        res = _append(store, eng, bad, metrics, 0)
    assert res.rejected == 1
    table = archive.read_points(run)
    assert 1 not in table.column("member").to_pylist()
    assert np.isfinite(np.array(table.column("objectives").to_pylist())).all()
    for ref in table.column("params_ref").to_pylist():
        if ref is not None:
            assert all(np.isfinite(v).all() for v in read_checkpoint(run, ref).values())


def test_reopened_run_keeps_models_loadable(tmp_path, trained) -> None:
    prob, eng, F, metrics = trained
    run = tmp_path / "run"
    with Store.create(run, n_obj=2, meta=network_meta(prob)) as store:
        _append(store, eng, F, metrics, 0)
    with Store.open(run) as store:
        front = store.front()
        refs = front.to_arrow().column("params_ref").to_pylist()
        assert all(r is not None for r in refs)
        state = read_checkpoint(run, refs[0])
        member = int(front.to_arrow().column("member")[0].as_py())
        for k, v in eng.member_params(torch.tensor([member])).items():
            np.testing.assert_array_equal(state[k], v[0].numpy())  # bit-exact
        model = front.load_model(0, problem=prob)
        assert sum(p.numel() for p in model.parameters()) == prob.n_params


def test_bad_params_and_metrics_are_refused(tmp_path, trained) -> None:
    prob, eng, F, _metrics = trained
    with Store.create(tmp_path / "run", n_obj=2, meta=network_meta(prob)) as store:
        with pytest.raises(ShapeError, match="not among this run's metric_names"):
            store.append(F, preference=eng.prefs.numpy(), round=0, shard=0, member=0,
                         algorithm="epo", step=0, metrics={"accuracy": np.zeros(len(F))})
        params = eng.member_params(torch.arange(eng.p))
        params["left.bias"] = params["left.bias"][:2]
        with pytest.raises(ShapeError, match=r"params\['left.bias'\]"):
            store.append(F, preference=eng.prefs.numpy(), round=0, shard=0, member=0,
                         algorithm="epo", step=0, params=params)


def test_vector_points_have_no_model(tmp_path) -> None:
    with Store.create(tmp_path / "run", n_obj=2, n_var=2) as store:
        store.append(np.array([[1.0, 2.0]]), preference=np.array([0.5, 0.5]), x=np.zeros((1, 2)),
                     round=0, shard=0, member=0, algorithm="epo", step=0)
        front = store.front()
    assert front.metrics == {}
    with pytest.raises(ArchiveError, match="no checkpoint"):
        front.load_model(0)


def test_an_all_rejected_round_writes_no_checkpoint(tmp_path, trained) -> None:
    prob, eng, F, metrics = trained
    run = tmp_path / "run"
    with Store.create(run, n_obj=2, meta=network_meta(prob)) as store:
        res = _append(store, eng, np.full_like(F, np.nan), metrics, 0)
        assert res.rows == 0 and res.rejected == len(F)
        assert not (run / CHECKPOINT_DIR).exists() or not _files(run)
        again = _append(store, eng, np.full_like(F, np.nan), metrics, 0)  # replay: a no-op
        assert again.duplicate


def test_killed_writer_leaves_every_committed_model_loadable(tmp_path) -> None:
    """SIGKILL a network writer mid-append three times: every committed front row's
    checkpoint exists and is the one written for that row (its ``obj`` equals the row's
    objectives); the next append collects the files the crashes left behind."""
    import os
    import random
    import signal
    import subprocess
    import sys
    import time
    import warnings
    from pathlib import Path

    writer = Path(__file__).with_name("_writer.py")
    repo = Path(__file__).resolve().parents[2]
    run = tmp_path / "run"
    Store.create(run, n_obj=2, meta={"metric_names": ["acc"]}).close()
    env = {**os.environ, "PYTHONPATH": f"{repo}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    rnd = random.Random(7)
    for attempt in range(3):
        proc = subprocess.Popen([sys.executable, str(writer), str(run), str(attempt), "--network"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        time.sleep(rnd.uniform(0.2, 0.8))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
        assert archive.verify(run).ok
        front = archive.open(run)  # read-only, despite the stale lock
        refs = front.to_arrow().column("params_ref").to_pylist()
        assert len(front) > 0 and all(r is not None for r in refs)
        for ref, obj in zip(refs, front.objectives, strict=True):
            np.testing.assert_array_equal(read_checkpoint(run, ref)["obj"], obj)
        assert np.isfinite(front.metrics["acc"]).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store = Store.open(run)
    with store:
        k = 4
        store.append(np.full((k, 2), 1e-9) + np.arange(k)[:, None] * [1e-10, -1e-10],
                     preference=np.full((k, 2), 0.5), round=store.n_rounds, shard=9,
                     member=np.arange(k), algorithm="epo", step=0,
                     params={"obj": np.zeros((k, 2)), "w": np.zeros((k, 256), np.float32)})
        refs = set(store.front().to_arrow().column("params_ref").to_pylist())
    assert len(refs) == k and _files(run) == refs  # crash leftovers and old points collected
