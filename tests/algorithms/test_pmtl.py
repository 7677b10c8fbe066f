"""PMTL: the masked min-norm solver against scipy, phases, and the paper's toy sectors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from _checks import DEVICE, assert_batched_matches_loop, assert_finite, jacobian, random_gram
from scipy.optimize import minimize
from toy import Toy

from paretoray import algorithms, problems
from paretoray.algorithms._lp import min_norm as masked_min_norm
from paretoray.algorithms.minnorm import min_norm
from paretoray.algorithms.pmtl import PMTL, neighbours, sector_constraints
from paretoray.engine import Engine
from paretoray.errors import ConfigError, ShapeError


def _scipy_min_norm(Q: np.ndarray, mask: np.ndarray) -> float:
    """min a^T Q a over the masked simplex, SLSQP from several starts (outside truth)."""
    idx = np.flatnonzero(mask)
    Qs = Q[np.ix_(idx, idx)]
    k = len(idx)
    best = np.inf
    starts = [np.full(k, 1.0 / k), *np.eye(k)]
    for a0 in starts:
        res = minimize(
            lambda a: a @ Qs @ a,
            a0,
            jac=lambda a: 2 * Qs @ a,
            method="SLSQP",
            bounds=[(0, 1)] * k,
            constraints=[{"type": "eq", "fun": lambda a: a.sum() - 1}],
            options={"ftol": 1e-15, "maxiter": 500},
        )
        best = min(best, float(res.fun))
    return best


@pytest.mark.parametrize(("n", "rank", "max_support"),
                         [(3, 2, None), (3, 3, None), (4, 4, None), (6, 2, 3), (7, 3, 4)])
def test_masked_min_norm_matches_scipy(n, rank, max_support):
    """Extended-Gram instances (rank < n as in PMTL) with random masks."""
    p = 30
    g = torch.Generator().manual_seed(n)
    Y = torch.randn(p, n, rank, generator=g, dtype=torch.float64)
    Q = Y @ Y.transpose(1, 2)
    mask = torch.rand(p, n, generator=g) > 0.3
    mask[:, 0] = True
    a = masked_min_norm(Q, mask, max_support=max_support)
    assert (a >= 0).all() and torch.allclose(a.sum(-1), torch.ones(p, dtype=torch.float64))
    assert (a[~mask] == 0).all()
    val = torch.einsum("pi,pij,pj->p", a, Q, a)
    for i in range(p):
        ref = _scipy_min_norm(Q[i].numpy(), mask[i].numpy())
        assert float(val[i]) <= ref + 1e-9 * (1 + ref), i
        assert float(val[i]) >= ref - 1e-7 * (1 + ref), i


@pytest.mark.parametrize("rank", [2, 3])
def test_host_three_vector_min_norm_matches_scipy(rank):
    """The numpy closed forms PMTL uses on a CPU for m = 2 (three vectors)."""
    from paretoray.algorithms._lp import min_norm_3_host

    p = 40
    g = torch.Generator().manual_seed(10 + rank)
    Y = torch.randn(p, 3, rank, generator=g, dtype=torch.float64).numpy()
    Q = Y @ Y.transpose(0, 2, 1)
    mask = (torch.rand(p, 3, generator=g) > 0.3).numpy()
    mask[:, 0] = True
    a = min_norm_3_host(Q, mask)
    assert (a >= 0).all() and np.allclose(a.sum(-1), 1.0) and (a[~mask] == 0).all()
    val = np.einsum("pi,pij,pj->p", a, Q, a)
    for i in range(p):
        ref = _scipy_min_norm(Q[i], mask[i])
        assert ref - 1e-7 * (1 + ref) <= val[i] <= ref + 1e-9 * (1 + ref), i


@pytest.mark.parametrize("options", [{}, {"normalize": False}, {"active_eps": 0.0}])
@pytest.mark.parametrize("name", ["zdt1", "dtlz2"])
def test_cpu_weights_equal_the_device_program(options, name):
    """m <= 3 on a CPU runs in numpy; the torch program (other devices) gives the same."""
    from paretoray.preferences import das_dennis

    problem = problems.get(name, **({"n_obj": 3} if name == "dtlz2" else {}))
    prefs = das_dennis(problem.n_obj, 39 if name == "zdt1" else 7).to(torch.float64)
    prefs = 0.98 * prefs + 0.02 / problem.n_obj
    x = problem.sample(prefs.shape[0], generator=torch.Generator().manual_seed(0))
    x[::3, 1:] = 0.0  # some members on the front, some in the feasibility phase
    x.requires_grad_(True)
    F = problem.evaluate(x)
    J = jacobian(F, x)
    F, gram = F.detach(), J @ J.transpose(1, 2)
    host, device = PMTL(**options), PMTL(**options)
    device._weights_host = lambda *args: None  # the torch program
    a, b = host(F, prefs, gram=gram), device(F, prefs, gram=gram)
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_masked_min_norm_equals_library_min_norm_without_mask():
    gram = random_gram(50, 4, 6).cpu()
    a = masked_min_norm(gram)
    b = min_norm(gram)
    val = lambda w: torch.einsum("pi,pij,pj->p", w, gram, w)  # noqa: E731
    torch.testing.assert_close(val(a), val(b), atol=1e-10, rtol=1e-9)


def test_masked_min_norm_iterative_fallback_is_close(monkeypatch):
    from paretoray.algorithms import _lp

    gram = random_gram(20, 5, 7).cpu()
    exact = masked_min_norm(gram)
    monkeypatch.setattr(_lp, "MAX_CANDIDATES", 1)
    approx = masked_min_norm(gram, iters=3000)
    val = lambda w: torch.einsum("pi,pij,pj->p", w, gram, w)  # noqa: E731
    torch.testing.assert_close(val(approx), val(exact), atol=1e-6, rtol=1e-4)


# ------------------------------------------------------------------ weights
def _quarter_circle(K: int) -> torch.Tensor:
    """K preference rows whose directions are evenly spread on the quarter circle."""
    ang = torch.linspace(0, math.pi / 2, K, dtype=torch.float64)
    u = torch.stack([ang.cos(), ang.sin()], 1).clamp_min(0)
    return u / u.sum(-1, keepdim=True)


def _inputs(p: int, m: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    values = torch.rand(p, m, generator=g, dtype=torch.float64) + 0.05
    prefs = torch.rand(p, m, generator=g, dtype=torch.float64) + 0.05
    prefs = prefs / prefs.sum(-1, keepdim=True)
    return values, prefs, random_gram(p, m, m + 3, seed=seed + 1).cpu()


@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("program", ["host", "torch"])
def test_a_vanished_gradient_acts_as_a_zero_one(m, program):
    """An objective gradient ~1e-17 of the others (DTLZ2's members on the front's edge)
    must steer like an exactly zero one, not be blown up to unit length -- rounding noise
    and all -- with weights ~1e17 (which made PMTL's paths depend on the order of
    floating-point operations). Truth: the same member with that gradient set to 0."""
    rng = np.random.default_rng(3)
    p, n = 16, 6
    prefs = torch.as_tensor(rng.uniform(0.05, 1.0, (p, m)))
    values = prefs * torch.as_tensor(rng.uniform(0.5, 1.5, (p, 1)))  # feasible, near rays
    J = torch.as_tensor(rng.standard_normal((p, m, n)))
    J_tiny, J_zero = J.clone(), J.clone()
    J_tiny[:, 0] *= 1e-17 / J[:, 0].norm(dim=-1, keepdim=True)
    J_zero[:, 0] = 0.0
    direction = {}
    for name, Jac in (("tiny", J_tiny), ("zero", J_zero)):
        pmtl = PMTL()
        if program == "torch":
            pmtl._weights_host = lambda *args: None
        alpha = pmtl(values, prefs, gram=Jac @ Jac.transpose(1, 2))
        assert bool(torch.isfinite(alpha).all()) and float(alpha.abs().max()) < 1e9
        direction[name] = torch.einsum("pm,pmn->pn", alpha, Jac)
    torch.testing.assert_close(direction["tiny"], direction["zero"], rtol=0, atol=1e-7)


@pytest.mark.parametrize("m", [2, 3])
def test_batched_matches_per_member_loop_with_the_same_directions(m):
    values, prefs, gram = _inputs(24, m, seed=m)
    pmtl = PMTL()
    assert not pmtl.per_member
    reference = PMTL(directions=prefs)  # per member: the population's u's, frozen
    reference.per_member = True  # instance flag: each call sees one member
    assert_batched_matches_loop(pmtl, values, prefs, gram, reference=reference, atol=1e-10)


@pytest.mark.parametrize("m", [2, 3])
def test_phases_first_order_guarantees(m):
    """Infeasible members decrease every violated G_j; feasible ones increase no f_i and
    no active G_j (to first order: dF = -eta G alpha)."""
    p = 12 if m == 2 else 8
    values, prefs, gram = _inputs(p, m, seed=10 + m)
    values[::2] = prefs[::2] * (1 + 0.01 * values[::2])  # near their own rays: feasible
    # raw QP (the paper's guarantees on the raw gradients); every direction a neighbour
    pmtl = PMTL(active_eps=1e-2, neighbours=p - 1, normalize=False, max_active=p - 1)
    alpha = pmtl(values, prefs, gram=gram)
    assert_finite(alpha)
    dF = -torch.einsum("pij,pj->pi", gram, alpha)  # per unit step
    g = sector_constraints(values, prefs, prefs)
    u = prefs / prefs.norm(dim=-1, keepdim=True)
    dG = torch.einsum("km,pm->pk", u, dF) - (u * dF).sum(-1, keepdim=True)  # d(u_j - u_p)^T F
    dG = dG / values.norm(dim=-1, keepdim=True)
    infeasible = (g > 0).any(-1)
    assert 0 < int(infeasible.sum()) < values.shape[0]  # both phases exercised
    tol = 1e-9
    viol = (g > 0) & infeasible[:, None]
    assert (dG[viol] < tol).all()
    feas = ~infeasible
    assert (dF[feas] <= tol).all()
    width = 1 - u @ u.T
    active = (g >= -1e-2 * width) & feas[:, None] & torch.isfinite(g)
    assert (dG[active] <= tol).all()


def test_no_violation_no_active_constraint_is_mgda():
    values = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    prefs = torch.tensor([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    gram = random_gram(1, 2, 4).cpu()
    alpha = PMTL(directions=prefs, normalize=False)(values, prefs[:1], gram=gram)
    torch.testing.assert_close(alpha, min_norm(gram))
    # normalized: MGDA on unit gradients, applied to the raw ones
    norms = gram.diagonal(dim1=1, dim2=2).sqrt()
    unit_gram = gram / (norms[:, :, None] * norms[:, None, :])
    alpha = PMTL(directions=prefs)(values, prefs[:1], gram=gram)
    torch.testing.assert_close(alpha, min_norm(unit_gram) / norms)


def test_duplicate_preferences_are_not_constraints():
    values, _, gram = _inputs(4, 2, seed=3)
    prefs = torch.tensor([[0.5, 0.5]] * 4, dtype=torch.float64)
    alpha = PMTL(normalize=False)(values, prefs, gram=gram)
    torch.testing.assert_close(alpha, min_norm(gram))  # plain MGDA: nothing to stay in


def test_options_and_errors():
    assert algorithms.get("pmtl").needs_gram
    with pytest.raises(ConfigError, match="active_eps"):
        PMTL(active_eps=-1)
    with pytest.raises(ConfigError, match="neighbours"):
        PMTL(neighbours=0)
    with pytest.raises(ShapeError, match="gram"):
        PMTL()(torch.ones(2, 2), torch.full((2, 2), 0.5))
    with pytest.raises(ConfigError, match="max_active"):
        PMTL(max_active=0)
    assert repr(PMTL()) == ("PMTL(active_eps=0.3, neighbours=None, directions=None, "
                            "normalize=True, max_active=None)")


# ------------------------------------------------------------------ end to end
def test_toy_problem_every_member_in_its_own_sector_and_stationary():
    """K = 5 sectors on the toy problem ([Lin2019] Fig. 3): SGD lr 0.5, 200 steps."""
    K = 5
    prefs = _quarter_circle(K)
    g = torch.Generator().manual_seed(0)
    x0 = torch.zeros(K, 20, dtype=torch.float64)
    x0[:, 0::2], x0[:, 1::2] = 0.3, -0.3
    x0 = x0 + 0.1 * torch.randn(K, 20, generator=g, dtype=torch.float64)
    problem = Toy()
    engine = Engine(problem, PMTL(), prefs, x0=x0, lr=0.5, optimizer="sgd", device=DEVICE)
    engine.run(200)
    x = engine.x.detach().clone().requires_grad_(True)
    F = problem._evaluate(x)
    J = jacobian(F, x)
    F = F.detach()
    u = prefs / prefs.norm(dim=-1, keepdim=True)
    cos = (F / F.norm(dim=-1, keepdim=True)) @ u.T.to(F)
    assert (cos.argmax(-1).cpu() == torch.arange(K)).all()  # own sector
    gram = J @ J.transpose(1, 2)
    d = torch.einsum("pm,pmd->pd", min_norm(gram), J).norm(dim=-1)
    assert d.max() <= 1e-6  # Pareto stationary: MGDA's min-norm direction vanishes


# ------------------------------------------------------------------ neighbours (issue 13)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_neighbour_sectors_equal_the_sectors_of_all_directions_for_m2(seed):
    """For m = 2 the two angular neighbours bound exactly the sector that all K - 1 other
    directions bound (the paper's constraint set), on uneven and duplicated directions."""
    g = torch.Generator().manual_seed(seed)
    K = 40
    dirs = torch.rand(K, 2, generator=g, dtype=torch.float64)
    dirs[:5] = dirs[5:10]  # duplicates
    dirs[10] = torch.tensor([1.0, 0.0], dtype=torch.float64)
    F = torch.rand(K, 2, generator=g, dtype=torch.float64) + 1e-3
    idx = neighbours(dirs, dirs)
    assert idx.shape == (K, 2) and int((idx < 0).sum()) >= 1  # an end direction: one side
    g_all = sector_constraints(F, dirs, dirs)  # p x K, -inf for duplicates
    g_nb = torch.where(idx >= 0, g_all.gather(1, idx.clamp_min(0)), -torch.inf)
    torch.testing.assert_close((g_nb <= 0).all(1), (g_all <= 0).all(1))


def test_neighbours_are_the_nearest_distinct_directions_for_m3():
    from paretoray.preferences import das_dennis

    dirs = torch.as_tensor(das_dennis(3, 6), dtype=torch.float64)
    idx = neighbours(dirs, dirs)
    assert idx.shape == (dirs.shape[0], 4)
    u = dirs / dirs.norm(dim=-1, keepdim=True)
    ang = torch.arccos((u @ u.T).clamp(-1, 1))
    ang.fill_diagonal_(torch.inf)
    kth = ang.sort(1).values[:, 3]  # the 4th smallest angle (outside truth: a full sort)
    assert (ang.gather(1, idx) <= kth[:, None] + 1e-12).all()


def _quarter_circle_run(problem_name: str, algorithm, K: int, steps: int):
    from paretoray import problems

    problem = problems.get(problem_name)
    prefs = _quarter_circle(K)
    x0 = problem.sample(K, generator=torch.Generator().manual_seed(0))
    engine = Engine(problem, algorithm, prefs, x0=x0, device=DEVICE)
    engine.run(steps)
    return problem, prefs, engine.x.detach().clone()


def test_vlmop2_five_sectors_every_member_in_its_own_sector_and_stationary():
    """Issue 13's case: VLMOP2 in its default box, directions at 0, 22.5, 45, 67.5 and 90
    degrees, 3000 Adam steps from `problem.sample` starts. The paper's claim: every
    solution in its own sub-region and Pareto stationary (two members used to stay near
    (1, 1) in another member's sector)."""
    from paretoray.algorithms.minnorm import tangent_jacobian

    problem, prefs, x = _quarter_circle_run("vlmop2", PMTL(), 5, 3000)
    x.requires_grad_(True)
    F = problem._evaluate(x)
    J = tangent_jacobian(jacobian(F, x), x.detach(), *problem._projection_box_like(x))
    F = F.detach()
    u = prefs / prefs.norm(dim=-1, keepdim=True)
    cos = (F / F.norm(dim=-1, keepdim=True)) @ u.T.to(F)
    assert (cos.argmax(-1).cpu() == torch.arange(5)).all(), F
    assert F.max() < 0.99  # none left on the flat region near (1, 1)
    d = torch.einsum("pm,pmd->pd", min_norm(J @ J.transpose(1, 2)), J).norm(dim=-1)
    assert d.max() <= 1e-6


@pytest.mark.parametrize("problem_name", ["zdt1", "vlmop2"])
@pytest.mark.parametrize("K", [10, 100])
def test_hypervolume_within_two_percent_of_tchebycheff_from_the_same_starts(problem_name, K):
    """Issue 13: PMTL's front comes within 2% of Tchebycheff's hypervolume (it used to
    reach 0.46 of ZDT1's 0.877 at K = 100). HV by moocore at the problem's reference."""
    from paretoray import indicators

    hv = {}
    for name, algo in (("pmtl", PMTL()), ("tchebycheff", "tchebycheff")):
        problem, _, x = _quarter_circle_run(problem_name, algo, K, 1000)
        F = problem._evaluate(x).detach().cpu().numpy()
        hv[name] = indicators.hypervolume(F, problem.ref_point)
    assert hv["pmtl"] >= 0.98 * hv["tchebycheff"], hv
