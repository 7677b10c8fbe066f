"""Nash-MTL: the paper's bargaining condition ``G alpha = 1/alpha``, and TorchJD's NashMTL."""

from __future__ import annotations

import warnings

import pytest
import torch
from _torchjd import MS, assert_close_rel, directions, jacobians, torchjd_aggregation

from paretoray import algorithms
from paretoray.algorithms.nash_mtl import NashMTL
from paretoray.errors import ConfigError

pytest.importorskip("cvxpy")


def _values_prefs(p, m):
    return torch.ones(p, m, dtype=torch.float64), torch.full((p, m), 1 / m, dtype=torch.float64)


@pytest.mark.parametrize("m", [*MS, 8])
@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_bargaining_condition(m, scale):
    """[Navon2022]'s bargaining condition: the solution satisfies ``(G alpha)_i = 1 / alpha_i``."""
    J = jacobians(m, 1, p=8, n=m + 3)
    G = scale * J @ J.mT
    alpha = NashMTL(max_norm=0)(*_values_prefs(8, m), gram=G)
    assert (alpha > 0).all()
    resid = torch.einsum("pij,pj->pi", G, alpha) * alpha - 1
    assert resid.abs().max() < 1e-8


@pytest.mark.parametrize("m", MS)
def test_matches_torchjd_where_its_solver_converged(m):
    """TorchJD runs the reference's sequential convex programs (stopped at residual 1e-3);
    wherever that reached the bargaining point, the directions agree."""
    J = jacobians(m, 2, p=6)
    mine = directions(NashMTL(max_norm=0), J)
    hits = 0
    for i in range(J.shape[0]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = torchjd_aggregation.NashMTL(n_tasks=m, max_norm=0.0)(J[i])
        a_ref = torch.linalg.lstsq(J[i].T, ref[:, None]).solution[:, 0]
        if ((J[i] @ J[i].T @ a_ref) * a_ref - 1).abs().max() < 1e-4:
            hits += 1
            assert_close_rel(mine[i : i + 1], ref[None], 1e-4)
    assert hits >= J.shape[0] // 2


def test_max_norm_clip_as_torchjd():
    J = jacobians(3, 0)
    d = directions(NashMTL(max_norm=0.5), J)
    torch.testing.assert_close(d.norm(dim=-1), torch.full((4,), 0.5, dtype=d.dtype))
    assert_close_rel(d / 0.5, directions(NashMTL(max_norm=0), J) / directions(
        NashMTL(max_norm=0), J).norm(dim=-1, keepdim=True), 1e-12)


def test_registry_and_errors():
    assert isinstance(algorithms.get("nash_mtl"), NashMTL)
    with pytest.raises(ConfigError, match="max_norm"):
        NashMTL(max_norm=-1)
