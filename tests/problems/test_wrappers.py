"""Problems from a torch function, a BoTorch test problem and a pymoo problem."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from botorch.test_functions.multi_objective import ZDT1 as BoTorchZDT1
from botorch.test_functions.multi_objective import BraninCurrin
from pymoo.core.problem import Problem as PymooBase
from pymoo.problems import get_problem

from paretoray.errors import ConfigError, ParetorayError, ShapeError
from paretoray.problems import Problem, as_problem, get
from paretoray.problems.wrappers import (
    BoTorchProblem,
    FunctionProblem,
    PymooProblem,
    from_function,
)


def _two_spheres(x: torch.Tensor) -> torch.Tensor:
    return torch.stack([x.pow(2).sum(1), (x - 1).pow(2).sum(1)], dim=1)


def _jacobian(p: Problem, x: torch.Tensor) -> torch.Tensor:
    """A `p x m x d` Jacobian by m backward passes, as the engine forms it."""
    x = x.detach().clone().requires_grad_()
    F = p.evaluate(x)
    rows = [torch.autograd.grad(F[:, i].sum(), x, retain_graph=True)[0] for i in range(p.n_obj)]
    return torch.stack(rows, dim=1)


# ---------------------------------------------------------------------- functions
def test_function_problem_infers_n_obj_and_differentiates(rng) -> None:
    p = FunctionProblem(lambda x: _two_spheres(x), xl=-1.0, xu=[2.0, 2.0, 2.0], name="spheres")
    assert (p.n_var, p.n_obj, p.name) == (3, 2, "spheres")
    assert repr(p) == "FunctionProblem('spheres', n_var=3, n_obj=2)"
    x = p.sample(5, generator=rng)
    torch.testing.assert_close(p.evaluate(x), _two_spheres(x))
    J = _jacobian(p, x)
    torch.testing.assert_close(J, torch.stack([2 * x, 2 * (x - 1)], dim=1))
    assert p.evaluate(x[0]).shape == (2,)


def test_function_problem_with_n_obj_does_not_call_f_at_construction() -> None:
    calls = []
    p = FunctionProblem(lambda x: calls.append(1) or _two_spheres(x), 0.0, 1.0, n_obj=2, n_var=4)
    assert calls == [] and p.n_obj == 2


def test_function_problem_rejects_non_tensor_outputs() -> None:
    with pytest.raises(ConfigError, match=r"torch\.Tensor.*got ndarray"):
        FunctionProblem(lambda x: _two_spheres(x).numpy(), xl=0.0, xu=1.0, n_var=2)
    p = FunctionProblem(lambda x: [0.0, 1.0], xl=0.0, xu=1.0, n_var=2, n_obj=2)
    with pytest.raises(ConfigError, match=r"got list"):
        p.evaluate(torch.zeros(3, 2))


def test_function_problem_rejects_wrong_output_shapes() -> None:
    with pytest.raises(ShapeError, match=r"`p x m`; got \(1,\)"):
        FunctionProblem(lambda x: x.sum(1), xl=0.0, xu=1.0, n_var=2)
    p = FunctionProblem(_two_spheres, xl=0.0, xu=1.0, n_var=2, n_obj=3)
    with pytest.raises(ShapeError, match=r"`p x 3`; got \(4, 2\)"):
        p.evaluate(torch.zeros(4, 2))


@pytest.mark.parametrize(
    "kw,error,match",
    [
        ({"xl": 0.0, "xu": 1.0}, ConfigError, "n_var"),
        ({"xl": [0.0, 0.0], "xu": [1.0, 1.0, 1.0]}, ShapeError, "disagree"),
        ({"xl": [1.0, 0.0], "xu": [0.0, 1.0]}, ConfigError, "swap"),
        ({"xl": 0.0, "xu": float("inf"), "n_var": 2}, ConfigError, "finite"),
    ],
)
def test_function_problem_bounds(kw: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        FunctionProblem(_two_spheres, **kw)


def test_from_function_call_and_decorator() -> None:
    p = from_function(_two_spheres, xl=0.0, xu=1.0, n_var=2, ref_point=[3, 3])
    assert isinstance(p, FunctionProblem) and p.ref_point == (3.0, 3.0)

    @from_function(xl=[0.0, 0.0], xu=[1.0, 1.0])
    def spheres(x: torch.Tensor) -> torch.Tensor:
        return _two_spheres(x)

    assert isinstance(spheres, FunctionProblem) and spheres.name == "spheres"
    assert spheres.n_obj == 2


# ---------------------------------------------------------------------- BoTorch
@pytest.mark.parametrize("negate", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_botorch_branin_currin_is_minimized(negate: bool, dtype: torch.dtype, rng) -> None:
    bc = BraninCurrin(negate=negate)
    p = BoTorchProblem(bc)
    assert (p.n_var, p.n_obj) == (2, 2)
    torch.testing.assert_close(p.bounds, bc.bounds)
    x = p.sample(16, generator=rng, dtype=dtype).clamp_min(1e-3)  # Currin divides by x_2
    F = p.evaluate(x)
    assert F.dtype == dtype
    # BoTorch maximizes: with negate=True its values are -F; the raw function is F either way
    torch.testing.assert_close(F, -bc(x, noise=False) if negate else bc(x, noise=False))
    assert p.ref_point == (18.0, 6.0)
    torch.testing.assert_close(
        torch.tensor(p.ref_point, dtype=torch.float64), -bc.ref_point if negate else bc.ref_point
    )
    assert torch.autograd.gradcheck(p._evaluate, (x.double()[:3].requires_grad_(),))
    assert not p.has_pareto_front
    with pytest.raises(NotImplementedError):
        p.pareto_front()


def test_botorch_zdt1_equals_ours(hausdorff, rng) -> None:
    bz = BoTorchZDT1(dim=6, negate=True)
    p = as_problem(bz)
    ours = get("zdt1", n_var=6)
    x = ours.sample(32, generator=rng)
    torch.testing.assert_close(p.evaluate(x), ours.evaluate(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(p.evaluate(x), -bz(x, noise=False))
    assert p.has_pareto_front
    assert max(hausdorff(p.pareto_front(100), ours.pareto_front(100))) < 1e-12
    assert p.ref_point == (11.0, 11.0) and p.name == "botorch:ZDT1"
    q = pickle.loads(pickle.dumps(p))  # problems travel to Ray workers
    torch.testing.assert_close(q.evaluate(x), p.evaluate(x))


# ---------------------------------------------------------------------- pymoo
class _CountingZDT1(PymooBase):
    """pymoo's ZDT1 values, counting rows evaluated."""

    def __init__(self, n_var: int = 5) -> None:
        super().__init__(n_var=n_var, n_obj=2, xl=0.0, xu=1.0)
        self.inner, self.calls = get_problem("zdt1", n_var=n_var), 0

    def _evaluate(self, x, out, *args, **kwargs) -> None:
        self.calls += 1
        out["F"] = self.inner.evaluate(x)


class _AnalyticQuadratic(PymooBase):
    """``F = (|x|^2, |x - 1|^2)`` with its Jacobian in ``out["dF"]``."""

    def __init__(self) -> None:
        super().__init__(n_var=3, n_obj=2, xl=-2.0, xu=2.0)

    def _evaluate(self, x, out, *args, **kwargs) -> None:
        out["F"] = np.column_stack([(x**2).sum(1), ((x - 1) ** 2).sum(1)])
        out["dF"] = np.stack([2 * x, 2 * (x - 1)], axis=1)


def test_pymoo_without_gradient_needs_an_explicit_choice() -> None:
    with pytest.raises(ConfigError, match=r"no analytic gradient.*gradient='fd'"):
        PymooProblem(get_problem("zdt1"))
    with pytest.raises(ConfigError, match=r"gradient='fd'"):
        as_problem(get_problem("zdt1"), gradient="analytic")


def test_pymoo_fd_gradients_match_torch_autograd(rng) -> None:
    p = PymooProblem(get_problem("zdt1", n_var=5), gradient="fd")
    ours = get("zdt1", n_var=5)
    x = ours.sample(8, generator=rng)
    x[:, 0] = x[:, 0].clamp(0.05, 1.0)
    x[0, 1], x[1, 2] = 1.0, 0.0  # at the bounds the difference turns one-sided
    torch.testing.assert_close(p.evaluate(x), ours.evaluate(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(_jacobian(p, x), _jacobian(ours, x), rtol=1e-5, atol=1e-6)
    assert p.evaluate(x.float()).dtype == torch.float32


def test_pymoo_fd_jacobian_is_computed_once_for_m_backward_passes(rng) -> None:
    raw = _CountingZDT1(n_var=4)
    p = PymooProblem(raw, gradient="fd")
    assert raw.calls == 0  # gradient='fd' needs no probe
    _jacobian(p, p.sample(6, generator=rng))
    assert raw.calls == 1 + p.n_var  # forward, then one batched call per coordinate


def test_pymoo_analytic_gradient(rng) -> None:
    p = as_problem(_AnalyticQuadratic())
    assert isinstance(p, PymooProblem) and p.gradient == "analytic"
    x = p.sample(5, generator=rng)
    torch.testing.assert_close(_jacobian(p, x), torch.stack([2 * x, 2 * (x - 1)], dim=1))


def test_pymoo_values_only(rng) -> None:
    p = PymooProblem(get_problem("zdt2", n_var=4), gradient="none")
    x = p.sample(3, generator=rng)
    torch.testing.assert_close(p.evaluate(x), get("zdt2", n_var=4).evaluate(x))
    with pytest.raises(ParetorayError, match="gradient='none'"):
        _jacobian(p, x)


def test_pymoo_constraints_and_front() -> None:
    # inequality constraints come through (tests/problems/test_constrained.py checks them);
    # equality constraints are refused, and `ignore_constraints=True` drops both kinds
    assert PymooProblem(get_problem("bnh"), gradient="fd").n_ieq_constr == 2
    with pytest.raises(ConfigError, match="ignore_constraints=True"):
        PymooProblem(_WithEquality(), gradient="fd")
    p = PymooProblem(get_problem("bnh"), gradient="fd", ignore_constraints=True)
    assert p.n_obj == 2 and p.n_ieq_constr == 0
    front = PymooProblem(get_problem("zdt1"), gradient="fd").pareto_front(50)
    torch.testing.assert_close(front, get("zdt1").pareto_front(50))


class _WithEquality(PymooBase):
    def __init__(self) -> None:
        super().__init__(n_var=2, n_obj=2, n_eq_constr=1, xl=0.0, xu=1.0)

    def _evaluate(self, x, out, *args, **kwargs):
        out["F"] = np.column_stack([x[:, 0], 1 - x[:, 0]])
        out["H"] = x[:, :1] - 0.5


def test_function_constraints_are_inferred_checked_and_differentiated(rng) -> None:
    def g(x):
        return torch.stack([0.5 - x.sum(1), x[:, 0] ** 2 - 0.8], dim=1)

    p = from_function(_two_spheres, xl=0.0, xu=1.0, n_var=3, constraints=g)
    assert p.n_ieq_constr == 2 and "n_ieq_constr=2" in repr(p)
    assert as_problem(_two_spheres, xl=0.0, xu=1.0, n_var=3, constraints=g).n_ieq_constr == 2
    x = p.sample(5, generator=rng)
    G = p._evaluate_constraints(x)
    torch.testing.assert_close(p.violation(x), G.clamp(min=0).sum(1))
    from paretoray.constraints import constraint_jacobian

    _, A = constraint_jacobian(p, x)  # autograd, against the analytic gradients of g
    expected = torch.stack([-torch.ones_like(x), torch.zeros_like(x)], dim=1)
    expected[:, 1, 0] = 2 * x[:, 0]
    torch.testing.assert_close(A, expected)
    with pytest.raises(ConfigError, match="needs `constraints=`"):
        from_function(_two_spheres, xl=0.0, xu=1.0, n_var=3, n_ieq_constr=1)
    with pytest.raises(ShapeError, match="`p x k`"):
        from_function(_two_spheres, xl=0.0, xu=1.0, n_var=3, constraints=lambda x: x.sum(1))
    with pytest.raises(ConfigError, match="positive integer"):
        from_function(_two_spheres, xl=0.0, xu=1.0, n_var=3, constraints=g, n_ieq_constr=0)
    assert from_function(_two_spheres, xl=0.0, xu=1.0, n_var=3).n_ieq_constr == 0


def test_pymoo_constraints_need_dG_for_analytic_gradients() -> None:
    class OnlyDF(_AnalyticQuadratic):
        def __init__(self) -> None:
            PymooBase.__init__(self, n_var=3, n_obj=2, n_ieq_constr=1, xl=0.0, xu=1.0)

        def _evaluate(self, x, out, *args, **kwargs):
            super()._evaluate(x, out, *args, **kwargs)
            out["G"] = x[:, :1] - 0.5

    with pytest.raises(ConfigError, match=r"out\['dG'\]"):
        PymooProblem(OnlyDF())
    p = PymooProblem(OnlyDF(), gradient="fd")
    x = torch.full((2, 3), 0.25, dtype=torch.float64)
    from paretoray.constraints import constraint_jacobian

    G, A = constraint_jacobian(p, x)
    torch.testing.assert_close(G, torch.full((2, 1), -0.25, dtype=torch.float64))
    torch.testing.assert_close(A, torch.tensor([[[1.0, 0.0, 0.0]]] * 2, dtype=torch.float64))


# ---------------------------------------------------------------------- as_problem
def test_as_problem_dispatch() -> None:
    assert isinstance(as_problem("dtlz2", n_obj=4), Problem)
    assert as_problem("dtlz2", n_obj=4).n_obj == 4
    z = get("zdt1")
    assert as_problem(z) is z
    assert isinstance(as_problem(BraninCurrin()), BoTorchProblem)
    assert isinstance(as_problem(get_problem("zdt3"), gradient="fd"), PymooProblem)
    f = as_problem(_two_spheres, xl=0.0, xu=1.0, n_var=3)
    assert isinstance(f, FunctionProblem) and f.n_obj == 2


@pytest.mark.parametrize(
    "obj,kw,match",
    [
        (_two_spheres, {"xu": 1.0}, "`xl=`"),
        ("zdt1", {"n_obj": 3}, "n_obj"),
        (42, {}, "cannot make a problem from int"),
        ("zdt9", {}, "zdt9"),
    ],
)
def test_as_problem_errors(obj, kw: dict, match: str) -> None:
    with pytest.raises((ConfigError, TypeError), match=match):
        as_problem(obj, **kw)
    with pytest.raises(ConfigError, match="already a Problem"):
        as_problem(get("zdt1"), n_var=3)
