"""RLW: distributed as TorchJD's Random (softmax of a standard normal); seeded and resumable."""

from __future__ import annotations

import pytest
import torch
from _torchjd import torchjd_aggregation

from paretoray import algorithms
from paretoray.algorithms.rlw import RLW

stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize("m", [2, 4])
def test_same_distribution_as_torchjd_random(m):
    w = RLW(seed=1)(torch.zeros(20000, m, dtype=torch.float64), torch.full((20000, m), 1 / m))
    torch.manual_seed(2)
    weighting = torchjd_aggregation.RandomWeighting()
    ref = torch.stack([weighting(torch.zeros(m, 3, dtype=torch.float64)) for _ in range(5000)])
    torch.testing.assert_close(w.sum(-1), torch.ones(20000, dtype=w.dtype))
    for i in range(m):  # every marginal, and the largest weight, in distribution
        assert stats.ks_2samp(w[:, i].numpy(), ref[:, i].numpy()).pvalue > 1e-3
    assert stats.ks_2samp(w.amax(-1).numpy(), ref.amax(-1).numpy()).pvalue > 1e-3
    # and not some other simplex law: a flat Dirichlet's marginals differ
    torch.manual_seed(3)
    flat = torch.distributions.Dirichlet(torch.ones(m)).sample((5000,))
    assert stats.ks_2samp(w[:, 0].numpy(), flat[:, 0].numpy()).pvalue < 1e-4


def test_seeded_and_resumable():
    v, p = torch.zeros(3, 3), torch.full((3, 3), 1 / 3)
    a, b = RLW(seed=7), RLW(seed=7)
    torch.testing.assert_close(a(v, p), b(v, p))
    state = a.state_dict()
    nxt = a(v, p)
    b.load_state_dict(state)
    torch.testing.assert_close(b(v, p), nxt)
    assert not torch.equal(nxt, RLW(seed=8)(v, p))


def test_registry():
    assert isinstance(algorithms.get("rlw"), RLW) and not RLW.needs_gram
