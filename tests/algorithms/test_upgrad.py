"""UPGrad against TorchJD's UPGrad on random Jacobians; its dual-cone guarantee."""

from __future__ import annotations

import pytest
import torch
from _torchjd import MS, assert_close_rel, directions, jacobians, reference, torchjd_aggregation

from paretoray import algorithms
from paretoray.algorithms.upgrad import UPGrad
from paretoray.errors import ConfigError, ShapeError

QuadprogProjector = pytest.importorskip("torchjd._linalg._dual_cone").QuadprogProjector


def exact_projector():
    # TorchJD regularizes G by 1e-4 I (relative) by default; compare with the exact QP.
    return QuadprogProjector(norm_eps=0.0, reg_eps=0.0)


@pytest.mark.parametrize("m", MS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_torchjd_upgrad(m, seed):
    J = jacobians(m, seed)
    ref = reference(torchjd_aggregation.UPGrad(projector=exact_projector()), J)
    assert_close_rel(directions(UPGrad(), J), ref, 1e-9)


@pytest.mark.parametrize("m", [3, 5])
def test_preferences_are_torchjd_pref_vector(m):
    J = jacobians(m, 7)
    pref = torch.rand(m, dtype=torch.float64, generator=torch.Generator().manual_seed(m))
    pref = pref / pref.sum()
    agg = torchjd_aggregation.UPGrad(pref_vector=pref, projector=exact_projector())
    got = directions(UPGrad(), J, pref.expand(J.shape[0], m))
    assert_close_rel(got, reference(agg, J), 1e-9)


def test_no_objective_increases_and_large_m():
    """Every projected gradient is in the dual cone: ``G alpha >= 0`` (m = 8: Gauss-Seidel)."""
    J = jacobians(8, 0, n=12)
    G = J @ J.mT
    alpha = UPGrad()(torch.ones(4, 8, dtype=J.dtype), torch.full((4, 8), 1 / 8.0,
                     dtype=J.dtype), gram=G)
    assert (torch.einsum("pij,pj->pi", G, alpha) >= -1e-8 * G.diagonal(0, 1, 2).amax()).all()
    ref = reference(torchjd_aggregation.UPGrad(projector=exact_projector()), J)
    assert_close_rel(torch.einsum("pm,pmn->pn", alpha, J), ref, 1e-5)


def test_registry_and_errors():
    assert isinstance(algorithms.get("upgrad"), UPGrad)
    assert UPGrad.category == "single solution"
    with pytest.raises(ConfigError, match="iters"):
        UPGrad(iters=0)
    with pytest.raises(ShapeError, match="Gram"):
        UPGrad()(torch.ones(2, 3), torch.full((2, 3), 1 / 3))
