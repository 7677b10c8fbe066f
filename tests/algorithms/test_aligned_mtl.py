"""Aligned-MTL against TorchJD's AlignedMTL (all scale modes, preferences, rank deficiency)."""

from __future__ import annotations

import pytest
import torch
from _torchjd import MS, assert_close_rel, directions, jacobians, reference, torchjd_aggregation

from paretoray import algorithms
from paretoray.algorithms.aligned_mtl import AlignedMTL
from paretoray.errors import ConfigError


@pytest.mark.parametrize("m", MS)
@pytest.mark.parametrize("mode", ["min", "median", "rmse"])
def test_matches_torchjd_aligned_mtl(m, mode):
    for seed in range(3):
        J = jacobians(m, seed)
        ref = reference(torchjd_aggregation.AlignedMTL(scale_mode=mode), J)
        assert_close_rel(directions(AlignedMTL(mode), J), ref, 1e-10)


def test_rank_deficient_and_preference():
    J = jacobians(4, 3, n=2)  # rank 2 < m = 4
    pref = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    ref = reference(torchjd_aggregation.AlignedMTL(pref_vector=pref), J)
    assert_close_rel(directions(AlignedMTL(), J, pref.expand(4, 4)), ref, 1e-9)


def test_registry_and_errors():
    assert isinstance(algorithms.get("aligned_mtl"), AlignedMTL)
    with pytest.raises(ConfigError, match="scale_mode"):
        AlignedMTL("max")
