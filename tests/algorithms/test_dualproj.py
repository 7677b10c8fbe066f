"""DualProj against TorchJD's DualProj on random Jacobians."""

from __future__ import annotations

import pytest
from _torchjd import MS, assert_close_rel, directions, jacobians, reference, torchjd_aggregation

from paretoray import algorithms
from paretoray.algorithms.dualproj import DualProj

QuadprogProjector = pytest.importorskip("torchjd._linalg._dual_cone").QuadprogProjector


@pytest.mark.parametrize("m", MS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_torchjd_dualproj(m, seed):
    J = jacobians(m, seed)
    agg = torchjd_aggregation.DualProj(projector=QuadprogProjector(norm_eps=0.0, reg_eps=0.0))
    assert_close_rel(directions(DualProj(), J), reference(agg, J), 1e-9)


def test_registry():
    assert isinstance(algorithms.get("dualproj"), DualProj)
