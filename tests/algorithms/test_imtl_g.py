"""IMTL-G against TorchJD's IMTLG; equal projections on the unit gradients (the paper)."""

from __future__ import annotations

import pytest
import torch
from _torchjd import MS, assert_close_rel, directions, jacobians, reference, torchjd_aggregation

from paretoray import algorithms
from paretoray.algorithms.imtl_g import IMTLG


@pytest.mark.parametrize("m", MS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_torchjd_imtlg(m, seed):
    J = jacobians(m, seed)
    d = directions(IMTLG(), J)
    assert_close_rel(d, reference(torchjd_aggregation.IMTLG(), J), 1e-10)
    # [Liu2021]: <g_i / ||g_i||, d> is the same for every objective.
    proj = torch.einsum("pmn,pn->pm", J / J.norm(dim=-1, keepdim=True), d)
    torch.testing.assert_close(proj, proj[:, :1].expand_as(proj), rtol=1e-9, atol=0)


def test_registry():
    assert isinstance(algorithms.get("imtl_g"), IMTLG)
