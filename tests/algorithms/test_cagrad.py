"""CAGrad against TorchJD's CAGrad (cvxpy/Clarabel) and against its own dual problem."""

from __future__ import annotations

import warnings

import pytest
import torch
from _torchjd import MS, assert_close_rel, directions, jacobians, reference, torchjd_aggregation

from paretoray import algorithms
from paretoray.algorithms._mtl import project_simplex
from paretoray.algorithms.cagrad import CAGrad, cagrad_dual
from paretoray.errors import ConfigError

pytest.importorskip("cvxpy")


@pytest.mark.parametrize("m", MS)
@pytest.mark.parametrize("c", [0.2, 0.5, 1.0])
def test_matches_torchjd_cagrad(m, c):
    J = jacobians(m, int(10 * c))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = reference(torchjd_aggregation.CAGrad(c=c), J)
    # Clarabel stops at ~1e-8 in the dual weights; the exact support solve is tighter.
    assert_close_rel(directions(CAGrad(c=c, rescale=0), J), ref, 1e-3)


@pytest.mark.parametrize("m", [3, 5])
def test_dual_is_optimal(m):
    """No point of the simplex (random, or projected-gradient refined) beats ``w*``."""
    J = jacobians(m, 4, p=6)
    G = J @ J.mT
    G = G / G.diagonal(0, 1, 2).sum(-1)[:, None, None]
    w = cagrad_dual(G, 0.5)
    b, s = G.mean(-1), 0.5 * G.sum((1, 2)).sqrt() / m

    def f(x):
        return (x * b[:, None]).sum(-1) + s[:, None] * torch.einsum(
            "pki,pij,pkj->pk", x, G, x).clamp_min(0).sqrt()

    best = f(w[:, None])[:, 0]
    trials = torch.distributions.Dirichlet(torch.ones(m, dtype=G.dtype)).sample((6, 2000))
    assert (f(trials) >= best[:, None] - 1e-12).all()
    x = trials[:, :50].clone()
    for _ in range(300):  # projected subgradient descent from 50 starts
        x.requires_grad_(True)
        (gx,) = torch.autograd.grad(f(x).sum(), x)
        x = project_simplex(x.detach() - 0.01 * gx)
    assert (f(x) >= best[:, None] - 1e-9).all()


def test_rescale_and_zero_c_is_mean():
    J = jacobians(3, 0)
    torch.testing.assert_close(directions(CAGrad(c=0.0), J), J.mean(1))
    d0, d1 = directions(CAGrad(c=0.5, rescale=0), J), directions(CAGrad(c=0.5), J)
    torch.testing.assert_close(d1 * 1.25, d0)


def test_large_m_frank_wolfe_close_to_torchjd():
    J = jacobians(9, 0, n=12, p=2)  # m > 8: Frank-Wolfe, approximate
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = reference(torchjd_aggregation.CAGrad(c=0.5), J)
    assert_close_rel(directions(CAGrad(c=0.5, rescale=0), J), ref, 2e-2)


def test_registry_and_errors():
    assert isinstance(algorithms.get("cagrad", c=0.5), CAGrad)
    with pytest.raises(ConfigError, match="rescale"):
        CAGrad(rescale=3)
