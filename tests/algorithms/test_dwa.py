"""DWA: the paper's weighting formula on a given loss history, per member; its state."""

from __future__ import annotations

import math

import pytest
import torch

from paretoray import algorithms
from paretoray.algorithms.dwa import DWA
from paretoray.errors import ConfigError


def test_formula_on_a_given_history():
    history = torch.tensor([[[1.0, 1.0], [2.0, 4.0]],   # L(0): member 0, member 1
                            [[0.5, 0.9], [2.0, 1.0]],   # L(1)
                            [[0.4, 0.9], [1.0, 1.0]],   # L(2)
                            [[0.2, 0.9], [1.0, 0.5]]], dtype=torch.float64)
    prefs = torch.full((2, 2), 0.5, dtype=torch.float64)
    dwa = DWA(temperature=2.0)
    out = [dwa(history[t], prefs) for t in range(4)]
    torch.testing.assert_close(out[0], torch.ones(2, 2, dtype=torch.float64))
    torch.testing.assert_close(out[1], torch.ones(2, 2, dtype=torch.float64))

    def paper(r1, r2, T=2.0):  # lambda_k = K exp(w_k / T) / sum_i exp(w_i / T), K = 2
        e1, e2 = math.exp(r1 / T), math.exp(r2 / T)
        return [2 * e1 / (e1 + e2), 2 * e2 / (e1 + e2)]

    # step 2 uses L(1)/L(0); step 3 uses L(2)/L(1)
    want2 = [paper(0.5, 0.9), paper(1.0, 0.25)]
    want3 = [paper(0.8, 1.0), paper(0.5, 1.0)]
    torch.testing.assert_close(out[2], torch.tensor(want2, dtype=torch.float64))
    torch.testing.assert_close(out[3], torch.tensor(want3, dtype=torch.float64))
    # the objective whose loss fell least gets the larger weight
    assert out[2][0, 1] > out[2][0, 0]


def test_state_round_trip_and_reset_on_new_population():
    a = DWA()
    prefs = torch.full((1, 3), 1 / 3)
    for v in ([3.0, 2.0, 1.0], [2.0, 2.0, 0.5]):
        a(torch.tensor([v]), prefs)
    b = DWA()
    b.load_state_dict(a.state_dict())
    nxt = torch.tensor([[1.0, 1.0, 1.0]])
    torch.testing.assert_close(a(nxt, prefs), b(nxt, prefs))
    fresh = a(torch.ones(2, 3), torch.full((2, 3), 1 / 3))  # new population size: restart
    torch.testing.assert_close(fresh, torch.ones(2, 3))


def test_registry_and_errors():
    assert isinstance(algorithms.get("dwa"), DWA)
    with pytest.raises(ConfigError, match="temperature"):
        DWA(temperature=0)
