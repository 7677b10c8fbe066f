"""The faces: what search() and resume() accept and record (in-process, no Ray)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import paretoray as pr
from paretoray import algorithms, problems
from paretoray.errors import ConfigError

SMALL = {"population": 6, "steps": 20, "steps_per_round": 10, "workers": 0,
         "adapter": "fixed", "progress": False}


def test_objects_from_the_registry_are_recorded_by_name_and_resume_alone(tmp_path):
    run_dir = str(tmp_path / "reg")
    pr.search(problems.get("dtlz2", n_obj=3, n_var=5), algorithms.get("epo"),
              run_dir=run_dir, **SMALL)
    with open(tmp_path / "reg" / "run.json") as fh:
        meta = json.load(fh)
    assert (meta["problem"], meta["config"]["problem_options"]) == (
        "dtlz2", {"n_obj": 3, "n_var": 5})
    assert meta["custom_problem"] is False and meta["algorithm"] == "epo"
    front = pr.resume(run_dir, steps=10, progress=False)  # no object needed
    assert front.n_obj == 3 and front.x.shape[1] == 5


def test_a_truly_custom_problem_is_asked_for_again(tmp_path):
    from paretoray.problems.wrappers import from_function

    prob = from_function(lambda x: x[:, :2] ** 2, xl=-1.0, xu=1.0, n_var=2, n_obj=2)
    run_dir = str(tmp_path / "custom")
    pr.search(prob, "linear", run_dir=run_dir, ref_point=[2.0, 2.0], **SMALL)
    with pytest.raises(ConfigError, match=r"custom problem.*pass it again"):
        pr.resume(run_dir, steps=10)
    assert len(pr.resume(run_dir, steps=10, problem=prob, progress=False)) > 0


def test_workers_auto_runs_small_populations_in_process(tmp_path):
    import os

    from paretoray.api import _resolve_workers
    from paretoray.config import SearchConfig

    run_dir = tmp_path / "auto"
    pr.search("zdt1", "linear", population=8, steps=10, run_dir=str(run_dir), progress=False)
    assert not (run_dir / "tune").exists()  # no Ray: no Tune experiment
    with open(run_dir / "run.json") as fh:
        assert json.load(fh)["config"]["workers"] == "auto"
    zdt1 = problems.get("zdt1")
    big = SearchConfig(problem="zdt1", algorithm="linear", population=5000)
    assert _resolve_workers(big, zdt1) == min(5000, os.cpu_count())
    assert _resolve_workers(big.replace(address="10.0.0.1:6379"), zdt1) == -1  # the cluster's
    assert _resolve_workers(big.replace(workers=3), zdt1) == 3


def test_a_pymoo_problem_is_accepted_and_gets_a_sound_reference_point(tmp_path):
    import math

    from pymoo.problems import get_problem

    run_dir = tmp_path / "pymoo"
    with pytest.warns(UserWarning, match="finite differences"):
        front = pr.search(get_problem("zdt2", n_var=4), "epo", run_dir=str(run_dir), **SMALL)
    with open(run_dir / "run.json") as fh:
        ref = json.load(fh)["ref_point"]
    # 10 % beyond the worst of 256 random points of the box: ZDT2's f1 is x1 in [0, 1]
    assert len(ref) == 2 and 1.0 < ref[0] <= 1.1 + 1e-9
    assert (front.objectives < np.asarray(ref)).all()  # every kept point counts
    assert math.isfinite(front.hypervolume()) and front.hypervolume() > 0
    for path in (run_dir / "state").iterdir():  # no NaN in any state file
        assert "NaN" not in path.read_text()


def test_a_constrained_pymoo_problem_keeps_infeasible_points_out_of_the_front(tmp_path):
    from pymoo.problems import get_problem

    bnh = get_problem("bnh")
    run_dir = tmp_path / "bnh"
    with pytest.warns(UserWarning, match="finite differences"):
        front = pr.search(bnh, "tchebycheff", run_dir=str(run_dir), population=8, steps=200,
                          steps_per_round=50, workers=0, progress=False)
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["n_ieq_constr"] == 2
    # pymoo's own constraint values for the front's designs: all feasible
    G = bnh.evaluate(np.asarray(front.x), return_values_of=["G"])
    assert len(front) > 0 and (G <= 1e-6).all()
    points = pr.archive.read_points(str(run_dir))
    cv = points["violation"].to_numpy()
    G_all = bnh.evaluate(np.stack(points["x"].to_numpy(zero_copy_only=False)),
                         return_values_of=["G"])
    assert np.allclose(cv, np.clip(G_all, 0, None).sum(axis=1), atol=1e-9)


def test_steps_below_a_round_run_exactly_those_steps(tmp_path):
    run_dir = tmp_path / "short"
    pr.search("zdt1", "linear", population=4, steps=7, steps_per_round=50, workers=0,
              run_dir=str(run_dir), progress=False)
    assert pr.open(str(run_dir)).to_pandas()["step"].max() == 7


class _FailsLater(problems.Problem):
    """ZDT1 whose evaluations raise from the ``after``-th on (a bug that shows late)."""

    def __init__(self, after: int) -> None:
        inner = problems.get("zdt1", n_var=4)
        self._inner, self.after, self.calls = inner, after, 0
        self.n_var, self.n_obj, self.xl, self.xu = inner.n_var, inner.n_obj, inner.xl, inner.xu
        self.ref_point = inner.ref_point

    def _evaluate(self, x):
        self.calls += 1
        if self.calls >= self.after:
            raise ValueError("diverged")
        return self._inner._evaluate(x)


def test_a_failed_search_keeps_its_run_directory_once_something_was_committed(tmp_path):
    kept, gone = tmp_path / "kept", tmp_path / "gone"
    with pytest.raises(ValueError, match="diverged"):  # fails in round 2 (steps 11..20)
        pr.search(_FailsLater(after=15), "linear", population=4, steps=40,
                  steps_per_round=10, workers=0, run_dir=str(kept), progress=False)
    assert len(pr.open(str(kept))) > 0  # round 0 is committed and readable
    with pytest.raises(ValueError, match="diverged"):  # fails in round 0: nothing committed
        pr.search(_FailsLater(after=3), "linear", population=4, steps=40,
                  steps_per_round=10, workers=0, run_dir=str(gone), progress=False)
    assert not gone.exists()


def test_objective_names_reach_tables_and_the_archive(tmp_path):
    import pyarrow as pa

    from paretoray.archive.reader import segment_paths

    run_dir = tmp_path / "named"
    front = pr.search("zdt1", "linear", run_dir=str(run_dir), objective_names=["error", "cost"],
                      **SMALL)
    assert front.objective_names == ["error", "cost"]
    assert {"error", "cost"} <= set(front.to_pandas(flatten=True).columns)
    with open(run_dir / "run.json") as fh:
        assert json.load(fh)["objective_names"] == ["error", "cost"]
    schema = pa.ipc.open_file(pa.memory_map(segment_paths(str(run_dir))[0])).schema
    assert b"error" in schema.metadata[b"paretoray.objective_names"]
    with pytest.raises(ConfigError, match=r"objective_names=\['a'\] is not allowed"):
        pr.search("zdt1", "linear", run_dir=str(tmp_path / "bad"), objective_names=["a"],
                  **SMALL)
