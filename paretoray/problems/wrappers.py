"""Problems from outside: a plain torch function, a BoTorch test problem, a pymoo problem.

Minimization is assumed. BoTorch's test functions are turned back into minimization
problems (its acquisition functions maximize, so users build them with ``negate=True``);
pymoo problems already minimize. Gradients come from autograd where the function is torch,
from pymoo's analytic ``dF`` where the problem supplies one, and from finite differences
only when asked for with ``gradient="fd"``, never silently. Inequality constraints
``g(x) <= 0`` (pymoo's ``G``) come through both: ``constraints=`` of a function, pymoo's
``G`` (and ``dG``, or finite differences) of a pymoo problem.

BoTorch and pymoo are imported only when one of their objects is wrapped.
"""

from __future__ import annotations

import copy
import inspect
import sys
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from paretoray.errors import ConfigError, ParetorayError, ShapeError
from paretoray.problems.base import Problem, get

__all__ = ["BoTorchProblem", "FunctionProblem", "PymooProblem", "as_problem", "from_function"]

BoundsLike = float | Sequence[float] | Tensor | np.ndarray


def _box(xl: BoundsLike, xu: BoundsLike, n_var: int | None, owner: str) -> tuple[Tensor, Tensor]:
    """Turn scalar or per-coordinate bounds into two `d`-dim float64 tensors."""
    lo = torch.as_tensor(np.asarray(xl, dtype=np.float64) if not isinstance(xl, Tensor) else xl)
    hi = torch.as_tensor(np.asarray(xu, dtype=np.float64) if not isinstance(xu, Tensor) else xu)
    lo, hi = lo.detach().to("cpu", torch.float64), hi.detach().to("cpu", torch.float64)
    if lo.dim() > 1 or hi.dim() > 1:
        raise ShapeError(
            f"{owner}: `xl` and `xu` must be scalars or `d`-dim; got shapes "
            f"{tuple(lo.shape)} and {tuple(hi.shape)}."
        )
    sizes = {t.numel() for t in (lo, hi) if t.dim() == 1}
    if n_var is not None:
        sizes.add(n_var)
    if len(sizes) > 1:
        raise ShapeError(
            f"{owner}: `xl`, `xu` and `n_var` disagree on the number of variables: {sorted(sizes)}."
        )
    if not sizes:
        raise ConfigError(
            f"{owner}: scalar `xl` and `xu` need `n_var=` to fix the number of variables."
        )
    d = sizes.pop()
    lo, hi = lo.expand(d).clone(), hi.expand(d).clone()
    if not bool(torch.isfinite(lo).all() & torch.isfinite(hi).all()):
        raise ConfigError(
            f"{owner}: the box must be finite; got xl={lo.tolist()}, xu={hi.tolist()}."
        )
    if bool((lo > hi).any()):
        j = int((lo > hi).nonzero()[0])
        raise ConfigError(
            f"{owner}: xl[{j}] = {float(lo[j]):.6g} > xu[{j}] = {float(hi[j]):.6g}. "
            "Did you swap the lower and upper bounds?"
        )
    return lo, hi


# ====================================================================== plain functions
class FunctionProblem(Problem):
    """A problem from a batched torch function ``f(x: p x d) -> p x m``.

    Gradients come from autograd, so ``f`` must be written with torch operations.

    Args:
        f: A function mapping a `p x d`-dim tensor to a `p x m`-dim tensor of objective values
            (to be minimized).
        xl: Lower bounds: a float or a `d`-dim sequence or tensor.
        xu: Upper bounds: a float or a `d`-dim sequence or tensor.
        n_obj: Number of objectives ``m``; inferred by one evaluation at the box center when
            not given.
        n_var: Number of variables ``d``; needed only when ``xl`` and ``xu`` are both scalars.
        name: A label used in ``repr``.
        ref_point: A reference point for hypervolume (``m`` floats), or None.
        constraints: A function mapping a `p x d`-dim tensor to a `p x k`-dim tensor of
            inequality constraints, feasible where ``<= 0`` (pymoo's ``G``), written with
            torch operations; None: unconstrained.
        n_ieq_constr: Number of constraints ``k``; inferred by one evaluation at the box
            center when not given.

    Example:
        >>> f = lambda x: torch.stack([x.pow(2).sum(1), (x - 1).pow(2).sum(1)], dim=1)
        >>> prob = FunctionProblem(f, xl=-2.0, xu=2.0, n_var=3)
        >>> prob.n_obj
        2
    """

    def __init__(
        self,
        f: Callable[[Tensor], Tensor],
        xl: BoundsLike,
        xu: BoundsLike,
        n_obj: int | None = None,
        *,
        n_var: int | None = None,
        name: str | None = None,
        ref_point: Sequence[float] | None = None,
        constraints: Callable[[Tensor], Tensor] | None = None,
        n_ieq_constr: int | None = None,
    ) -> None:
        if not callable(f):
            raise ConfigError(f"FunctionProblem: `f` must be callable; got {type(f).__name__}.")
        self.f = f
        self.label = name or getattr(f, "__name__", "function")
        self.name = self.label  # type: ignore[misc]  # an instance label, not a registry name
        self.xl, self.xu = _box(xl, xu, n_var, f"FunctionProblem({self.label!r})")
        self.n_var = int(self.xl.numel())
        if n_obj is None:
            center = ((self.xl + self.xu) / 2)[None]
            with torch.no_grad():
                n_obj = self._check_output(f(center), 1).shape[1]
        elif not isinstance(n_obj, int) or isinstance(n_obj, bool) or n_obj < 1:
            raise ConfigError(
                f"FunctionProblem: `n_obj` must be a positive integer; got {n_obj!r}."
            )
        self.n_obj = n_obj
        if ref_point is not None:
            ref_point = tuple(float(v) for v in ref_point)
            if len(ref_point) != self.n_obj:
                raise ShapeError(
                    f"FunctionProblem: `ref_point` must have {self.n_obj} entries; "
                    f"got {len(ref_point)}."
                )
        self.ref_point = ref_point
        self._init_constraints(constraints, n_ieq_constr)

    def _init_constraints(self, constraints: Callable[[Tensor], Tensor] | None,
                          n_ieq_constr: int | None) -> None:
        owner = f"FunctionProblem({self.label!r})"
        if constraints is None:
            if n_ieq_constr:
                raise ConfigError(
                    f"{owner}: `n_ieq_constr={n_ieq_constr!r}` needs `constraints=`, a "
                    "function mapping a `p x d` tensor to `p x n_ieq_constr` values g(x) <= 0."
                )
            self.constraints = None
            return
        if not callable(constraints):
            raise ConfigError(
                f"{owner}: `constraints` must be callable; got {type(constraints).__name__}."
            )
        self.constraints = constraints
        if n_ieq_constr is None:
            center = ((self.xl + self.xu) / 2)[None]
            with torch.no_grad():
                G = constraints(center)
            if not isinstance(G, Tensor) or G.dim() != 2 or G.shape[0] != 1:
                raise ShapeError(
                    f"{owner}: `constraints` must map a `p x d` tensor to a `p x k` "
                    f"torch.Tensor; got {type(G).__name__} "
                    f"{tuple(G.shape) if isinstance(G, Tensor) else ''} for p = 1."
                )
            n_ieq_constr = G.shape[1]
        elif not isinstance(n_ieq_constr, int) or isinstance(n_ieq_constr, bool) \
                or n_ieq_constr < 1:
            raise ConfigError(
                f"{owner}: `n_ieq_constr` must be a positive integer; got {n_ieq_constr!r}."
            )
        self.n_ieq_constr = n_ieq_constr

    def _evaluate_constraints(self, x: Tensor) -> Tensor:
        if self.constraints is None:
            return super()._evaluate_constraints(x)
        return self.constraints(x)

    def _check_output(self, F: Any, p: int) -> Tensor:
        if not isinstance(F, Tensor):
            raise ConfigError(
                f"FunctionProblem({self.label!r}): `f` must return a torch.Tensor of shape "
                f"`p x m`; got {type(F).__name__}. Write `f` with torch operations (numpy "
                "outputs have no gradients), or wrap a pymoo problem with `PymooProblem`."
            )
        expected_m = getattr(self, "n_obj", None)
        if F.dim() != 2 or F.shape[0] != p or (expected_m is not None and F.shape[1] != expected_m):
            m = "m" if expected_m is None else str(expected_m)
            raise ShapeError(
                f"FunctionProblem({self.label!r}): `f` must map a `p x d` tensor to `p x {m}`; "
                f"got {tuple(F.shape)} for p = {p}. Stack objectives with `torch.stack(fs, dim=1)`."
            )
        return F

    def evaluate(self, x: Tensor, *, check_bounds: bool = True) -> Tensor:
        """Objective values, with the output of ``f`` checked (type and shape).

        Args:
            x: A `p x d`-dim (or `d`-dim) tensor of decision vectors.
            check_bounds: Raise :class:`BoundsError` for a point outside the box.

        Returns:
            A `p x m`-dim tensor (`m`-dim for a single `d`-dim input).
        """
        single = x.dim() == 1
        xb = x[None] if single else x
        F = self._check_output(super().evaluate(xb, check_bounds=check_bounds), xb.shape[0])
        return F[0] if single else F

    def _evaluate(self, x: Tensor) -> Tensor:
        return self.f(x)

    def __repr__(self) -> str:
        extra = f", n_ieq_constr={self.n_ieq_constr}" if self.n_ieq_constr else ""
        return f"FunctionProblem({self.label!r}, n_var={self.n_var}, n_obj={self.n_obj}{extra})"


def from_function(
    f: Callable[[Tensor], Tensor] | None = None,
    /,
    *,
    xl: BoundsLike,
    xu: BoundsLike,
    n_obj: int | None = None,
    n_var: int | None = None,
    name: str | None = None,
    ref_point: Sequence[float] | None = None,
    constraints: Callable[[Tensor], Tensor] | None = None,
    n_ieq_constr: int | None = None,
) -> Any:
    """Build a :class:`FunctionProblem`; also usable as a decorator.

    ``constraints=`` adds inequality constraints ``g(x) <= 0`` (pymoo's convention), a torch
    function ``x (p x d) -> G (p x k)``.

    Example:
        >>> @from_function(xl=0.0, xu=1.0, n_var=2)
        ... def two_spheres(x):
        ...     return torch.stack([x.pow(2).sum(1), (x - 1).pow(2).sum(1)], dim=1)
        >>> two_spheres.n_obj
        2

    Returns:
        A :class:`FunctionProblem`, or a decorator making one when ``f`` is omitted.
    """
    kw: dict[str, Any] = {"n_obj": n_obj, "n_var": n_var, "name": name, "ref_point": ref_point,
                          "constraints": constraints, "n_ieq_constr": n_ieq_constr}
    if f is None:
        return lambda g: FunctionProblem(g, xl, xu, **kw)
    return FunctionProblem(f, xl, xu, **kw)


# ====================================================================== BoTorch
class BoTorchProblem(Problem):
    """A BoTorch ``MultiObjectiveTestProblem``, minimized.

    BoTorch's multi-objective test functions are minimization problems before ``negate``;
    BoTorch users pass ``negate=True`` to maximize them with its acquisition functions.
    This wrapper undoes that flip: the objectives are the raw (noise-free) function values,
    i.e. ``-test_function(x)`` for ``negate=True``, and the reference point is
    ``-test_function.ref_point`` likewise. Bounds come from ``test_function.bounds``.

    On another device than the test function's, a copy of it is moved there on first use
    (the caller's module stays where it is). Some BoTorch problems validate their inputs
    inside ``_evaluate_true`` (``BraninCurrin`` through its ``Branin``), which syncs a GPU's
    host once per evaluation; the native ports (``"zdt1"``, ``"dtlz2"``...) never do.

    Args:
        test_function: An instance of ``botorch.test_functions.multi_objective`` (e.g.
            ``BraninCurrin(negate=True)``, ``ZDT1(dim=30)``).
    """

    def __init__(self, test_function: Any) -> None:
        from botorch.test_functions.base import MultiObjectiveTestProblem

        if not isinstance(test_function, MultiObjectiveTestProblem):
            raise ConfigError(
                "BoTorchProblem: expected a botorch.test_functions MultiObjectiveTestProblem "
                f"instance; got {type(test_function).__name__}."
            )
        self.test_function = test_function
        # copies moved to other devices, made on first use (the caller's module is not moved)
        self._copies: dict[torch.device, Any] = {test_function.bounds.device: test_function}
        self.name = f"botorch:{type(test_function).__name__}"  # type: ignore[misc]
        bounds = test_function.bounds.detach().to("cpu", torch.float64)
        self.xl, self.xu = bounds[0].clone(), bounds[1].clone()
        self.n_var = int(test_function.dim)
        self.n_obj = int(test_function.num_objectives)
        # forward() = raw * _fwd_sign; raw is minimized unless the class says otherwise
        self._fwd_sign = -1.0 if test_function.negate else 1.0
        self._min_sign = (
            1.0 if getattr(test_function, "_is_minimization_by_default", True) else -1.0
        )
        ref = test_function.ref_point.detach().to("cpu", torch.float64) * self._fwd_sign
        self.ref_point = tuple((ref * self._min_sign).tolist())

    def _evaluate(self, x: Tensor) -> Tensor:
        tf = self._copies.get(x.device)
        if tf is None:
            tf = self._copies[x.device] = copy.deepcopy(self.test_function).to(x.device)
        # `_evaluate_true` skips BoTorch's input validation, whose `.all()` syncs the host on
        # every step; paretoray's own `evaluate` checks bounds at the boundary instead.
        raw = tf._evaluate_true(x) if hasattr(tf, "_evaluate_true") else tf.evaluate_true(x)
        return raw if self._min_sign > 0 else -raw

    def __getstate__(self) -> dict[str, Any]:
        # drop the per-device copies (GPU modules must not travel to CPU-only workers)
        state = super().__getstate__()
        state["_copies"] = {self.test_function.bounds.device: self.test_function}
        return state

    @property
    def has_pareto_front(self) -> bool:
        """Whether the BoTorch problem implements ``gen_pareto_front``."""
        from botorch.test_functions.base import MultiObjectiveTestProblem

        return type(self.test_function).gen_pareto_front is not (
            MultiObjectiveTestProblem.gen_pareto_front
        )

    def pareto_front(self, n_points: int = 100) -> Tensor:
        """A `k x m`-dim tensor from BoTorch's ``gen_pareto_front(n_points)``, minimized.

        Raises:
            NotImplementedError: The BoTorch problem has no ``gen_pareto_front``.
        """
        if not self.has_pareto_front:
            raise NotImplementedError(f"The Pareto front of {self!r} is not known to BoTorch.")
        front = self.test_function.gen_pareto_front(n_points).detach().to("cpu", torch.float64)
        return front * (self._fwd_sign * self._min_sign)

    def __repr__(self) -> str:
        return (
            f"BoTorchProblem({type(self.test_function).__name__}, n_var={self.n_var}, "
            f"n_obj={self.n_obj})"
        )


# ====================================================================== pymoo
GradientMode = Literal["analytic", "fd", "none"]


class _PymooEval(torch.autograd.Function):
    """``F = pymoo(x)`` (or ``G``) in numpy; backward by pymoo's ``dF`` / ``dG`` or central
    differences."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, wrapper: PymooProblem, key: str) -> Tensor:
        X = x.detach().to("cpu", torch.float64).numpy()
        want_jac = ctx.needs_input_grad[0] and wrapper.gradient == "analytic"
        values, jac = wrapper._values(X, key, jac=want_jac)
        ctx.wrapper, ctx.X, ctx.key, ctx.jac = wrapper, X, key, jac
        return torch.as_tensor(values).to(device=x.device, dtype=x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor, None, None]:
        if ctx.jac is None:
            # cached on the node: the engine's m (or k) backward passes share one Jacobian
            ctx.jac = ctx.wrapper._jacobian(ctx.X, ctx.key)
        J = torch.as_tensor(ctx.jac).to(device=grad_out.device, dtype=grad_out.dtype)
        return torch.einsum("pm,pmd->pd", grad_out, J), None, None


class PymooProblem(Problem):
    """A pymoo ``Problem`` (vectorized or elementwise numpy), evaluated on the CPU.

    Values cross to numpy and back; gradients come from pymoo's analytic ``dF`` (the
    problem sets ``out["dF"]``, shape `p x m x d`, e.g. through pymoo's automatic
    differentiation wrapper) or, only when asked for, from central finite differences.
    Inequality constraints (pymoo's ``G <= 0``, ``n_ieq_constr``) come through as the
    problem's constraints, differentiated the same way (``dG``, or the same finite-difference
    evaluations that give ``dF``); equality constraints are refused.

    Args:
        problem: The pymoo problem; it must have finite bounds ``xl``/``xu``.
        gradient: ``"analytic"`` (pymoo's ``dF``), ``"fd"`` (central differences: ``2 d``
            extra evaluations of the population per Jacobian, batched over the population,
            one call per coordinate), or ``"none"`` (values only; backward raises). By default
            ``"analytic"`` if the problem returns ``dF``, otherwise a :class:`ConfigError`
            names the other options.
        fd_step: Finite-difference step as a fraction of each coordinate's box width; steps
            are shortened at the bounds so every evaluation stays inside the box.
        ignore_constraints: Wrap a constrained problem without its constraints (also the
            way to wrap one with equality constraints).
    """

    def __init__(
        self,
        problem: Any,
        *,
        gradient: GradientMode | None = None,
        fd_step: float = 1e-6,
        ignore_constraints: bool = False,
    ) -> None:
        from pymoo.core.problem import Problem as PymooBase

        if not isinstance(problem, PymooBase):
            raise ConfigError(
                "PymooProblem: expected a pymoo.core.problem.Problem instance; "
                f"got {type(problem).__name__}."
            )
        label = type(problem).__name__
        self.pymoo_problem = problem
        self.name = f"pymoo:{label}"  # type: ignore[misc]
        n_eq = int(getattr(problem, "n_eq_constr", 0) or 0)
        if n_eq and not ignore_constraints:
            raise ConfigError(
                f"PymooProblem: {label} has {n_eq} equality constraint(s), and paretoray handles "
                "inequality constraints g(x) <= 0 only. Rewrite each h(x) = 0 as |h(x)| - eps "
                "<= 0, or pass `ignore_constraints=True` to optimize the objectives anyway."
            )
        self.n_ieq_constr = 0 if ignore_constraints else int(
            getattr(problem, "n_ieq_constr", 0) or 0)
        if problem.xl is None or problem.xu is None:
            raise ConfigError(
                f"PymooProblem: {label} has no bounds (xl/xu); paretoray needs a box."
            )
        self.xl, self.xu = _box(
            problem.xl, problem.xu, int(problem.n_var), f"PymooProblem({label})"
        )
        self.n_var, self.n_obj = int(problem.n_var), int(problem.n_obj)
        if gradient not in (None, "analytic", "fd", "none"):
            raise ConfigError(
                f"PymooProblem: `gradient` must be 'analytic', 'fd', 'none' or None; "
                f"got {gradient!r}."
            )
        if not (isinstance(fd_step, float | int) and 0 < fd_step < 0.5):
            raise ConfigError(f"PymooProblem: `fd_step` must lie in (0, 0.5); got {fd_step!r}.")
        self.fd_step = float(fd_step)
        #: The last batch evaluated and its outputs (the engine asks for F, then G, of the
        #: same population: one pymoo call serves both).
        self._last: tuple[np.ndarray, dict[str, np.ndarray]] | None = None
        if gradient in (None, "analytic"):
            center = ((self.xl + self.xu) / 2)[None].numpy()
            out = self._call(center, jac=True)
            missing = [k for k in self._keys() if not np.isfinite(out["d" + k]).any()]
            if missing:  # pymoo fills an unset `dF` / `dG` with inf
                which = " and ".join(f"`out['d{k}']`" for k in missing)
                raise ConfigError(
                    f"PymooProblem: {label} supplies no analytic gradient ({which}). Pass "
                    "`gradient='fd'` for central finite differences (2 d extra evaluations per "
                    "Jacobian), `gradient='none'` to evaluate values only, or port the problem "
                    "to torch (see `FunctionProblem`)."
                )
            gradient = "analytic"
        self.gradient: GradientMode = gradient

    def _keys(self) -> list[str]:
        return ["F", "G"] if self.n_ieq_constr else ["F"]

    def _call(self, X: np.ndarray, jac: bool = False) -> dict[str, np.ndarray]:
        """One pymoo evaluation: ``F`` (`p x m`), ``G`` (`p x k`, constrained problems) and,
        with ``jac``, ``dF`` / ``dG`` (`p x m x d`, `p x k x d`)."""
        keys = self._keys()
        want = keys + ["d" + k for k in keys] if jac else keys
        raw = self.pymoo_problem.evaluate(X, return_values_of=want, return_as_dictionary=True)
        p, k = len(X), self.n_ieq_constr
        shapes = {"F": (p, self.n_obj), "G": (p, k), "dF": (p, self.n_obj, self.n_var),
                  "dG": (p, k, self.n_var)}
        out = {key: np.asarray(raw[key], dtype=np.float64).reshape(shapes[key]) for key in want}
        self._last = (X.copy(), out)
        return out

    def _values(self, X: np.ndarray, key: str, jac: bool = False) -> tuple[np.ndarray, Any]:
        """``(values, jacobian or None)`` of ``key`` (``"F"`` or ``"G"``) at ``X``."""
        last = self._last
        if last is not None and ("d" + key in last[1] or not jac) and last[0].shape == X.shape \
                and np.array_equal(last[0], X):
            out = last[1]
        else:
            out = self._call(X, jac=jac)
        return out[key], (out["d" + key] if jac else None)

    def _jacobian(self, X: np.ndarray, key: str = "F") -> np.ndarray:
        """A `p x m x d` (``key="F"``) or `p x k x d` (``"G"``) Jacobian: pymoo's analytic one
        or central differences, as configured."""
        if self.gradient == "none":
            raise ParetorayError(
                f"{self!r} was built with gradient='none'; rebuild it with "
                "gradient='fd' (or supply `dF`) to differentiate it."
            )
        if self.gradient == "analytic":
            return self._values(X, key, jac=True)[1]
        cache = self.__dict__.get("_fd_cache")
        if cache is not None and cache[0].shape == X.shape and np.array_equal(cache[0], X):
            return cache[1][key]
        p, d = X.shape
        xl, xu = self.xl.numpy(), self.xu.numpy()
        h = self.fd_step * (xu - xl)
        J = {k: np.empty((p, self.n_obj if k == "F" else self.n_ieq_constr, d))
             for k in self._keys()}
        for j in range(d):  # one vectorized pymoo call (2p rows) per coordinate, F and G
            hi = np.minimum(X[:, j] + h[j], xu[j])
            lo = np.maximum(X[:, j] - h[j], xl[j])
            Xs = np.concatenate([X, X])
            Xs[:p, j], Xs[p:, j] = hi, lo
            out = self._call(Xs)
            for k, Jk in J.items():
                Jk[:, :, j] = (out[k][:p] - out[k][p:]) / (hi - lo)[:, None]
        # G's Jacobian comes from the same evaluations: keep it for the constraint pass
        self._fd_cache = (X.copy(), J)
        return J[key]

    def _evaluate(self, x: Tensor) -> Tensor:
        return _PymooEval.apply(x, self, "F")

    def _evaluate_constraints(self, x: Tensor) -> Tensor:
        if not self.n_ieq_constr:
            return super()._evaluate_constraints(x)
        return _PymooEval.apply(x, self, "G")

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_last"] = None
        state.pop("_fd_cache", None)
        return state

    def pareto_front(self, n_points: int = 100) -> Tensor:
        """A `k x m`-dim tensor: pymoo's ``pareto_front``.

        ``n_points`` is passed on when pymoo's ``_calc_pareto_front`` takes a point count;
        otherwise pymoo's default is used (e.g. its reference directions for DTLZ).

        Raises:
            NotImplementedError: pymoo has no front for this problem.
        """
        calc = getattr(self.pymoo_problem, "_calc_pareto_front", None)
        params = list(inspect.signature(calc).parameters) if calc is not None else []
        args = (n_points,) if params and params[0] in ("n_pareto_points", "n_points") else ()
        try:
            pf = self.pymoo_problem.pareto_front(*args)
        except Exception as exc:  # pymoo raises bare Exceptions, or fails to download
            raise NotImplementedError(f"pymoo gives no Pareto front for {self!r}: {exc}") from exc
        if pf is None:
            raise NotImplementedError(f"pymoo gives no Pareto front for {self!r}.")
        return torch.as_tensor(np.asarray(pf, dtype=np.float64))

    def __repr__(self) -> str:
        extra = f", n_ieq_constr={self.n_ieq_constr}" if self.n_ieq_constr else ""
        return (
            f"PymooProblem({type(self.pymoo_problem).__name__}, n_var={self.n_var}, "
            f"n_obj={self.n_obj}{extra}, gradient={self.gradient!r})"
        )


# ====================================================================== dispatch
def _is_instance_of(obj: Any, module: str, cls: str) -> bool:
    # Only modules already imported can have made `obj`; never import BoTorch or pymoo here.
    mod = sys.modules.get(module)
    return mod is not None and isinstance(obj, getattr(mod, cls))


def as_problem(obj: Any, /, **options: Any) -> Problem:
    """Turn what a user hands in into a :class:`Problem`.

    Args:
        obj: A registry name (``"zdt1"``), a :class:`Problem` (returned as is), a BoTorch
            ``MultiObjectiveTestProblem``, a pymoo ``Problem``, or a torch function
            ``f(x: p x d) -> p x m`` (then ``xl=`` and ``xu=`` are required).
        **options: Constructor options: of the registered problem, of
            :class:`PymooProblem` (``gradient=``...) or of :class:`FunctionProblem`.

    Returns:
        A :class:`Problem`.
    """
    if isinstance(obj, Problem):
        if options:
            raise ConfigError(
                f"as_problem: {obj!r} is already a Problem; options "
                f"{sorted(options)} cannot apply to it."
            )
        return obj
    if isinstance(obj, str):
        return get(obj, **options)
    if _is_instance_of(obj, "botorch.test_functions.base", "MultiObjectiveTestProblem"):
        if options:
            raise ConfigError(
                f"as_problem: BoTorch problems take no options; got {sorted(options)}."
            )
        return BoTorchProblem(obj)
    if _is_instance_of(obj, "pymoo.core.problem", "Problem"):
        return PymooProblem(obj, **options)
    if callable(obj):
        missing = " and ".join(f"`{k}=`" for k in ("xl", "xu") if k not in options)
        if missing:
            raise ConfigError(
                f"as_problem: a function needs its box; pass {missing} (floats or `d`-dim "
                "sequences)."
            )
        return FunctionProblem(obj, **options)
    raise ConfigError(
        f"as_problem: cannot make a problem from {type(obj).__name__}; expected a registered name "
        "(see `paretoray.problems.names()`), a Problem, a BoTorch or pymoo problem, or a torch "
        "function with `xl=` and `xu=`."
    )
