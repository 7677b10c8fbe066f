"""Sum-of-minimum: Lloyd's algorithm on quadratics (checked against scikit-learn's KMeans),
and the few-for-many claim against one-objective-per-member and random assignments."""

from __future__ import annotations

import pytest
import torch
from _checks import descend, quadratics

from paretoray import algorithms
from paretoray.algorithms.som import SumOfMinimum, sum_of_minimum
from paretoray.errors import ConfigError

cluster = pytest.importorskip("sklearn.cluster")

K, N = 4, 60


def anchors(seed: int = 0) -> torch.Tensor:
    """``N`` points in 2-D around ``K`` centers (overlapping blobs: not a trivial clustering)."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(K, 2, generator=g, dtype=torch.float64) * 3
    return centers.repeat(N // K, 1) + torch.randn(N, 2, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quadratics_are_lloyds_kmeans(seed):
    """``f_i = ||x - a_i||^2``, SGD with ``lr = 1/2``: every step is one Lloyd iteration, so
    the members end at scikit-learn's Lloyd k-means centers from the same starting points."""
    a = anchors(seed)
    g = torch.Generator().manual_seed(100 + seed)
    x0 = a[torch.randperm(N, generator=g)[:K]].clone()  # k-means-style start at data points
    x = descend(SumOfMinimum(), quadratics(a), x0, torch.full((K, N), 1.0 / N,
                dtype=a.dtype), steps=60, lr=0.5)
    km = cluster.KMeans(K, init=x0.numpy(), n_init=1, algorithm="lloyd", max_iter=300,
                        tol=0.0).fit(a.numpy())
    torch.testing.assert_close(x, torch.as_tensor(km.cluster_centers_), atol=1e-8, rtol=0)
    F = quadratics(a)(x)
    torch.testing.assert_close(sum_of_minimum(F) * N, torch.tensor(km.inertia_,
                               dtype=F.dtype), rtol=1e-9, atol=0)


def test_few_for_many_beats_single_objective_runs_and_random_groups():
    """[Ding2024]'s setting: ``N >> K`` objectives; the SoM set is better than ``K`` members
    each solving one objective, and than ``K`` members each solving a random group."""
    a = anchors(5)
    f = quadratics(a)
    g = torch.Generator().manual_seed(7)
    x0 = a[torch.randperm(N, generator=g)[:K]].clone()
    x = descend(SumOfMinimum(), f, x0, torch.full((K, N), 1.0 / N, dtype=a.dtype),
                steps=60, lr=0.5)
    som = sum_of_minimum(f(x))
    singles = sum_of_minimum(f(x0))  # member k at the optimum of objective k
    groups = torch.randint(K, (N,), generator=g)
    random_group = torch.stack([a[groups == k].mean(0) for k in range(K)])
    assert som < 0.7 * singles and som < 0.7 * sum_of_minimum(f(random_group))


def test_weights_assignment_normalization_and_context():
    F = torch.tensor([[1.0, 5.0, 2.0], [3.0, 1.0, 0.5]])
    prefs = torch.full((2, 3), 1 / 3)
    torch.testing.assert_close(SumOfMinimum()(F, prefs),
                               torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]]))
    torch.testing.assert_close(SumOfMinimum("total")(F, prefs),
                               torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]) / 3)
    ctx = torch.tensor([[9.0, 9.0, 0.1]])  # serves objective 3 better than any member
    torch.testing.assert_close(SumOfMinimum()(F, prefs, context=ctx),
                               torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))


def test_registry_and_errors():
    w = algorithms.get("som")
    assert isinstance(w, SumOfMinimum) and not w.per_member and w.category == "finite set"
    with pytest.raises(ConfigError, match="normalize"):
        SumOfMinimum("mean")
