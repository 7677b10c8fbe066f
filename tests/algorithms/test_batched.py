"""Batched weights equal a loop over members, for the weightings that share one check.

Each weighting below is solved for the whole population at once; the same weights, member
by member, must come out of one-member calls (``_checks.assert_batched_matches_loop``).
"""

from __future__ import annotations

import pytest
import torch
from _checks import assert_batched_matches_loop, random_inputs

from paretoray.algorithms.aligned_mtl import AlignedMTL
from paretoray.algorithms.cagrad import CAGrad
from paretoray.algorithms.dualproj import DualProj
from paretoray.algorithms.ferero import FERERO
from paretoray.algorithms.imtl_g import IMTLG
from paretoray.algorithms.nash_mtl import NashMTL
from paretoray.algorithms.upgrad import UPGrad

WEIGHTINGS = [AlignedMTL, CAGrad, DualProj, FERERO, IMTLG, NashMTL, UPGrad]


@pytest.mark.parametrize("weighting", WEIGHTINGS, ids=lambda w: w.__name__)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("m", [2, 3, 5])
def test_batched_equals_per_member_loop(weighting, dtype, m):
    values, prefs, gram = random_inputs(12, m, dtype=dtype, seed=m)
    atol = 1e-4 if dtype == torch.float32 else 1e-9
    assert_batched_matches_loop(weighting(), values.abs() + 0.1, prefs, gram, atol=atol)
