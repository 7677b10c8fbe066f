"""Faults: a killed worker, a killed driver, NaN losses -- and the archive stays intact."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import paretoray as pr
from paretoray.archive import verify
from paretoray.distributed.state import read_records

from . import _faulty
from ._rows import read_rows, round_keys


def test_worker_killed_mid_run_restarts_from_checkpoint(ray_session, tmp_path):
    run_dir = str(tmp_path / "killed-worker")
    marker = str(tmp_path / "killed.pid")
    # 2 shards x 6 rounds of 20 steps; the kill lands in round 3 of whichever shard is first
    problem = _faulty.KillOnce(marker, after=3 * 21 + 5)
    front = pr.search(problem, "mgda", population=8, steps=120, workers=2, adapter="fixed",
                      run_dir=run_dir, steps_per_round=20, checkpoint_every=2, max_failures=2,
                      progress=False)
    assert os.path.exists(marker), "the worker was never killed"
    # every (shard, round) committed exactly once, none missing (rows read with pyarrow)
    assert round_keys(run_dir) == {(s, r): 1 for s in range(2) for r in range(6)}
    report = verify(run_dir)
    assert report.ok, str(report)
    assert len(front) > 0 and np.isfinite(front.objectives).all()


def test_driver_killed_then_resume_completes(ray_session, tmp_path):
    run_dir = str(tmp_path / "killed-driver")
    address = ray_session.get_runtime_context().gcs_address
    script = textwrap.dedent(f"""
        import ray, paretoray as pr
        ray.init(address={address!r}, namespace="driver-kill", log_to_driver=False)
        pr.search("zdt1", "linear", population=8, steps=100000, workers=2, adapter="fixed",
                  run_dir={run_dir!r}, steps_per_round=20, progress=False,
                  problem_options={{"n_var": 10}})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"driver ended early: {proc.stdout.read().decode()[-2000:]}")
        try:
            if len(round_keys(run_dir)) >= 4:
                break
        except Exception:  # the run directory is being created
            pass
        time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("driver committed nothing in 120 s")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = round_keys(run_dir)
    before_ids = set(read_rows(run_dir)["point_id"].to_pylist())

    # Ray tears down the dead driver's coordinator: killed, its lock then belongs to a dead
    # pid; stopped gracefully (it can be, under load), it released the lock already
    with contextlib.suppress(FileNotFoundError), open(os.path.join(run_dir, "LOCK")) as fh:
        holder = json.load(fh)["pid"]
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                os.kill(holder, 0)
            except ProcessLookupError:
                break
            time.sleep(0.5)

    # (the coordinator actor takes the stale lock over, with a warning in its own log)
    front = pr.resume(run_dir, steps=40, workers=2, progress=False)
    assert not os.path.exists(os.path.join(run_dir, "LOCK"))  # released at the end
    with open(os.path.join(run_dir, "run.json")) as fh:
        assert len(json.load(fh)["lineage"]) == 2
    after = round_keys(run_dir)
    assert set(before) <= set(after)  # nothing committed was lost
    assert max(after.values()) == 1  # and no round was written twice
    assert before_ids <= set(read_rows(run_dir)["point_id"].to_pylist())
    report = verify(run_dir)
    assert report.ok, str(report)
    assert len(front) > 0


def test_nan_problem_is_reported_and_never_archived(tmp_path):
    run_dir = str(tmp_path / "nan")
    front = pr.search(_faulty.NaNRegion(), "linear", population=16, steps=60, workers=0,
                      adapter="fixed", run_dir=run_dir, steps_per_round=20, progress=False)
    records = read_records(os.path.join(run_dir, "state", "session-1.jsonl"))
    resets = sum(r["nan_resets"] for r in records if r["kind"] == "commit")
    assert resets > 0
    rows = read_rows(run_dir)
    assert np.isfinite(np.asarray(rows["objectives"].to_pylist())).all()
    assert (np.asarray(rows["x"].to_pylist())[:, 0] <= 0.8).all()
    assert len(front) == len(pr.open(run_dir))
