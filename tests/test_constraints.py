"""Feasible directions for constrained problems (paretoray.constraints).

The batched QP is checked against independent solvers (scipy's NNLS for the cone, SLSQP for
general right-hand sides), ``steer`` against the properties its docstring promises, and the
engine end to end on a problem whose constraint cuts the front at a known point.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import minimize, nnls

from paretoray.constraints import ENUMERATE_MAX, cone_projection, constraint_jacobian, steer
from paretoray.engine import Engine
from paretoray.errors import ShapeError
from paretoray.problems import get
from paretoray.problems._util import das_dennis
from paretoray.problems.wrappers import from_function
from paretoray.problems.zdt import ZDT1


def _instances(p: int, k: int, d: int, seed: int, feasible_b: bool):
    g = torch.Generator().manual_seed(seed)
    D = torch.randn(p, d, generator=g, dtype=torch.float64)
    A = torch.randn(p, k, d, generator=g, dtype=torch.float64)
    # scales from 1e-3 to 1e3 per row: the QP must not care
    A = A * torch.logspace(-3, 3, k, dtype=torch.float64)[None, :, None]
    if not feasible_b:
        return D, A, torch.zeros(p, k, dtype=torch.float64)
    # b = A d0 - slack for a random d0: the polyhedron is nonempty; signs of b mixed
    d0 = torch.randn(p, d, generator=g, dtype=torch.float64)
    slack = torch.rand(p, k, generator=g, dtype=torch.float64)
    slack[:, ::2] = 0.0  # some rows tight at d0
    return D, A, torch.einsum("pkd,pd->pk", A, d0) - slack


def _slsqp(D: np.ndarray, A: np.ndarray, b: np.ndarray) -> np.ndarray:
    res = minimize(lambda v: 0.5 * np.sum((v - D) ** 2), D, jac=lambda v: v - D,
                   constraints=[{"type": "ineq", "fun": lambda v: A @ v - b,
                                 "jac": lambda v: A}],
                   method="SLSQP", options={"ftol": 1e-14, "maxiter": 500})
    assert res.success, res.message
    return res.x


@pytest.mark.parametrize("k", [1, 2, 3, ENUMERATE_MAX, ENUMERATE_MAX + 2])
def test_cone_projection_matches_nnls(k: int) -> None:
    """b = 0: the projection onto {A d >= 0} is D + A^T lam, lam = NNLS(A^T, -D)."""
    d = 8 if k <= ENUMERATE_MAX else 12  # Hildreth converges slowly on k = d cones
    D, A, b = _instances(40, k, d, seed=k, feasible_b=False)
    ours, solved = cone_projection(D, A, b)
    assert bool(solved.all())
    for i in range(D.shape[0]):
        lam, _ = nnls(A[i].T.numpy(), -D[i].numpy(), maxiter=1000)
        ref = D[i].numpy() + A[i].T.numpy() @ lam
        scale = 1.0 + np.linalg.norm(D[i].numpy())
        tol = 1e-9 if k <= ENUMERATE_MAX else 1e-4  # Hildreth: a fixed number of sweeps
        np.testing.assert_allclose(ours[i].numpy(), ref, atol=tol * scale, rtol=0)


@pytest.mark.parametrize("k", [1, 2, 4, ENUMERATE_MAX + 1])
def test_cone_projection_matches_slsqp_with_right_hand_sides(k: int) -> None:
    d = 6
    D, A, b = _instances(25, k, d, seed=100 + k, feasible_b=True)
    A = A / torch.logspace(-3, 3, k, dtype=torch.float64)[None, :, None]  # SLSQP wants O(1)
    b = b / torch.logspace(-3, 3, k, dtype=torch.float64)[None, :]
    ours, solved = cone_projection(D, A, b)
    assert bool(solved.all())
    for i in range(D.shape[0]):
        ref = _slsqp(D[i].numpy(), A[i].numpy(), b[i].numpy())
        np.testing.assert_allclose(ours[i].numpy(), ref, atol=1e-5 * (1 + np.abs(ref).max()))
    # and feasible to rounding
    slack = torch.einsum("pkd,pd->pk", A, ours) - b
    assert float(slack.min()) > -1e-6


def test_cone_projection_flags_empty_polyhedra_and_drops_inactive_rows() -> None:
    D = torch.tensor([[1.0, 2.0], [1.0, 2.0]], dtype=torch.float64)
    # d_1 >= 1 and -d_1 >= 1 cannot hold together
    A = torch.tensor([[[1.0, 0.0], [-1.0, 0.0]]] * 2, dtype=torch.float64)
    b = torch.ones(2, 2, dtype=torch.float64)
    _, solved = cone_projection(D, A, b)
    assert solved.tolist() == [False, False]
    active = torch.tensor([[True, False], [False, False]])
    d, solved = cone_projection(D, A, b, active)
    assert solved.tolist() == [True, True]
    torch.testing.assert_close(d, D)  # d_1 = 1 >= 1 already holds; nothing active in row 2
    with pytest.raises(ShapeError, match="p x k x d"):
        cone_projection(D, A[:, :, :1], b)


# ---------------------------------------------------------------------- steer
class _HalfPlanes(ZDT1):
    """ZDT1 (d = 4) with two linear constraints whose gradients point different ways."""

    n_ieq_constr = 2

    def __init__(self) -> None:
        super().__init__(n_var=4)

    def _evaluate_constraints(self, x: torch.Tensor) -> torch.Tensor:
        g1 = 0.3 - x[:, 0] - x[:, 1]  # x1 + x2 >= 0.3
        g2 = x[:, 2] + 0.5 * x[:, 0] - 0.6  # x3 + x1 / 2 <= 0.6
        return torch.stack([g1, g2], dim=1)


def test_steer_promises() -> None:
    problem = _HalfPlanes()
    g = torch.Generator().manual_seed(0)
    x = problem.sample(400, generator=g)
    D = torch.randn(400, 4, generator=g, dtype=torch.float64)
    d = steer(problem, x, D, margin=0.02)
    G, A = constraint_jacobian(problem, x)
    h = G / A.norm(dim=-1)  # signed distance to each boundary (linear constraints: exact)
    delta = 0.02 * 1.0
    far = (h < -2 * delta).all(dim=1)
    assert int(far.sum()) > 50
    torch.testing.assert_close(d[far], D[far], rtol=0, atol=0)  # untouched, bit for bit
    rate = torch.einsum("pkd,pd->pk", A, d)  # moving along -d changes g_j at rate -rate
    band = (h >= -delta) & (h <= 0)
    assert int(band.sum()) > 10
    assert float(rate[band].min()) >= -1e-12  # no active constraint increases
    bad = G > 0
    assert int(bad.sum()) > 50
    s = torch.maximum(D.norm(dim=1), torch.einsum("pk,pkd->pd", bad.double(), A).norm(dim=1))
    need = A.norm(dim=-1) * s[:, None]
    assert bool((rate[bad] >= need[bad] * (1 - 1e-9)).all())  # violated ones fall fast
    # a short step along -d reduces every member's violation (linear constraints)
    infeasible = bad.any(dim=1)
    step = 1e-3 / d.norm(dim=1, keepdim=True)
    after = problem.violation(x - step * d)
    assert bool((after[infeasible] < problem.violation(x)[infeasible]).all())


def test_steer_is_the_projection_its_docstring_states() -> None:
    """d* = argmin ||d - D|| s.t. a_j . d >= min(s / delta (g_j + delta ||a_j||), s ||a_j||)."""
    problem = _HalfPlanes()
    g = torch.Generator().manual_seed(1)
    x = problem.sample(60, generator=g)
    D = torch.randn(60, 4, generator=g, dtype=torch.float64)
    margin = 0.05
    d = steer(problem, x, D, margin=margin)
    G, A = constraint_jacobian(problem, x)
    norms = A.norm(dim=-1)
    r = torch.einsum("pk,pkd->pd", (G > 0).double(), A)
    s = torch.maximum(D.norm(dim=1), r.norm(dim=1))
    b = torch.minimum(s[:, None] / margin * (G + margin * norms), s[:, None] * norms)
    for i in range(60):
        ref = _slsqp(D[i].numpy(), A[i].numpy(), b[i].numpy())
        np.testing.assert_allclose(d[i].numpy(), ref, atol=1e-6 * (1 + np.abs(ref).max()))


def test_steer_runs_in_float32() -> None:
    problem = _HalfPlanes()
    x = problem.sample(50, generator=torch.Generator().manual_seed(2)).float()
    D = torch.randn(50, 4, generator=torch.Generator().manual_seed(3))
    d = steer(problem, x, D)
    assert d.dtype == torch.float32 and bool(torch.isfinite(d).all())


def test_unconstrained_problems_are_untouched() -> None:
    """steer returns the same tensor; a never-active constraint leaves a run bit-identical."""
    plain = get("zdt1", n_var=5)
    x = plain.sample(8)
    D = torch.randn(8, 5, dtype=torch.float64)
    assert steer(plain, x, D) is D

    class FarConstraint(ZDT1):
        n_ieq_constr = 1

        def _evaluate_constraints(self, x: torch.Tensor) -> torch.Tensor:
            return x.sum(dim=1, keepdim=True) - 100.0  # never within the band

    prefs = das_dennis(2, 12)
    for algo in ("epo", "linear"):
        runs = [Engine(prob, algo, prefs, lr=0.02, seed=4, device="cpu")
                for prob in (ZDT1(n_var=5), FarConstraint(n_var=5))]
        for e in runs:
            e.run(60)
        torch.testing.assert_close(runs[0].x, runs[1].x, rtol=0, atol=0)


def _spheres(x: torch.Tensor) -> torch.Tensor:
    return torch.stack([x.pow(2).sum(1), (x - 1).pow(2).sum(1)], dim=1)


@pytest.mark.parametrize("algo", ["tchebycheff", "epo", "mgda", "linear"])
def test_engine_on_a_front_cut_by_a_constraint(algo: str) -> None:
    """Two spheres in [0, 1]^3 with sum(x) >= 1.5: the front is the image of x = t 1 for
    t in [0.5, 1] (f1 = 3 t^2, f2 = 3 (1 - t)^2); the constraint is active at t = 0.5, and
    every member whose preference points at the cut-off part must stop on it, feasible."""
    problem = from_function(_spheres, xl=0.0, xu=1.0, n_var=3,
                            constraints=lambda x: 1.5 - x.sum(dim=1, keepdim=True))
    assert problem.n_ieq_constr == 1
    prefs = das_dennis(2, 16)
    e = Engine(problem, algo, prefs, lr=0.01, seed=0, device="cpu")
    start_infeasible = int((problem.violation(e.x.detach()) > 0).sum())
    assert start_infeasible >= 4  # half the cube is infeasible
    e.run(800)
    x, F, _ = e.evaluate()
    assert float(problem.violation(x).max()) <= 1e-6
    t = torch.linspace(0.5, 1.0, 2001, dtype=torch.float64)
    front = torch.stack([3 * t**2, 3 * (1 - t) ** 2], dim=1)
    gd = torch.cdist(F, front).min(dim=1).values
    # members on the constraint sit delta = 5e-3 inside it: f moves by about 3 * 2 * delta
    assert float(gd.max()) < 0.05, gd.max()
    # and the cut end of the front is reached by someone unless the weighting ignores prefs
    if algo != "mgda":
        assert float(torch.cdist(front[:1], F).min()) < 0.05
