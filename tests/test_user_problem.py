"""A user's own network problem, named in YAML by its import path, searched and reloaded."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

import paretoray as pr
from paretoray.errors import ConfigError

MODULE = textwrap.dedent('''
    import torch
    from torch import nn
    from paretoray.problems.networks import NetworkProblem
    from paretoray.problems.networks.data import DataSplits

    def _split(n, seed):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(n, 4, generator=g)
        return {"x": x, "a": x.sum(1, keepdim=True), "b": -x.sum(1, keepdim=True)}

    def make_problem(width: int = 8):
        """Two regression targets that conflict: one net, one output, a and b = -a."""
        data = DataSplits(train=_split(256, 0), validation=_split(64, 1))
        model = lambda: nn.Sequential(nn.Linear(4, width), nn.Tanh(), nn.Linear(width, 1))
        losses = [lambda out, batch: ((out - batch["a"]) ** 2).mean(),
                  lambda out, batch: ((out - batch["b"]) ** 2).mean()]
        return NetworkProblem(model, data, losses, batch_size=32, ref_point=[20.0, 20.0])
''')


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "my_mtl.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_mtl:make_problem"
    sys.modules.pop("my_mtl", None)


def test_a_yaml_config_names_a_users_problem_by_import_path(tmp_path, user_module):
    cfg = pr.SearchConfig.from_yaml(textwrap.dedent(f"""
        problem: "{user_module}"
        problem_options: {{width: 6}}
        algorithm: epo
        population: 4
        steps: 20
        steps_per_round: 10
        workers: 0
        adapter: fixed
        progress: false
        run_dir: {tmp_path / "run"}
    """))
    front = pr.search(config=cfg)
    assert len(front) > 0
    model = front.load_model(0)  # rebuilt from the import path recorded in run.json
    assert model[0].out_features == 6
    again = pr.resume(str(tmp_path / "run"), steps=10, progress=False)  # no object needed
    assert np.isfinite(again.objectives).all()


def test_a_bad_import_path_is_a_clear_error(user_module):
    with pytest.raises(ConfigError, match=r"problem=.*my_mtl:nope.*no attribute 'nope'"):
        pr.SearchConfig(problem="my_mtl:nope", algorithm="epo")
    with pytest.raises(ConfigError, match=r"importing module 'no_such_pkg' failed"):
        pr.SearchConfig(problem="no_such_pkg:make", algorithm="epo")
