"""``fairness``: accuracy vs demographic parity on seeded tabular data (m = 2).

Each sample has a binary sensitive attribute ``s`` (half the samples each way), features
``x`` whose mean shifts with ``s``, and a label that depends on ``x`` *and* on ``s``
(``P(y=1)`` differs by group, as in the Adult census set). The most accurate classifier
therefore predicts positives at different rates per group; closing that demographic-parity
gap costs accuracy -- the trade-off is real, not an artefact of the model.

Objectives: binary cross-entropy, and the differentiable DP gap
``|mean(sigmoid(logit) | s=1) - mean(sigmoid(logit) | s=0)|`` [Zemel2013]_.
Metrics: ``accuracy`` and ``dp_gap`` (the gap of the thresholded predictions).

.. [Zemel2013] R. Zemel et al. Learning Fair Representations. ICML 2013.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from paretoray.problems.base import register
from paretoray.problems.networks.base import NetworkProblem
from paretoray.problems.networks.data import DataSplits, split_indices

__all__ = ["Fairness", "make_fairness"]


def make_fairness(n: int = 2000, n_features: int = 8, *, bias: float = 1.5,
                  seed: int = 0) -> DataSplits:
    """Seeded tabular data with a sensitive attribute, split 60/20/20.

    Args:
        n: Number of samples.
        n_features: Number of features.
        bias: How strongly the label (and the features) depend on the sensitive attribute.
        seed: Seeds everything.

    Returns:
        Splits with ``x`` (`n x n_features` float32), ``y`` (`n` float32 in {0, 1}) and
        ``s`` (`n` float32 in {0, 1}).
    """
    gen = torch.Generator().manual_seed(int(seed))
    s = (torch.rand(n, generator=gen) < 0.5).float()
    x = torch.randn(n, n_features, generator=gen)
    x[:, 0] += bias * (2 * s - 1)  # a proxy feature: the sensitive attribute leaks into x
    w = torch.randn(n_features, generator=gen)
    logit = x @ w / n_features**0.5 + bias * (2 * s - 1) + 0.5 * torch.randn(n, generator=gen)
    y = (logit > 0).float()
    parts = split_indices(n, (0.6, 0.2, 0.2), seed)
    splits = [{"x": x[i], "y": y[i], "s": s[i]} for i in parts]
    return DataSplits(train=splits[0], validation=splits[1], test=splits[2])


def _bce(out: Tensor, batch: dict[str, Tensor]) -> Tensor:
    return F.binary_cross_entropy_with_logits(out.squeeze(-1), batch["y"])


def _group_gap(score: Tensor, s: Tensor) -> Tensor:
    # masked means (no boolean indexing: it has a data-dependent shape, which vmap refuses)
    g1 = (score * s).sum() / s.sum().clamp_min(1)
    g0 = (score * (1 - s)).sum() / (1 - s).sum().clamp_min(1)
    return (g1 - g0).abs()


def _soft_dp_gap(out: Tensor, batch: dict[str, Tensor]) -> Tensor:
    return _group_gap(torch.sigmoid(out.squeeze(-1)), batch["s"])


def _accuracy(out: Tensor, batch: dict[str, Tensor]) -> Tensor:
    return ((out.squeeze(-1) > 0).to(out.dtype) == batch["y"]).to(out.dtype).mean()


def _hard_dp_gap(out: Tensor, batch: dict[str, Tensor]) -> Tensor:
    return _group_gap((out.squeeze(-1) > 0).to(out.dtype), batch["s"])


class _Factory:
    def __init__(self, n_features: int, hidden: int) -> None:
        self.n_features, self.hidden = n_features, hidden

    def __call__(self) -> nn.Module:
        return nn.Sequential(nn.Linear(self.n_features, self.hidden), nn.ReLU(),
                             nn.Linear(self.hidden, 1))


@register("fairness")
class Fairness(NetworkProblem):
    """Cross-entropy vs differentiable demographic-parity gap of an MLP classifier (m = 2).

    Args:
        n: Number of samples (split 60/20/20).
        n_features: Number of features.
        bias: Dependence of label and features on the sensitive attribute.
        hidden: Width of the MLP's hidden layer.
        batch_size: Training mini-batch size.
        seed: Seeds the data set.
    """

    def __init__(self, n: int = 2000, n_features: int = 8, bias: float = 1.5, hidden: int = 32,
                 batch_size: int = 128, seed: int = 0) -> None:
        self.options: dict[str, Any] = {"n": n, "n_features": n_features, "bias": bias,
                                        "hidden": hidden, "batch_size": batch_size, "seed": seed}
        super().__init__(
            _Factory(n_features, hidden),
            make_fairness(n, n_features, bias=bias, seed=seed),
            [_bce, _soft_dp_gap],
            metrics={"accuracy": _accuracy, "dp_gap": _hard_dp_gap},
            batch_size=batch_size,
            objective_names=["cross_entropy", "dp_gap"],
            ref_point=(1.0, 1.0),
        )
