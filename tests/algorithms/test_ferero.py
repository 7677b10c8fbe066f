"""FERERO on the EPO/PMTL toy problem: ray constraints and value constraints at convergence."""

from __future__ import annotations

import pytest
import torch
from _checks import descend, jacobian, random_inputs
from toy import Toy

from paretoray import algorithms
from paretoray.algorithms.ferero import FERERO, ray_complement
from paretoray.algorithms.mgda import MGDA
from paretoray.algorithms.minnorm import min_norm
from paretoray.errors import ConfigError

PREFS = torch.tensor([[0.1, 0.9], [0.3, 0.7], [0.5, 0.5], [0.7, 0.3], [0.9, 0.1]],
                     dtype=torch.float64)


def starts(p: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(p, 20, generator=g, dtype=torch.float64) * 2 - 1) * 0.5


def toy_starts(p: int, seed: int = 0) -> torch.Tensor:
    """The reference toy experiments' start: alternating +-0.3 plus 0.1 N(0, 1) noise."""
    g = torch.Generator().manual_seed(seed)
    x0 = torch.zeros(p, 20, dtype=torch.float64)
    x0[:, 0::2], x0[:, 1::2] = 0.3, -0.3
    return x0 + 0.1 * torch.randn(p, 20, generator=g, dtype=torch.float64)


def off_front(F: torch.Tensor) -> torch.Tensor:
    """Distance of toy values to the front ``F(s)`` at the ``s`` read off ``f_1``."""
    s = 1 - torch.sqrt(-torch.log1p(-F[:, 0].clamp(max=1 - 1e-12)))
    return (Toy.front_point(s) - F).norm(dim=-1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reaches_the_ray_point_of_each_preference(seed):
    """[Chen2024]'s toy experiments: with the ray constraint, each member ends at the Pareto
    point on its preference ray (computed independently by bisection along the front). From the
    reference code's toy starts; from starts deep in the flat region (``f_i ~ 1``) the
    members still end on their rays, but their descent along it is very slow; with
    ``lr=0.2`` the (0.9, 0.1) member overshoots into that region from some starts."""
    problem = Toy()
    x = descend(FERERO(), problem._evaluate, toy_starts(5, seed), PREFS, steps=400, lr=0.1)
    F = problem._evaluate(x)
    torch.testing.assert_close(F, problem.ray_point(PREFS), atol=1e-6, rtol=0)


def test_value_constraint_holds_at_convergence():
    """``f_2 <= 0.3 f_1`` (a relative constraint on the values): members that start in
    violation are driven into it and every member ends on the front's feasible arc."""
    problem = Toy()
    x0 = starts(6, 3)
    w = FERERO(ray=False, constraints=[[-0.3, 1.0]], bounds=[0.0])
    x = descend(w, problem._evaluate, x0, PREFS[:1].expand(6, 2), steps=400, lr=0.2)
    F = problem._evaluate(x)
    assert (F[:, 1] <= 0.3 * F[:, 0] + 1e-6).all(), F
    assert (off_front(F) < 1e-4).all(), off_front(F)
    F0 = problem._evaluate(x0)
    assert (F0[:, 1] > 0.3 * F0[:, 0]).sum() >= 3  # most started infeasible
    # the front's feasible arc is f_2 <= 0.3 f_1: s >= s* with 1 - e^-(1+s)^2 = 0.3 (1 - e^-(1-s)^2)
    boundary = problem.ray_point(torch.tensor([[1.0, 0.3]], dtype=torch.float64))
    assert (F[:, 0] >= boundary[0, 0] - 1e-6).all()


def test_without_constraints_it_is_mgda():
    """``ray=False`` and no constraints: the dual is MGDA's min-norm problem."""
    values, prefs, gram = random_inputs(8, 3, seed=4)
    torch.testing.assert_close(FERERO(ray=False)(values, prefs, gram=gram),
                               MGDA()(values, prefs, gram=gram), atol=1e-7, rtol=0)


def test_cone_order_is_min_norm_over_the_cone_rows():
    """A relative preference cone ``A`` (``ray=False``): the dual is the min-norm point of
    ``conv{J^T a_i}``, so ``alpha = A^T min_norm(A G A^T)`` and every cone row decreases:
    ``(A G alpha)_i >= alpha^T G alpha``."""
    values, prefs, gram = random_inputs(10, 3, seed=6)
    A = torch.tensor([[1.0, 0.3, 0.0], [0.0, 1.0, 0.3], [0.3, 0.0, 1.0], [1.0, 1.0, 1.0]],
                     dtype=torch.float64)
    alpha = FERERO(ray=False, cone=A.tolist())(values, prefs, gram=gram)
    AGA = A @ gram @ A.T
    torch.testing.assert_close(alpha, min_norm(AGA) @ A, atol=1e-7, rtol=0)
    dec = torch.einsum("qm,pmn,pn->pq", A, gram, alpha)
    assert (dec >= torch.einsum("pm,pmn,pn->p", alpha, gram, alpha)[:, None] - 1e-7).all()


def test_ray_step_keeps_the_ray_to_first_order():
    """On the ray (``B_h F = 0``) the step does not leave it: ``B_h J d = 0``."""
    problem = Toy()
    x = descend(FERERO(), problem._evaluate, starts(5), PREFS, steps=200, lr=0.2)
    x.requires_grad_(True)
    F = problem._evaluate(x)
    J = jacobian(F, x)
    G = J @ J.mT
    lam = FERERO()(F.detach(), PREFS, gram=G)
    Bh = ray_complement(PREFS)
    drift = torch.einsum("pqm,pm->pq", Bh, torch.einsum("pm,pmn,pkn->pk", lam, J, J))
    assert drift.abs().max() < 1e-6


def test_ray_complement_is_orthonormal_and_orthogonal_to_the_ray():
    _, prefs, _ = random_inputs(6, 4, seed=2)
    B = ray_complement(prefs)
    torch.testing.assert_close(B @ B.mT, torch.eye(3, dtype=B.dtype).expand(6, 3, 3))
    assert torch.einsum("pqm,pm->pq", B, prefs).abs().max() < 1e-12


def test_degenerate_gram_matrices():
    """Zero, duplicated or opposed gradients: finite weights; none at all when all are 0."""
    values, prefs, _ = random_inputs(4, 3, seed=8)
    J = torch.randn(4, 3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    J[1, 1] = J[1, 0]
    J[2, 1] = -J[2, 0]
    J[3] = 0
    alpha = FERERO()(values.abs() + 0.1, prefs, gram=J @ J.mT)
    assert torch.isfinite(alpha).all() and (alpha[3] == 0).all()


def test_registry_and_errors():
    assert isinstance(algorithms.get("ferero"), FERERO)
    assert FERERO.category == "finite set"
    with pytest.raises(ConfigError, match="bounds"):
        FERERO(bounds=[1.0])
    with pytest.raises(ConfigError, match="one entry per constraint"):
        FERERO(constraints=[[1.0, -1.0]], bounds=[0.0, 1.0])
    with pytest.raises(ConfigError, match="c_h"):
        FERERO(c_h=0)
