"""The problem interface: a batched, differentiable map from decision vectors to objectives.

Minimization is assumed. Names follow pymoo (``n_var``, ``n_obj``, ``xl``/``xu``,
``n_ieq_constr``, ``pareto_front(n)``, ``ideal_point``/``nadir_point``); inequality
constraints follow pymoo's convention ``g(x) <= 0`` (feasible where every ``g_j <= 0``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from torch import Tensor

from paretoray._registry import Registry
from paretoray.errors import BoundsError, ShapeError


class Problem(ABC):
    """A vector multi-objective problem, evaluated for a whole population at once.

    Subclasses set ``n_var``, ``n_obj`` and the box ``xl``/``xu`` (in ``__init__``) and
    implement the batched :meth:`_evaluate`. :meth:`evaluate` checks shapes once; the
    engine's hot loop calls :meth:`_evaluate` directly.

    Attributes:
        n_var: Number of decision variables ``d``.
        n_obj: Number of objectives ``m``.
        xl: A `d`-dim tensor of lower bounds.
        xu: A `d`-dim tensor of upper bounds.
        ref_point: A reference point for hypervolume (``m`` floats), or None.
        n_ieq_constr: Number of inequality constraints ``g(x) <= 0`` (0: unconstrained);
            a constrained problem implements :meth:`_evaluate_constraints`.
    """

    name: ClassVar[str] = ""
    #: Fraction of the box kept clear of the bounds by :meth:`project` (e.g. ZDT's
    #: ``df2/dx1`` is infinite at ``x1 = 0``; LibMOON keeps ``x >= 1e-5`` for the same reason).
    margin: ClassVar[float] = 0.0
    #: Constrained problems: the band, as a fraction of the box's mean width, in which
    #: :func:`paretoray.constraints.steer` treats a constraint as active and pushes a member
    #: back before it reaches ``g_j = 0``. Keep ``constraint_margin * mean(xu - xl)`` at least
    #: the optimizer's move per step (about ``lr`` per coordinate for Adam), or members near a
    #: boundary may end a run slightly outside it; points on an active constraint lie about
    #: that far inside it.
    constraint_margin: ClassVar[float] = 5e-3

    n_var: int
    n_obj: int
    xl: Tensor
    xu: Tensor
    ref_point: tuple[float, ...] | None = None
    n_ieq_constr: int = 0

    @abstractmethod
    def _evaluate(self, x: Tensor) -> Tensor:
        """Batched objectives.

        Args:
            x: A `p x d`-dim tensor of decision vectors inside the box.

        Returns:
            A `p x m`-dim tensor of objective values, differentiable w.r.t. ``x``.
        """

    def _evaluate_constraints(self, x: Tensor) -> Tensor:
        """Batched inequality constraints (pymoo's ``G``), feasible where ``<= 0``.

        Args:
            x: A `p x d`-dim tensor of decision vectors inside the box.

        Returns:
            A `p x n_ieq_constr`-dim tensor, differentiable w.r.t. ``x`` (`p x 0` when
            the problem is unconstrained).
        """
        if self.n_ieq_constr:
            raise NotImplementedError(
                f"{self!r} declares n_ieq_constr={self.n_ieq_constr} but does not implement "
                "`_evaluate_constraints(x)`; return a `p x n_ieq_constr` tensor of g(x) <= 0.")
        return x.new_zeros(x.shape[0], 0)

    def violation(self, x: Tensor) -> Tensor:
        """Constraint violation per point: the sum of ``max(0, g_j(x))`` (pymoo's ``CV``).

        Args:
            x: A `p x d`-dim tensor of decision vectors.

        Returns:
            A `p`-dim tensor, 0 exactly where the point is feasible (all zeros when the
            problem is unconstrained).
        """
        if not self.n_ieq_constr:
            return x.new_zeros(x.shape[0])
        return torch.clamp(self._evaluate_constraints(x), min=0).sum(dim=-1)

    # ------------------------------------------------------------------ public API
    @property
    def bounds(self) -> Tensor:
        """A `2 x d`-dim tensor: row 0 the lower bounds, row 1 the upper bounds."""
        return torch.stack([self.xl, self.xu])

    def evaluate(self, x: Tensor, *, check_bounds: bool = True) -> Tensor:
        """Objective values of a batch of decision vectors.

        Args:
            x: A `p x d`-dim (or `d`-dim) tensor of decision vectors.
            check_bounds: Raise :class:`BoundsError` for a point outside the box.

        Returns:
            A `p x m`-dim tensor (`m`-dim for a single `d`-dim input).
        """
        single = x.dim() == 1
        xb = x.unsqueeze(0) if single else x
        if xb.dim() != 2 or xb.shape[-1] != self.n_var:
            raise ShapeError(
                f"{self!r}.evaluate expects a `p x {self.n_var}`-dim tensor; got {tuple(x.shape)}."
            )
        if check_bounds:
            self.check_bounds(xb)
        F = self._evaluate(xb)
        return F[0] if single else F

    def check_bounds(self, x: Tensor, tol: float = 1e-9) -> None:
        """Raise :class:`BoundsError` naming the first value outside ``[xl, xu]``."""
        xl, xu = self.xl.to(x), self.xu.to(x)
        bad = (x < xl - tol) | (x > xu + tol)
        if bool(bad.any()):
            p, j = (int(v) for v in bad.nonzero()[0])
            raise BoundsError(
                f"x[{p}, {j}] = {float(x[p, j]):.6g} lies outside the bounds of {self!r}: "
                f"allowed [{float(xl[j]):.6g}, {float(xu[j]):.6g}]. "
                "Clip with `problem.project(x)` or draw points with `problem.sample(p)`."
            )

    def project(self, x: Tensor) -> Tensor:
        """Project onto the box (shrunk by :attr:`margin` of its width). Returns a new tensor."""
        xl, xu = self._projection_box_like(x)
        return torch.clamp(x, xl, xu)

    def _projection_box(self) -> tuple[Tensor, Tensor]:
        """The box :meth:`project` clamps to, as two `d`-dim tensors like ``xl``/``xu``.

        The bounds shrunk by :attr:`margin` of the box's width on every side; override it to
        keep only some coordinates off their bounds (ZDT keeps ``x1`` alone off 0).
        """
        if not self.margin:
            return self.xl, self.xu
        w = self.xu - self.xl
        return self.xl + self.margin * w, self.xu - self.margin * w

    def _projection_box_like(self, x: Tensor) -> tuple[Tensor, Tensor]:
        # Cached per device and dtype: a fresh host-to-device copy of the bounds on every
        # step would sync the host with the GPU. The entry keeps the bound tensors it was
        # made from and their versions, so replaced or edited bounds are noticed.
        cache: dict[Any, Any] = self.__dict__.setdefault("_projection_cache", {})
        key = (x.device, x.dtype)
        made_from = (self.xl, self.xu)
        stamp = (self.xl._version, self.xu._version, self.margin)
        hit = cache.get(key)
        if hit is None or hit[0][0] is not self.xl or hit[0][1] is not self.xu or hit[1] != stamp:
            lo, hi = self._projection_box()
            hit = cache[key] = (made_from, stamp, lo.to(x), hi.to(x))
        return hit[2], hit[3]

    def __getstate__(self) -> dict[str, Any]:
        # the projection cache may hold GPU tensors: never pickle it (Ray ships problems)
        state = self.__dict__.copy()
        state.pop("_projection_cache", None)
        return state

    def sample(self, p: int, generator: torch.Generator | None = None, **tensor_kw: Any) -> Tensor:
        """Draw ``p`` points uniformly from the (margin-shrunk) box: a `p x d`-dim tensor."""
        kw = {"dtype": self.xl.dtype, **tensor_kw}
        u = torch.rand(p, self.n_var, generator=generator, dtype=kw["dtype"])
        u = u.to(kw.get("device", "cpu"))
        xl, xu = self.xl.to(u), self.xu.to(u)
        return self.project(xl + u * (xu - xl))

    def pareto_front(self, n_points: int = 100) -> Tensor:
        """A `k x m`-dim tensor of points on the true Pareto front (k close to ``n_points``).

        Raises:
            NotImplementedError: The front of this problem is not known.
        """
        raise NotImplementedError(f"The Pareto front of {self!r} is not known.")

    @property
    def has_pareto_front(self) -> bool:
        """Whether :meth:`pareto_front` is implemented."""
        return type(self).pareto_front is not Problem.pareto_front

    def ideal_point(self) -> Tensor | None:
        """Componentwise minimum of the true front, when known."""
        return self.pareto_front().min(0).values if self.has_pareto_front else None

    def nadir_point(self) -> Tensor | None:
        """Componentwise maximum of the true front, when known."""
        return self.pareto_front().max(0).values if self.has_pareto_front else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_var={self.n_var}, n_obj={self.n_obj})"


#: Registry of built-in problems, by lowercase name (``zdt1``, ``dtlz2``, ``vlmop2``, ``fon``).
#: Network problems (``paretoray.problems.networks``) share this registry and pass through
#: ``get`` too; they are recognised by their ``is_network`` class flag.
REGISTRY: Registry[Problem] = Registry(
    "problem", lambda obj: isinstance(obj, Problem) or getattr(type(obj), "is_network", False))
#: ``@register("name")`` registers a :class:`Problem` subclass; ``get(name, **options)``
#: builds one (a problem passes through); ``names()`` lists them.
register, get, names = REGISTRY.register, REGISTRY.get, REGISTRY.names
