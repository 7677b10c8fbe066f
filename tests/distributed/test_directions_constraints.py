"""Directions and constraints through Ray workers: the problem's sign travels in its
``Factory`` and each offer carries its points' violations (the in-process path runs the same
coordinator; this checks what Ray ships between processes)."""

from __future__ import annotations

import json
import os

import numpy as np
from pymoo.problems import get_problem
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

import paretoray as pr

from ._rows import read_rows, round_keys


def test_maximized_objective_of_a_constrained_problem_on_two_workers(ray_session, tmp_path):
    run_dir = str(tmp_path / "bnh-max")
    front = pr.search("bnh", "tchebycheff", population=8, steps=60, steps_per_round=20,
                      workers=2, directions=["minimize", "maximize"], progress=False,
                      run_dir=run_dir, ref_point=[150.0, 0.0])
    assert round_keys(run_dir) == {(s, r): 1 for s in range(2) for r in range(3)}
    with open(os.path.join(run_dir, "run.json")) as fh:
        meta = json.load(fh)
    assert meta["directions"] == ["minimize", "maximize"] and meta["n_ieq_constr"] == 2
    bnh = get_problem("bnh")
    rows = read_rows(run_dir)
    x = np.asarray(rows["x"].to_pylist())
    F, G = bnh.evaluate(x, return_values_of=["F", "G"])
    # stored as the problem computes them (f2 not negated), with pymoo's CV
    np.testing.assert_allclose(np.asarray(rows["objectives"].to_pylist()), F, atol=1e-9)
    np.testing.assert_allclose(rows["violation"].to_numpy(), np.clip(G, 0, None).sum(1),
                               atol=1e-9)
    # the front: pymoo's first front of the feasible rows, f2 maximized
    feasible = np.clip(G, 0, None).sum(1) == 0
    nds = NonDominatedSorting().do(F[feasible] * [1, -1], only_non_dominated_front=True)
    expected = {tuple(np.round(f, 12)) for f in F[feasible][nds]}
    assert {tuple(np.round(f, 12)) for f in front.objectives} == expected
    assert front.hypervolume() > 0
