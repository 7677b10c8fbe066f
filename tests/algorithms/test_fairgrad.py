"""FairGrad: the alpha-fairness optimality condition, TorchJD's FairGrad, and Nash at a = 1."""

from __future__ import annotations

import pytest
import torch
from _torchjd import MS, assert_close_rel, directions, jacobians, reference, torchjd_aggregation

from paretoray import algorithms
from paretoray.algorithms.fairgrad import FairGrad
from paretoray.algorithms.nash_mtl import NashMTL
from paretoray.errors import ConfigError


@pytest.mark.parametrize("m", MS)
@pytest.mark.parametrize("a", [0.5, 1.0, 2.0, 5.0])
def test_optimality_condition_and_torchjd(m, a):
    """[Ban2024] Eq. 4: ``G w = w^(-1/a)``; TorchJD solves it with scipy least_squares."""
    J = jacobians(m, int(a * 10))
    G = J @ J.mT
    w = FairGrad(alpha=a)(torch.ones(4, m, dtype=J.dtype), torch.full((4, m), 1 / m,
                          dtype=J.dtype), gram=G)
    lhs = torch.einsum("pij,pj->pi", G, w)
    torch.testing.assert_close(lhs, w ** (-1 / a), rtol=1e-9, atol=0)
    pytest.importorskip("scipy")
    ref = reference(torchjd_aggregation.FairGrad(alpha=a), J)
    assert_close_rel(directions(FairGrad(alpha=a), J), ref, 1e-5)


def test_fairness_limits():
    """``a = 1`` is Nash-MTL's condition; large ``a`` equalizes the improvements ``<g_i, d>``."""
    J = jacobians(3, 5)
    torch.testing.assert_close(directions(FairGrad(alpha=1.0), J),
                               directions(NashMTL(max_norm=0), J))
    G = J @ J.mT
    w = FairGrad(alpha=200.0)(torch.ones(4, 3, dtype=J.dtype), torch.full((4, 3), 1 / 3,
                              dtype=J.dtype), gram=G)
    gain = torch.einsum("pij,pj->pi", G, w)  # = w^(-1/a): nearly equal for large a
    assert ((gain.amax(-1) - gain.amin(-1)) / gain.mean(-1) < 0.05).all()
    torch.testing.assert_close(FairGrad(alpha=0)(torch.ones(2, 3), torch.ones(2, 3) / 3,
                                                  gram=torch.eye(3).expand(2, 3, 3)),
                               torch.full((2, 3), 1 / 3))


@pytest.mark.parametrize("a", [0.5, 1.0, 5.0])
def test_opposed_gradients_give_a_vanishing_step(a):
    """No step improves both objectives (``g_2 = -2 g_1``): the condition has no root; the
    weights stay finite and the step is ~0 (the point is Pareto stationary)."""
    J = torch.tensor([[[1.0, 0.0], [-2.0, 0.0]], [[1.0, 0.5], [-2.0, -1.0]]],
                     dtype=torch.float64)
    v, p = torch.ones(2, 2, dtype=J.dtype), torch.full((2, 2), 0.5, dtype=J.dtype)
    for w in (FairGrad(alpha=a), NashMTL(max_norm=0)):
        alpha = w(v, p, gram=J @ J.mT)
        assert torch.isfinite(alpha).all() and (alpha > 0).all()
        assert (torch.einsum("pm,pmn->pn", alpha, J).norm(dim=-1) < 1e-2).all()


def test_registry_and_errors():
    assert isinstance(algorithms.get("fairgrad", alpha=2.0), FairGrad)
    with pytest.raises(ConfigError, match="alpha"):
        FairGrad(alpha=-1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("m", [2, 3, 5])
def test_batched_equals_per_member_loop(dtype, m):
    from _checks import assert_batched_matches_loop, random_inputs

    values, prefs, gram = random_inputs(12, m, dtype=dtype, seed=m)
    atol = 1e-4 if dtype == torch.float32 else 1e-9
    assert_batched_matches_loop(FairGrad(alpha=2.0), values.abs() + 0.1, prefs, gram, atol=atol)
