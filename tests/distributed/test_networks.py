"""Networks through the whole service: search, resume from checkpoints, a killed driver,
and Ray workers -- every archived model reloads and reproduces its archived objectives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

import paretoray as pr
from paretoray import problems

from ._rows import read_rows, round_keys, wait_for_rounds

SMALL = {"population": 8, "steps_per_round": 20, "adapter": "fixed", "progress": False,
         "lr": 0.01}


def _assert_models_reproduce(front: pr.ParetoSet) -> None:
    """Recompute each archived model's held-out losses from its checkpoint alone."""
    va = problems.get("multi_digits").data.split("validation")
    assert len(front) > 0
    for i in range(len(front)):
        model = front.load_model(i)
        with torch.no_grad():
            left, right = model(va["x"])
        again = [float(nn.functional.cross_entropy(left, va["y_left"])),
                 float(nn.functional.cross_entropy(right, va["y_right"]))]
        np.testing.assert_allclose(again, front.objectives[i], rtol=0, atol=1e-5)


def test_search_then_resume_refines_the_same_models(tmp_path):
    run_dir = str(tmp_path / "digits")
    front = pr.search("multi_digits", "epo", steps=40, workers=0, run_dir=run_dir, **SMALL)
    _assert_models_reproduce(front)
    assert set(front.metrics) == {"left_accuracy", "right_accuracy"}
    hv_before = front.hypervolume()
    again = pr.resume(run_dir, steps=20, progress=False)
    _assert_models_reproduce(again)
    with open(os.path.join(run_dir, "run.json")) as fh:
        assert [s["session"] for s in json.load(fh)["lineage"]] == [1, 2]
    # the resumed members started from the archived models: its first round's points are
    # already as good as the first session's end (a fresh start is far worse: HV ~ 1 here)
    rows = read_rows(run_dir).to_pandas()
    first_resumed = np.stack(rows[rows["round"] == 2]["objectives"].to_numpy())
    fresh = np.stack(rows[rows["round"] == 0]["objectives"].to_numpy())
    assert first_resumed.sum(1).mean() < fresh.sum(1).mean()
    assert again.hypervolume(front.default_ref_point()) >= hv_before - 1e-9


def test_driver_killed_mid_run_resumes_with_every_model_loadable(tmp_path):
    run_dir = str(tmp_path / "killed")
    script = textwrap.dedent(f"""
        import paretoray as pr
        pr.search("multi_digits", "epo", steps=10**6, workers=0, run_dir={run_dir!r},
                  population=8, steps_per_round=10, adapter="fixed", progress=False)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    wait_for_rounds(run_dir, 2, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = set(read_rows(run_dir)["point_id"].to_pylist())
    front = pr.resume(run_dir, steps=10, progress=False)  # takes the dead driver's lock over
    assert before <= set(read_rows(run_dir)["point_id"].to_pylist())
    assert max(round_keys(run_dir).values()) == 1
    _assert_models_reproduce(front)
    _assert_models_reproduce(pr.open(run_dir))


@pytest.mark.ray
def test_ray_workers_train_networks(ray_session, tmp_path):
    run_dir = str(tmp_path / "ray")
    front = pr.search("multi_digits", "epo", steps=20, workers=2, run_dir=run_dir, **SMALL)
    assert round_keys(run_dir) == {(0, 0): 1, (1, 0): 1}
    _assert_models_reproduce(front)
