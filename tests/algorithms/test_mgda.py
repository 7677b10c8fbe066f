"""MGDA: Pareto stationarity and common descent on toy quadratics and ZDT1."""

from __future__ import annotations

import pytest
import torch
from _checks import (
    DEVICE,
    DTYPES,
    assert_batched_matches_loop,
    assert_common_descent,
    assert_finite,
    assert_scale_robust,
    common_direction_norm,
    descend,
    jacobian,
    quadratics,
    random_inputs,
)

from paretoray import algorithms
from paretoray.algorithms.mgda import MGDA
from paretoray.algorithms.minnorm import min_norm
from paretoray.errors import ConfigError, UnknownNameError


@pytest.mark.parametrize(
    "anchors",
    [
        [[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]],  # triangle: m = 3, d = 2
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],  # segment: m = 2, d = 3
    ],
)
def test_mgda_reaches_pareto_stationarity_with_common_descent(anchors):
    A = torch.tensor(anchors, dtype=torch.float64, device=DEVICE)
    m, d = A.shape
    g = torch.Generator().manual_seed(0)
    x0 = (3 * torch.randn(16, d, generator=g, dtype=torch.float64)).to(DEVICE)
    objective = quadratics(A)
    prefs = torch.full((16, m), 1.0 / m, dtype=torch.float64, device=DEVICE)
    history = []

    def check(values, gram, w):
        assert_common_descent(gram, w)  # <grad f_i, d> >= ||d||^2 for every objective
        history.append(values)

    x = descend(MGDA(), objective, x0, prefs, steps=60, lr=0.1, on_step=check)
    F = torch.stack(history)
    # Quadratics with Hessian 2I and lr <= 1: every objective decreases monotonically.
    assert (F[1:] <= F[:-1] + 1e-12).all()
    x.requires_grad_(True)
    gram = (lambda J: J @ J.transpose(-1, -2))(jacobian(objective(x), x))
    assert (common_direction_norm(gram, min_norm(gram)) < 1e-3).all()
    # Pareto stationary points of these quadratics are conv{a_i}: check barycentric weights.
    lam = torch.linalg.lstsq(
        torch.cat([A.T, torch.ones(1, m, dtype=A.dtype, device=DEVICE)]).expand(16, -1, -1),
        torch.cat([x.detach(), torch.ones(16, 1, dtype=A.dtype, device=DEVICE)], 1)[..., None],
    ).solution[..., 0]
    assert (lam >= -1e-3).all()


def zdt1_or_skip():
    from paretoray import problems

    try:
        return problems.get("zdt1")
    except (UnknownNameError, ImportError):
        pytest.skip("paretoray.problems has no 'zdt1' yet")


def test_mgda_zdt1_box_pareto_stationarity():
    """MGDA + projection on ZDT1 ends Pareto stationary on the box.

    Stationarity with bounds: coordinates at a bound where every gradient pushes outward
    are blocked; the min-norm element over the other coordinates must vanish. (Plain MGDA
    with projection also slides along the front toward ``x1 = 0``; that is not checked.)
    """
    problem = zdt1_or_skip()
    g = torch.Generator().manual_seed(0)
    x0 = problem.sample(8, generator=g)
    x0[:, 0] = 0.2 + 0.6 * x0[:, 0]
    x0[:, 1:] *= 0.05  # start near the Pareto set (x2.. = 0), where MGDA is well behaved
    prefs = torch.full((8, 2), 0.5, dtype=x0.dtype)
    x = descend(MGDA(), problem._evaluate, x0, prefs, steps=100, lr=0.01, project=problem.project)
    x.requires_grad_(True)
    F = problem._evaluate(x)
    J = jacobian(F, x)
    lo = problem.project(torch.full_like(x, -1e9))
    hi = problem.project(torch.full_like(x, 1e9))
    blocked = ((x <= lo + 1e-12) & (J >= 0).all(1)) | ((x >= hi - 1e-12) & (J <= 0).all(1))
    Jf = J * (~blocked)[:, None, :]
    gram = Jf @ Jf.transpose(-1, -2)
    assert (common_direction_norm(gram, min_norm(gram)) < 1e-3).all()
    F = F.detach()
    assert (F[:, 1] - (1 - F[:, 0].sqrt())).abs().max() < 1e-3  # on the true front


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", [2, 3, 5, 8])
def test_batched_equals_loop_and_scale_robust(dtype, m):
    values, prefs, gram = random_inputs(12, m, dtype=dtype, seed=m)
    atol = 1e-5 if dtype == torch.float32 else 1e-9
    w = assert_batched_matches_loop(MGDA(), values, prefs, gram, atol=atol)
    assert_common_descent(gram, w, rtol=1e-5)
    assert_scale_robust(MGDA(), values, prefs, gram)
    torch.testing.assert_close(w.sum(-1), torch.ones_like(w[:, 0]), atol=1e-6, rtol=0)


def test_weights_ignore_prefs_and_carry_no_graph():
    values, prefs, gram = random_inputs(5, 3)
    gram = gram.clone().requires_grad_(True)
    w1 = MGDA()(values, prefs, gram=gram)
    w2 = MGDA()(values, prefs.flip(-1), gram=gram)
    torch.testing.assert_close(w1, w2)
    assert not w1.requires_grad
    assert_finite(w1)


def test_registry_repr_and_errors():
    w = algorithms.get("mgda")
    assert isinstance(w, MGDA) and w.needs_gram and w.per_member
    assert repr(w) == "MGDA(iters=None)"
    assert repr(MGDA(iters=50)) == "MGDA(iters=50)"
    with pytest.raises(ConfigError, match="iters"):
        MGDA(iters=0)
    values, prefs, _ = random_inputs(3, 2)
    with pytest.raises(ConfigError, match="Gram"):
        MGDA()(values, prefs)


# ------------------------------------------------------------------ the box (issue 13)
def test_tangent_jacobian_drops_exactly_the_outward_components():
    from paretoray.algorithms.minnorm import tangent_jacobian

    lo, hi = torch.tensor([0.0, 0.0, -1.0]), torch.tensor([1.0, 1.0, 1.0])
    x = torch.tensor([[0.0, 1.0, 0.5], [0.5, 0.5, 1.0]])
    J = torch.tensor([[[1.0, -1.0, 3.0], [-2.0, 2.0, 4.0]],
                      [[5.0, 6.0, -7.0], [8.0, 9.0, 10.0]]])
    expected = torch.tensor([[[0.0, 0.0, 3.0], [-2.0, 2.0, 4.0]],  # x1 at 0: +1 leaves
                             [[5.0, 6.0, 0.0], [8.0, 9.0, 10.0]]])  # x3 at 1: -7 leaves
    torch.testing.assert_close(tangent_jacobian(J, x, lo, hi), expected)


def test_zdt1_members_stop_pareto_stationary_in_the_box_instead_of_one_corner():
    """Issue 13: MGDA on ZDT1 from 20 `problem.sample` starts used to slide every member
    into the corner (0, 1) (front HV 0.111 = one point): the min-norm direction kept the
    components of grad f2 that push x2..x30 below 0. On the tangent cone of the active
    bounds every member stops where it is weakly Pareto optimal in the box: on the true
    front (g = 1), or with f1 = x1 at its box minimum where MGDA's own dynamics took it."""
    from paretoray import indicators, problems
    from paretoray.algorithms.minnorm import tangent_jacobian
    from paretoray.engine import Engine

    problem = problems.get("zdt1")
    K = 20
    x0 = problem.sample(K, generator=torch.Generator().manual_seed(0))
    engine = Engine(problem, MGDA(), torch.full((K, 2), 0.5, dtype=torch.float64), x0=x0,
                    device=DEVICE)
    engine.run(2000)
    x = engine.x.detach().clone().requires_grad_(True)
    F = problem._evaluate(x)
    lo, hi = problem._projection_box_like(x)
    J = tangent_jacobian(jacobian(F, x), x.detach(), lo, hi)
    F, x = F.detach().cpu().double(), x.detach().cpu().double()
    gram = J @ J.transpose(1, 2)
    stationary = common_direction_norm(gram, min_norm(gram)) <= 1e-6  # in the box
    assert stationary.double().mean() >= 0.9  # Adam makes a member bounce off x1's bound
    on_front = (F[:, 1] - (1 - F[:, 0].sqrt())).abs() <= 1e-4  # pymoo's front: f2 = 1 - sqrt f1
    at_f1_min = x[:, 0] <= float(lo[0]) + 1e-5
    assert (on_front | at_f1_min).all()
    assert int(on_front.sum()) >= 3  # the old run had every member at (0, 1)
    ref = problem.ref_point
    hv = indicators.hypervolume(F.numpy(), ref)
    true_hv = indicators.hypervolume(problem.pareto_front(2000).numpy(), ref)
    assert hv >= 0.65 * true_hv > 5 * 0.111, (hv, true_hv)


def test_zdt1_point_at_x1_bound_is_pareto_critical_by_the_exact_tangent_cone():
    """Why MGDA members that reach x1's bound stop above the front (issue 13): the exact
    min-norm over the tangent cone, min_a ||P_T(-(a g1 + (1 - a) g2))||, is 0 there
    (a = 1: grad f1 = e1 points straight out of the box), so no feasible direction
    decreases both objectives; the per-gradient drop of ``tangent_jacobian`` stops at the
    same points. Off the bound the exact value is positive, as is the engine's."""
    from paretoray import problems
    from paretoray.algorithms.minnorm import tangent_jacobian

    problem = problems.get("zdt1")
    lo, hi = problem._projection_box_like(torch.zeros(1, 30, dtype=torch.float64))
    x = torch.full((2, 30), 0.3, dtype=torch.float64)
    x[0, 0] = lo[0]  # on x1's bound, g > 1: weakly Pareto optimal
    x[1, 0] = 0.5  # inside: not critical
    x.requires_grad_(True)
    F = problem._evaluate(x)
    J = jacobian(F, x).detach()
    a = torch.linspace(0, 1, 100001, dtype=torch.float64)
    for p in range(2):
        w = a[:, None] * J[p, 0] + (1 - a[:, None]) * J[p, 1]  # candidate d = J^T alpha
        step = -w  # the move; project it onto the tangent cone of the active bounds
        step = torch.where(x[p].detach() <= lo, step.clamp_min(0), step)
        step = torch.where(x[p].detach() >= hi, step.clamp_max(0), step)
        exact = float(step.norm(dim=1).min())
        Jt = tangent_jacobian(J[p:p + 1], x[p:p + 1].detach(), lo, hi)
        engine = float(common_direction_norm(Jt @ Jt.transpose(1, 2),
                                             min_norm(Jt @ Jt.transpose(1, 2))))
        if p == 0:
            assert exact == 0.0 and engine < 1e-8  # the solver's ridge
        else:
            assert exact > 1e-2 and engine > 1e-2
