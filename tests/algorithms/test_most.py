"""MosT: the transport plan against an exact assignment (scipy), and coverage of every
objective by a few solutions on clustered quadratics."""

from __future__ import annotations

import pytest
import torch
from _checks import common_direction_norm, descend, jacobian, quadratics

from paretoray import algorithms
from paretoray.algorithms.linear import Linear
from paretoray.algorithms.minnorm import min_norm
from paretoray.algorithms.most import MosT, transport_plan
from paretoray.errors import ConfigError

optimize = pytest.importorskip("scipy.optimize")

K, PER = 3, 4
N = K * PER


def clustered(seed: int = 0) -> torch.Tensor:
    """``N`` anchors: ``PER`` around each of ``K`` far-apart centers."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.tensor([[0.0, 0.0], [10.0, 0.0], [5.0, 9.0]], dtype=torch.float64)
    return centers.repeat_interleave(PER, 0) + torch.randn(N, 2, generator=g,
                                                           dtype=torch.float64)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_plan_is_the_exact_balanced_assignment(seed):
    """Uniform marginals with ``N = K * PER``: the OT plan is an assignment in which every
    solution takes ``PER`` objectives -- scipy's linear_sum_assignment on the cost with
    each solution's column repeated ``PER`` times solves the same problem exactly."""
    g = torch.Generator().manual_seed(seed)
    cost = torch.rand(N, K, generator=g, dtype=torch.float64)
    plan = transport_plan(cost)
    rows, cols = optimize.linear_sum_assignment(cost.repeat_interleave(PER, 1).numpy())
    exact = torch.zeros(N, K, dtype=torch.float64)
    exact[torch.as_tensor(rows), torch.as_tensor(cols) // PER] = 1.0 / N
    torch.testing.assert_close(plan, exact, atol=1e-3 / N, rtol=0)
    torch.testing.assert_close(plan.sum(1), torch.full((N,), 1.0 / N, dtype=plan.dtype),
                               rtol=1e-4, atol=0)
    torch.testing.assert_close(plan.sum(0), torch.full((K,), 1.0 / K, dtype=plan.dtype))


def test_few_solutions_cover_all_objectives():
    """[Li2024]: each solution becomes the expert of a complementary subset. Three members
    starting together end one per cluster (the transport the problem makes optimal),
    Pareto stationary for their objectives, and every objective is well served --
    unlike linear scalarization, where all three collapse onto the global mean."""
    a = clustered(3)
    f = quadratics(a)
    g = torch.Generator().manual_seed(4)
    x0 = torch.tensor([5.0, 3.0], dtype=torch.float64) + 0.5 * torch.randn(
        K, 2, generator=g, dtype=torch.float64)
    prefs = torch.full((K, N), 1.0 / N, dtype=a.dtype)
    x = descend(MosT(), f, x0, prefs, steps=300, lr=0.05)
    F = f(x)
    groups = F.argmin(0).reshape(K, PER)  # who serves each objective, cluster by cluster
    assert (groups == groups[:, :1]).all() and groups[:, 0].unique().numel() == K
    coverage = F.amin(0).amax()  # the worst-served objective
    assert coverage < 4 * (a - a.reshape(K, PER, 2).mean(1).repeat_interleave(
        PER, 0)).pow(2).sum(-1).max()
    lin = descend(Linear(), f, x0, prefs, steps=300, lr=0.05)
    assert coverage < 0.2 * f(lin).amin(0).amax()
    # each member is Pareto stationary for its own cluster's objectives
    x.requires_grad_(True)
    J = jacobian(f(x), x)
    for k in range(K):
        own = (F.argmin(0) == k).nonzero()[:, 0]
        Jk = J[k : k + 1, own]
        Gk = Jk @ Jk.mT
        assert common_direction_norm(Gk, min_norm(Gk)) < 1e-3


def test_interpolated_objectives_are_the_explicit_extended_problem():
    """``extend=n``: the weights are those of MosT on the ``n`` objectives ``F W^T`` (Gram
    ``W G W^T``), mapped back through ``W``."""
    g = torch.Generator().manual_seed(1)
    J = torch.randn(5, 2, 6, generator=g, dtype=torch.float64)
    F = torch.rand(5, 2, generator=g, dtype=torch.float64)
    prefs = torch.full((5, 2), 0.5, dtype=torch.float64)
    ext = MosT(extend=12, seed=3)
    W = ext.interpolation(2)
    assert W.shape == (12, 2) and torch.allclose(W.sum(-1), torch.ones(12, dtype=W.dtype))
    torch.testing.assert_close(W, MosT(extend=12, seed=3).interpolation(2))  # seeded
    Jw = W @ J
    explicit = MosT()(F @ W.T, prefs, gram=Jw @ Jw.mT) @ W
    torch.testing.assert_close(ext(F, prefs, gram=J @ J.mT), explicit)


def test_interpolation_spreads_few_objective_fronts():
    """ZDT1 (m = 2) with K = 5 solutions: plain MosT splits two objectives over five members,
    which pile up at the two ends; with the reference code's 25 interpolated objectives
    the set covers more of the front (hypervolume at the problem's reference point)."""
    from paretoray import engine, problems
    from paretoray.indicators import hypervolume

    ref = torch.tensor(problems.get("zdt1").ref_point, dtype=torch.float64)
    prefs = torch.full((5, 2), 0.5, dtype=torch.float64)

    def hv(w):
        return sum(float(hypervolume(engine.run("zdt1", w, prefs, 300, lr=1e-2, seed=s)[1],
                                     ref)) for s in (1, 2)) / 2

    assert hv(MosT(iters=50, extend=25)) > hv(MosT(iters=50)) + 0.2


def test_registry_and_errors():
    w = algorithms.get("most")
    assert isinstance(w, MosT) and not w.per_member and w.needs_gram
    with pytest.raises(ConfigError, match="epsilon"):
        MosT(epsilon=0)
    with pytest.raises(ConfigError, match="extend"):
        MosT(extend=-1)
