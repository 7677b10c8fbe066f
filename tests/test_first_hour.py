"""Issue 14's first list, as the calls a new user makes (each one failed before).

Every search here runs in-process on a few members for a few steps: these check that the
calls work and what they leave behind, not the quality of the front.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import paretoray
from paretoray.errors import ConfigError

SMALL = {"population": 6, "steps": 40, "steps_per_round": 20, "progress": False}


def _no_nan_in_state(run_dir: Path) -> None:
    for path in [run_dir / "run.json", *(run_dir / "state").iterdir()]:
        text = path.read_text()
        assert "NaN" not in text and "Infinity" not in text, path


def test_own_function_without_reference_point(tmp_path: Path) -> None:
    def f(x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x.pow(2).sum(1), (x - 1).pow(2).sum(1)], dim=1)

    prob = paretoray.problems.wrappers.from_function(f, xl=0.0, xu=1.0, n_var=5)
    run_dir = tmp_path / "own"
    front = paretoray.search(prob, "epo", workers=0, run_dir=str(run_dir), **SMALL)
    assert len(front) > 0 and np.isfinite(front.hypervolume())
    ref = json.loads((run_dir / "run.json").read_text())["ref_point"]
    # 10 % beyond the worst of 256 box points: both objectives reach 5 at a corner
    assert len(ref) == 2 and all(4.0 < r <= 5.5 for r in ref)
    _no_nan_in_state(run_dir)
    # the same function, importable where the README says
    from paretoray.problems import from_function

    assert from_function is paretoray.problems.wrappers.from_function


def test_pymoo_problem_through_as_problem_with_finite_differences(tmp_path: Path) -> None:
    from pymoo.problems import get_problem

    from paretoray.problems.wrappers import as_problem

    prob = as_problem(get_problem("zdt1", n_var=5), gradient="fd")
    run_dir = tmp_path / "pymoo"
    front = paretoray.search(prob, "epo", workers=0, run_dir=str(run_dir), **SMALL)
    F = get_problem("zdt1", n_var=5).evaluate(np.asarray(front.x))
    assert np.allclose(F, front.objectives, atol=1e-12)  # pymoo's own values, archived
    _no_nan_in_state(run_dir)


def test_botorch_test_function_passed_as_is(tmp_path: Path) -> None:
    from botorch.test_functions.multi_objective import BraninCurrin

    bc = BraninCurrin(negate=True)
    front = paretoray.search(bc, "tchebycheff", workers=0, run_dir=str(tmp_path / "bc"),
                             **SMALL)
    x = torch.tensor(front.x)
    # BoTorch maximizes negate=True functions; the archive holds the minimized raw values
    assert torch.allclose(-bc(x), torch.tensor(front.objectives), atol=1e-9)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_on_a_cpu_machine_is_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    run_dir = tmp_path / "cuda"
    with pytest.raises(ConfigError, match="device='cuda' is not allowed"):
        paretoray.search("zdt1", "epo", workers=0, device="cuda", run_dir=str(run_dir),
                         **SMALL)
    assert not run_dir.exists()
    # ... so the retry with the same run_dir is not blocked
    front = paretoray.search("zdt1", "epo", workers=0, device="cpu", run_dir=str(run_dir),
                             **SMALL)
    assert len(front) > 0


def test_front_is_indexable_and_select_returns_the_point(tmp_path: Path) -> None:
    front = paretoray.search("zdt1", "epo", workers=0, run_dir=str(tmp_path / "z"), **SMALL)
    first = front[0]
    assert np.array_equal(first.objectives, front.objectives[0])
    assert [p.point_id for p in front] == list(front.point_ids)
    # pymoo's pseudo-weights: all weight on f1 asks for the smallest f1
    chosen = front.select([1.0, 0.0])
    assert chosen.objectives[0] == front.objectives[:, 0].min()
    assert chosen.x is not None and np.array_equal(chosen.x, front.x[chosen.index])
