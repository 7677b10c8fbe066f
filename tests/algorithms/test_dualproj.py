"""DualProj against TorchJD's DualProj on random Jacobians."""

from __future__ import annotations

import pytest
import torch
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


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("m", [2, 3, 5])
def test_batched_equals_per_member_loop(dtype, m):
    from _checks import assert_batched_matches_loop, random_inputs

    values, prefs, gram = random_inputs(12, m, dtype=dtype, seed=m)
    atol = 1e-4 if dtype == torch.float32 else 1e-9
    assert_batched_matches_loop(DualProj(), values.abs() + 0.1, prefs, gram, atol=atol)
