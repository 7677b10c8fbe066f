"""The shard loop (no Ray): checkpoints carry a stateful weighting's state."""

from __future__ import annotations

import numpy as np
import torch

from paretoray import algorithms
from paretoray.distributed.coordinator import CoordinatorCore
from paretoray.distributed.messages import Factory, RunPlan, SessionPlan
from paretoray.distributed.worker import load_checkpoint, run_shard, save_checkpoint


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
