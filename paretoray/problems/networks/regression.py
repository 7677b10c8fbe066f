"""``multi_regression``: one shared prediction fitted to three conflicting targets (m = 3).

Three targets disagree about the same quantity, like three labellers or sensors with
different systematic errors: ``y_k = g(x) + c_k(x)`` with ``c_1 + c_2 + c_3 = 0`` and the
``c_k`` pairwise different, so no prediction fits all three and every convex mix of them
is Pareto optimal. The network (an MLP with one output) is trained on the three MSEs;
the held-out metrics are the three MSEs themselves (``mse_1``, ``mse_2``, ``mse_3``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from paretoray.problems.base import register
from paretoray.problems.networks.base import NetworkProblem
from paretoray.problems.networks.data import DataSplits, split_indices

__all__ = ["MultiRegression", "make_multi_regression"]


def make_multi_regression(n: int = 1500, n_features: int = 6, *, noise: float = 0.1,
                          seed: int = 0) -> DataSplits:
    """Seeded inputs and three conflicting targets, split 60/20/20.

    Returns:
        Splits with ``x`` (`n x n_features` float32) and ``y`` (`n x 3` float32).
    """
    gen = torch.Generator().manual_seed(int(seed))
    x = torch.rand(n, n_features, generator=gen) * 2 - 1
    w = torch.randn(4, n_features, generator=gen)
    base = torch.sin(x @ w[0])
    a, b = torch.sin(2 * (x @ w[1])), x @ w[2] / n_features**0.5
    corrections = torch.stack([a + b, -a + b, -2 * b], dim=1)  # rows sum to 0
    y = base[:, None] + corrections + noise * torch.randn(n, 3, generator=gen)
    parts = split_indices(n, (0.6, 0.2, 0.2), seed)
    splits = [{"x": x[i], "y": y[i]} for i in parts]
    return DataSplits(train=splits[0], validation=splits[1], test=splits[2])


def _mse_all(out: Tensor, batch: dict[str, Tensor]) -> Tensor:
    return ((out - batch["y"]) ** 2).mean(dim=0)  # 3 MSEs: one function returning m losses


class _MSE:
    """The MSE of the prediction against target ``k`` (a picklable metric)."""

    def __init__(self, k: int) -> None:
        self.k = k

    def __call__(self, out: Tensor, batch: dict[str, Tensor]) -> Tensor:
        return ((out[:, 0] - batch["y"][:, self.k]) ** 2).mean()


class _Factory:
    def __init__(self, n_features: int, hidden: int) -> None:
        self.n_features, self.hidden = n_features, hidden

    def __call__(self) -> nn.Module:
        return nn.Sequential(nn.Linear(self.n_features, self.hidden), nn.Tanh(),
                             nn.Linear(self.hidden, self.hidden), nn.Tanh(),
                             nn.Linear(self.hidden, 1))


@register("multi_regression")
class MultiRegression(NetworkProblem):
    """Three MSEs of one MLP prediction against three conflicting targets (m = 3).

    Args:
        n: Number of samples (split 60/20/20).
        n_features: Number of inputs.
        noise: Standard deviation of the targets' noise.
        hidden: Width of the MLP's hidden layers.
        batch_size: Training mini-batch size.
        seed: Seeds the data set.
    """

    def __init__(self, n: int = 1500, n_features: int = 6, noise: float = 0.1, hidden: int = 32,
                 batch_size: int = 128, seed: int = 0) -> None:
        self.options: dict[str, Any] = {"n": n, "n_features": n_features, "noise": noise,
                                        "hidden": hidden, "batch_size": batch_size, "seed": seed}
        super().__init__(
            _Factory(n_features, hidden),
            make_multi_regression(n, n_features, noise=noise, seed=seed),
            _mse_all,
            n_obj=3,
            metrics={f"mse_{k + 1}": _MSE(k) for k in range(3)},
            batch_size=batch_size,
            objective_names=["mse_1", "mse_2", "mse_3"],
            ref_point=(4.0, 4.0, 4.0),
        )
