"""Constrained problems (BNH, SRN, C2-DTLZ2): values, constraints and fronts against pymoo, and the
engine's population ending feasible on the known front (paretoray.constraints)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pymoo.problems import get_problem

from paretoray.engine import Engine
from paretoray.problems import get, names
from paretoray.problems._util import das_dennis
from paretoray.problems.constrained import BNH, C2DTLZ2, SRN
from paretoray.problems.wrappers import PymooProblem

NAMES = ["bnh", "srn", "c2dtlz2"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", NAMES)
def test_values_and_constraints_match_pymoo(name: str, dtype: torch.dtype, device) -> None:
    ours = get(name)
    assert name in names() and ours.n_ieq_constr == get_problem(name).n_ieq_constr >= 1
    assert ours.n_var == get_problem(name).n_var and ours.n_obj == get_problem(name).n_obj
    x = ours.sample(500, generator=torch.Generator().manual_seed(0))
    F_ref, G_ref = get_problem(name).evaluate(x.numpy(), return_values_of=["F", "G"])
    xd = x.to(device, dtype)
    tol = {"rtol": 1e-12, "atol": 1e-10} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-3}
    np.testing.assert_allclose(ours._evaluate(xd).cpu().double().numpy(), F_ref, **tol)
    np.testing.assert_allclose(ours._evaluate_constraints(xd).cpu().double().numpy(), G_ref,
                               **tol)
    cv = np.clip(G_ref, 0, None).sum(1)  # pymoo's CV
    np.testing.assert_allclose(ours.violation(xd).cpu().double().numpy(), cv, **tol)


def test_bnh_front_is_pymoos() -> None:
    ours = BNH().pareto_front(50).numpy()
    ref = get_problem("bnh")._calc_pareto_front(50)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)


def _dominated_by_curve(points: np.ndarray, front: np.ndarray, tol: float) -> np.ndarray:
    """Whether each point is weakly dominated by some front point, up to ``tol`` (two
    objectives: the least ``f2`` among front points with ``f1 <= point's f1 + tol``)."""
    front = front[np.argsort(front[:, 0])]
    best_f2 = np.minimum.accumulate(front[:, 1])
    i = np.searchsorted(front[:, 0], points[:, 0] + tol, side="right") - 1
    return (i >= 0) & (best_f2[np.maximum(i, 0)] <= points[:, 1] + tol)


def test_srn_front_is_complete_and_contains_pymoos() -> None:
    """pymoo's SRN front is the image of x1 = -2.5 only; the full front continues along both
    constraints. Checked without our construction: every feasible point of a dense random
    draw is dominated by our front (to its grid), and pymoo's points lie on it."""
    problem = SRN()
    front = problem.pareto_front(4000).numpy()
    pymoo_front = get_problem("srn").pareto_front()
    gap = np.linalg.norm(pymoo_front[:, None] - front[None], axis=-1).min(1)
    assert gap.max() < 0.1  # spacing of 4000 points along a front ~ 300 long
    x = problem.sample(400_000, generator=torch.Generator().manual_seed(1))
    feasible = problem.violation(x) == 0
    F = problem._evaluate(x[feasible]).numpy()
    assert len(F) > 50_000
    assert _dominated_by_curve(F, front, tol=0.1).all()
    # pymoo's front misses points that nothing dominates: the ends along g2 and g1
    assert front[:, 0].min() == pytest.approx(10.1, abs=1e-3)  # min f1 on g2 = 0
    assert not _dominated_by_curve(front[:1], pymoo_front, tol=1.0).any()
    assert not _dominated_by_curve(front[-1:], pymoo_front, tol=1.0).any()
    # the front's decisions are feasible; the ref point is dominated by all of it
    ps = problem.pareto_set(200)
    assert float(problem.violation(ps).max()) <= 1e-9  # on a boundary, to rounding
    assert bool((problem.pareto_front(200) < torch.tensor(problem.ref_point)).all())


def test_bnh_ref_point_is_dominated_by_the_front() -> None:
    assert bool((BNH().pareto_front(200) < torch.tensor(BNH.ref_point)).all())


def test_c2dtlz2_front_is_pymoos_feasible_sphere() -> None:
    from pymoo.problems.many.cdtlz import constraint_c2

    ours = C2DTLZ2().pareto_front(300).numpy()
    assert 240 <= len(ours) <= 360
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-12)  # on DTLZ2's
    assert (constraint_c2(ours, 0.4) <= 0).all()  # feasible by pymoo's own constraint
    ref = get_problem("c2dtlz2").pareto_front()  # 76 feasible points of 136 directions
    gap = np.linalg.norm(ref[:, None] - ours[None], axis=-1).min(1)
    assert gap.max() < 0.1  # about the spacing of 300 points on the caps


def test_pymoo_bnh_constraints_and_their_gradients_come_through() -> None:
    from paretoray.constraints import constraint_jacobian

    wrapped = PymooProblem(get_problem("bnh"), gradient="fd")
    x = BNH().sample(9, generator=torch.Generator().manual_seed(2))
    G, A = constraint_jacobian(wrapped, x)
    G_ours, A_ours = constraint_jacobian(BNH(), x)  # autograd
    torch.testing.assert_close(G, G_ours, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(A, A_ours, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------- engine
def _normalized(F: torch.Tensor, front: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    lo, hi = front.min(0).values, front.max(0).values
    return (F - lo) / (hi - lo), (front - lo) / (hi - lo)


#: Population, and the steps and lr of the runs below.
P = 32


@pytest.mark.parametrize("algo", ["tchebycheff", "epo", "mgda", "linear"])
def test_bnh_population_ends_feasible_on_the_front(algo: str) -> None:
    """From uniform box starts (and from starts inside the infeasible corner) every member
    ends feasible and on the front.

    Distances are measured with the objectives scaled to the front's extent. 32 points
    evenly spread along BNH's front (arc length about 1.6 scaled) would reach IGD ~ 0.0125;
    pymoo's NSGA-II with 32 individuals reaches 0.016-0.018 after 50 or 500 generations, and
    32 random feasible points 0.059 (IGD barely separates them: BNH's feasible image hugs the
    front), so convergence is checked by GD as well: those random points lie 0.03 (median)
    to 0.31 (max) from the front. MGDA ignores the preferences, so only its convergence
    counts. BNH's constraints do not touch its front, so plain descent also ends feasible
    here: this test checks that steering costs no accuracy; the SRN test below and the cut
    front of tests/test_constraints.py fail without it (final violations of 10 to 600).
    """
    problem = BNH()
    front = problem.pareto_front(2000)
    prefs = das_dennis(2, P)
    g = torch.Generator().manual_seed(5)
    draws = problem.sample(20_000, generator=g)
    corner = draws[problem.violation(draws) > 0][:P]  # every member starts infeasible
    for x0 in (None, corner):
        e = Engine(problem, algo, prefs, x0=x0, lr=0.01, seed=0, device="cpu")
        if x0 is None:
            assert int((problem.violation(e.x.detach()) > 0).sum()) >= 1
        e.run(1000)
        x, F, _ = e.evaluate()
        assert float(problem.violation(x).max()) <= 1e-6
        Fn, fn = _normalized(F, front)
        gd = torch.cdist(Fn, fn).min(dim=1).values
        assert float(gd.max()) < 5e-3, gd.max()  # the 2000-point front's spacing is 8e-4
        if algo != "mgda":
            igd = float(torch.cdist(fn, Fn).min(dim=1).values.mean())
            assert igd < 0.04, igd


@pytest.mark.parametrize("algo", ["tchebycheff", "epo", "mgda", "linear"])
def test_srn_population_mostly_infeasible_at_start_ends_feasible(algo: str) -> None:
    """Five in six uniform starts violate SRN's constraints, and most of its front lies on
    them. Every member must end feasible (lr = 0.1 Adam steps, within the default band of
    0.005 * 40 = 0.2); most must reach the front (a few stop at the vertex where both
    constraints meet, a constrained critical point that is not Pareto optimal)."""
    problem = SRN()
    front = problem.pareto_front(4000)
    e = Engine(problem, algo, das_dennis(2, P), lr=0.1, seed=1, device="cpu")
    assert int((problem.violation(e.x.detach()) > 0).sum()) >= P // 2
    e.run(800)
    x, F, _ = e.evaluate()
    assert float(problem.violation(x).max()) <= 1e-6
    Fn, fn = _normalized(F, front)
    gd = torch.cdist(Fn, fn).min(dim=1).values
    assert float(gd.median()) < 0.02, gd


def test_pymoo_problem_with_constraints_through_the_engine() -> None:
    """pymoo's BNH, G and finite differences included, behaves like the torch port."""
    problem = PymooProblem(get_problem("bnh"), gradient="fd")
    prefs = das_dennis(2, 12)
    x0 = BNH().sample(12, generator=torch.Generator().manual_seed(3))
    x0[:4] = torch.tensor([[0.2, 2.9], [0.5, 2.8], [0.1, 2.5], [0.3, 2.95]])  # infeasible
    assert bool((BNH().violation(x0[:4]) > 0).all())
    runs = [Engine(p, "tchebycheff", prefs, x0=x0, lr=0.01, seed=0, device="cpu")
            for p in (problem, BNH())]
    for e in runs:
        e.run(300)
    (xa, _, _), (xb, _, _) = (e.evaluate() for e in runs)
    assert float(BNH().violation(xa).max()) <= 1e-6
    torch.testing.assert_close(xa, xb, rtol=0, atol=1e-3)  # FD vs autograd gradients


@pytest.mark.parametrize("algo", ["tchebycheff", "epo", "mgda", "linear"])
def test_c2dtlz2_population_ends_feasible(algo: str) -> None:
    """99% of uniform starts violate C2-DTLZ2's constraint (12 variables, a constraint that
    is the minimum of four). Every member ends feasible; most reach the front's caps (those
    aimed at a removed part of the sphere stop on a cap's rim, off the sphere)."""
    problem = C2DTLZ2()
    front = problem.pareto_front(2000)  # spacing about 0.03 on the unit sphere
    e = Engine(problem, algo, das_dennis(3, 28), lr=0.01, seed=0, device="cpu")
    assert int((problem.violation(e.x.detach()) > 0).sum()) >= 24
    e.run(300)
    x, F, _ = e.evaluate()
    assert float(problem.violation(x).max()) <= 1e-6
    gd = torch.cdist(F, front).min(dim=1).values
    assert float(gd.median()) < 0.03, gd
