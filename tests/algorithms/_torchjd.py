"""Random Jacobians and TorchJD references shared by the MTL weighting tests.

Import as ``from _torchjd import ...`` (pytest puts this directory on ``sys.path``).
Every case is a population of ``P`` random `m x n` float64 Jacobians, weighted at once by
paretoray and one at a time by TorchJD.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from paretoray.algorithms.base import Weighting

torchjd_aggregation = pytest.importorskip("torchjd.aggregation")
P, N = 4, 7
MS = (2, 3, 4, 5)


def jacobians(m: int, seed: int = 0, p: int = P, n: int = N) -> Tensor:
    """A `p x m x n`-dim float64 tensor of standard normal Jacobians."""
    g = torch.Generator().manual_seed(1000 * m + seed)
    return torch.randn(p, m, n, generator=g, dtype=torch.float64)


def directions(weighting: Weighting, J: Tensor, prefs: Tensor | None = None) -> Tensor:
    """paretoray's steps ``J_p^T alpha_p`` for the whole population: `p x n`."""
    p, m, _ = J.shape
    if prefs is None:
        prefs = torch.full((p, m), 1.0 / m, dtype=J.dtype)
    gram = J @ J.mT
    alpha = weighting(torch.ones(p, m, dtype=J.dtype), prefs, gram=gram)
    assert alpha.shape == (p, m) and not alpha.requires_grad
    return torch.einsum("pm,pmn->pn", alpha, J)


def reference(aggregator, J: Tensor) -> Tensor:
    """TorchJD's aggregation of every member's Jacobian, one at a time: `p x n`."""
    return torch.stack([aggregator(J[i]) for i in range(J.shape[0])])


def assert_close_rel(a: Tensor, b: Tensor, rtol: float) -> None:
    """``||a_p - b_p|| <= rtol ||b_p||`` for every row."""
    err = (a - b).norm(dim=-1) / b.norm(dim=-1).clamp_min(1e-300)
    assert (err <= rtol).all(), f"relative errors {err.tolist()}"
