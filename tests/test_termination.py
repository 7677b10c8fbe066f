"""Stopping rules (pymoo's shape) and per-round callbacks, alone and through a search."""

from __future__ import annotations

import paretoray as pr
from paretoray.termination import (
    AllOf,
    AnyOf,
    HypervolumeStall,
    MaxEvaluations,
    MaxTime,
    Status,
)


def round_keys(run_dir):
    """(shard, round) of the committed rows, read with pyarrow alone."""
    import pyarrow as pa

    from paretoray.archive.reader import segment_paths

    keys = set()
    for path in segment_paths(run_dir):
        table = pa.ipc.open_file(pa.memory_map(path)).read_all()
        keys |= set(zip(table["shard"].to_pylist(), table["round"].to_pylist(), strict=True))
    return keys


def _status(**kw) -> Status:
    return Status(**{"round": 1, "evaluations": 0, "seconds": 0.0, "hypervolumes": (), **kw})


def test_rules_report_progress_and_combine():
    assert MaxTime(10.0).progress(_status(seconds=2.5)) == 0.25
    assert MaxEvaluations(100).progress(_status(evaluations=250)) == 1.0
    stall = HypervolumeStall(rounds=2, tol=1e-3)
    assert stall.progress(_status(hypervolumes=(0.1, 0.2, 0.3))) == 0.0  # still climbing
    assert stall.progress(_status(hypervolumes=(0.1, 0.5, 0.50001))) == 0.5
    assert stall.should_stop(_status(hypervolumes=(0.1, 0.5, 0.50001, 0.50002)))
    half, done = MaxTime(10.0), MaxEvaluations(10)
    s = _status(seconds=5.0, evaluations=10)
    assert AnyOf(half, done).progress(s) == 1.0 and AllOf(half, done).progress(s) == 0.5


def test_a_hypervolume_stall_ends_the_search_early_and_callbacks_see_each_round(tmp_path):
    seen = []
    run_dir = str(tmp_path / "stall")
    pr.search("zdt1", "linear", population=4, steps=2000, steps_per_round=10, workers=0,
              adapter="fixed", run_dir=run_dir, progress=False, lr=1e-6,
              scheduler={"hv_stall_rounds": 2, "hv_stall_tol": 1e-3},
              callbacks=[seen.append])
    rounds = {r for _, r in round_keys(run_dir)}
    assert 3 <= len(rounds) < 200  # a learning rate this small stalls at once
    assert [p.round for p in seen] == list(range(1, len(rounds) + 1))
    assert all(p.hypervolume is not None and p.front_size > 0 for p in seen)


def test_an_evaluation_budget_stops_after_that_many_member_steps(tmp_path):
    run_dir = str(tmp_path / "budget")
    pr.search("zdt1", "linear", population=4, steps=2000, steps_per_round=10, workers=0,
              adapter="fixed", run_dir=run_dir, progress=False,
              scheduler={"max_evaluations": 4 * 10 * 3})
    assert sorted(r for _, r in round_keys(run_dir)) == [0, 1, 2]


def test_a_stall_rule_works_on_a_problem_without_its_own_reference_point(tmp_path):
    import json

    from paretoray.problems.wrappers import from_function

    prob = from_function(lambda x: x[:, :2] ** 2, xl=-1.0, xu=1.0, n_var=2, n_obj=2)
    run_dir = tmp_path / "x"
    pr.search(prob, "linear", population=4, steps=2000, steps_per_round=10, workers=0,
              run_dir=str(run_dir), progress=False, lr=1e-6,
              scheduler={"hv_stall_rounds": 2, "hv_stall_tol": 1e-3})
    with open(run_dir / "run.json") as fh:
        assert len(json.load(fh)["ref_point"]) == 2  # sampled from the box, recorded
    assert len({r for _, r in round_keys(str(run_dir))}) < 200
