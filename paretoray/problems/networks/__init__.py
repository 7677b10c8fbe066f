"""Network problems: populations of ``torch.nn.Module`` s trained on ``m`` losses.

Built-ins (registered in :mod:`paretoray.problems`, no download): ``multi_digits``,
``fairness``, ``multi_regression``. A user's own problem is a :class:`NetworkProblem`
built from a module factory (or its import path ``"package.module:factory"``), a
:class:`DataSplits` and ``m`` loss functions.
"""

from __future__ import annotations

from paretoray.problems.networks.base import LossFn, MetricFn, NetworkProblem, resolve_factory
from paretoray.problems.networks.data import BatchSampler, DataSplits
from paretoray.problems.networks.digits import MultiDigits, MultiDigitsNet
from paretoray.problems.networks.fairness import Fairness
from paretoray.problems.networks.regression import MultiRegression

__all__ = [
    "BatchSampler",
    "DataSplits",
    "Fairness",
    "LossFn",
    "MetricFn",
    "MultiDigits",
    "MultiDigitsNet",
    "MultiRegression",
    "NetworkProblem",
    "is_network",
    "resolve_factory",
]


def is_network(problem: object) -> bool:
    """Whether ``problem`` is a network problem (the engine's dispatch test)."""
    return bool(getattr(type(problem), "is_network", False))
