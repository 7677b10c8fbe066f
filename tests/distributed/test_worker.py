"""The shard loop (no Ray): checkpoints carry a stateful weighting's state; reports
handed on from a background thread."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from paretoray import algorithms
from paretoray.distributed.coordinator import CoordinatorCore
from paretoray.distributed.messages import Factory, RunPlan, SessionPlan
from paretoray.distributed.worker import (
    BackgroundReporter,
    load_checkpoint,
    run_shard,
    save_checkpoint,
)


def _plans(run_dir, weighting) -> tuple[CoordinatorCore, SessionPlan]:
    prefs = np.stack([np.linspace(0.1, 0.9, 4), 1 - np.linspace(0.1, 0.9, 4)], axis=1)
    problem = Factory("problem", "zdt1", {"n_var": 3})
    algorithm = Factory("algorithm", "famo", obj=weighting)
    core = CoordinatorCore(RunPlan(run_dir=str(run_dir), config={}, problem=problem,
                                   algorithm=algorithm, n_obj=2, n_var=3, ref_point=(1.1, 1.1),
                                   initial_prefs=prefs, workers=1, rounds=2, create=True))
    start = core.begin_session(2)
    session = SessionPlan(run_dir=str(run_dir), problem=problem, algorithm=algorithm,
                          n_obj=2, ref_point=(1.1, 1.1), shards=start.shards,
                          first_round=start.first_round, rounds=2, steps_per_round=5, lr=0.01,
                          optimizer="adam", optimizer_options={}, seed=0, device="cpu",
                          checkpoint_every=1)
    return core, session


def test_a_checkpoint_restores_the_weightings_state(tmp_path):
    famo = algorithms.get("famo")
    core, session = _plans(tmp_path / "run", famo)
    states = []
    run_shard(session, 0, core, lambda metrics, state: states.append(state))
    core.close()
    saved = states[-1]
    assert any(k.startswith("weighting.") for k in saved["engine"])
    save_checkpoint(saved, str(tmp_path))  # safetensors on disk, no pickles
    loaded = load_checkpoint(str(tmp_path))
    fresh = algorithms.get("famo")
    fresh.load_state_dict({k[len("weighting."):]: v for k, v in loaded["engine"].items()
                           if k.startswith("weighting.")})
    for key, value in famo.state_dict().items():
        torch.testing.assert_close(fresh.state_dict()[key], value)


def _run_reported(tmp_path, name, reporter_of):
    """Run a 2-round shard (checkpoint every round); returns what reached ``received``."""
    received = []

    def slow(metrics, state):  # as Tune's report: holds its caller a while, then keeps it
        time.sleep(0.05)
        received.append((metrics["round"], None if state is None else {
            k: v.clone() if isinstance(v, torch.Tensor) else v
            for k, v in state["engine"].items()}))

    core, session = _plans(tmp_path / name, algorithms.get("famo"))
    reporter = reporter_of(slow)
    try:
        run_shard(session, 0, core, reporter)
    finally:
        if isinstance(reporter, BackgroundReporter):
            reporter.close()
        core.close()
    return received


def test_reports_handed_on_in_the_background_are_those_of_a_direct_reporter(tmp_path):
    direct = _run_reported(tmp_path, "direct", lambda report: report)
    background = _run_reported(tmp_path, "background", BackgroundReporter)
    assert [r for r, _ in background] == [r for r, _ in direct] == [0, 1]
    for (_, a), (_, b) in zip(direct, background, strict=True):
        assert a.keys() == b.keys()
        for key in a:  # the checkpoint of each round, not of a later one
            torch.testing.assert_close(b[key], a[key], rtol=0, atol=0)


def test_an_error_in_the_reporting_thread_reaches_the_shard():
    def failing(metrics, state):
        raise OSError(f"disk full at round {metrics['round']}")

    reporter = BackgroundReporter(failing)
    reporter({"round": 3}, None)
    with pytest.raises(OSError, match="disk full at round 3"):
        for r in range(4, 10):  # the next report (or close) raises it in this thread
            reporter({"round": r}, None)
            time.sleep(0.05)
        reporter.close()
    reporter.close()  # raised once; closing again is quiet


def test_each_commit_records_the_cpu_its_steps_took(tmp_path):
    """``engine_cpu_s`` is the stepping thread's CPU: above zero, and never more than the
    wall seconds of the same steps (one thread cannot use more); a background thread
    burning CPU meanwhile is not counted, as the process's CPU time would count it."""
    import threading

    from paretoray.distributed.state import read_records

    stop = threading.Event()

    def burn() -> None:  # another thread of the same process, busy the whole time
        while not stop.is_set():
            sum(i * i for i in range(10_000))

    core, session = _plans(tmp_path / "run", algorithms.get("famo"))
    spinner = threading.Thread(target=burn, daemon=True)
    spinner.start()
    try:
        run_shard(session, 0, core, lambda metrics, state: None)
    finally:
        stop.set()
        spinner.join()
        core.close()
    commits = [r for r in read_records(tmp_path / "run" / "state" / "session-1.jsonl")
               if r["kind"] == "commit"]
    assert [r["round"] for r in commits] == [0, 1]
    for r in commits:
        assert 0.0 < r["engine_cpu_s"] <= r["engine_s"] + 1e-3, r
