"""Constrained test problems with known fronts, ported from pymoo to batched torch.

Minimization is assumed; constraints follow pymoo's convention ``g(x) <= 0``. Values and
constraints match pymoo's ``get_problem("bnh")`` and ``get_problem("srn")``
(``evaluate(x, return_values_of=["F", "G"])``) to rounding.

- BNH [Binh1997]_: the constraints cut a corner of the box (``g2`` never binds inside it)
  but no point of the unconstrained front, so the front is the unconstrained one; one
  point in sixteen of a uniform draw over the box is infeasible.
- SRN [Srinivas1994]_: five in six points of a uniform draw are infeasible, and the
  constraints bound most of the front. pymoo's (and the literature's) front is only its
  middle, the image of ``x1 = -2.5``, ``x2`` in ``[2.5, sqrt(218.75)]``; the full front
  continues along ``g2 = 0`` down to ``min f1 = 10.1`` and along the circle ``g1 = 0``
  down to ``min f2``. :meth:`SRN.pareto_front` is the full one, found from the first-order
  (KKT) candidates: the critical lines of the objectives and both constraint boundaries.

- C2-DTLZ2 [Jain2014]_: one constraint in objective space keeps ``m + 1`` caps of the
  DTLZ2 sphere (around each axis end and around its center direction); the front is the
  sphere's feasible part, as pymoo's, and infeasible regions cut it into pieces whose rims
  lie on ``g = 0``. Its constraint is the minimum of ``m + 1`` smooth functions.

.. [Binh1997] T. T. Binh and U. Korn. MOBES: A multiobjective evolution strategy for
    constrained optimization problems. Mendel 1997, pp. 176-182.
.. [Srinivas1994] N. Srinivas and K. Deb. Multiobjective optimization using nondominated
    sorting in genetic algorithms. Evolutionary Computation 2(3):221-248, 1994.
.. [Jain2014] H. Jain and K. Deb. An evolutionary many-objective optimization algorithm
    using reference-point based nondominated sorting approach, part II: handling
    constraints and extending to an adaptive approach. IEEE TEVC 18(4):602-622, 2014.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor

from paretoray.errors import ConfigError
from paretoray.problems._util import das_dennis
from paretoray.problems.base import Problem, register
from paretoray.problems.dtlz import DTLZ2

__all__ = ["BNH", "C2DTLZ2", "SRN"]


@register("bnh")
class BNH(Problem):
    """BNH (Binh and Korn): two variables, two objectives, two constraints [Binh1997]_.

    ``x1`` in ``[0, 5]``, ``x2`` in ``[0, 3]``; ``f1 = 4 x1^2 + 4 x2^2``,
    ``f2 = (x1 - 5)^2 + (x2 - 5)^2``; ``g1 = ((x1 - 5)^2 + x2^2 - 25) / 25 <= 0``,
    ``g2 = -((x1 - 8)^2 + (x2 + 3)^2 - 7.7) / 7.7 <= 0`` (pymoo's scaling). The Pareto set
    is ``x1 = x2`` in ``[0, 3]`` and then ``x2 = 3``, ``x1`` in ``[3, 5]``.
    """

    n_var = 2
    n_obj = 2
    n_ieq_constr = 2
    #: The nadir (136, 50) plus a tenth of the front's extent (136, 46).
    ref_point = (149.6, 54.6)

    def __init__(self) -> None:
        self.xl = torch.zeros(2, dtype=torch.float64)
        self.xu = torch.tensor([5.0, 3.0], dtype=torch.float64)

    def _evaluate(self, x: Tensor) -> Tensor:
        x1, x2 = x[:, 0], x[:, 1]
        return torch.stack([4.0 * (x1 * x1 + x2 * x2), (x1 - 5.0) ** 2 + (x2 - 5.0) ** 2], dim=1)

    def _evaluate_constraints(self, x: Tensor) -> Tensor:
        x1, x2 = x[:, 0], x[:, 1]
        g1 = ((x1 - 5.0) ** 2 + x2 * x2 - 25.0) / 25.0
        g2 = -((x1 - 8.0) ** 2 + (x2 + 3.0) ** 2 - 7.7) / 7.7
        return torch.stack([g1, g2], dim=1)

    def pareto_set(self, n_points: int = 100) -> Tensor:
        """A `n_points x 2`-dim tensor: pymoo's parametrization, ``x1`` evenly spaced."""
        x1 = torch.linspace(0.0, 5.0, n_points, dtype=torch.float64)
        return torch.stack([x1, x1.clamp(max=3.0)], dim=1)

    def pareto_front(self, n_points: int = 100) -> Tensor:
        """A `n_points x 2`-dim tensor: the image of :meth:`pareto_set` (as pymoo's)."""
        return self._evaluate(self.pareto_set(n_points))


@register("srn")
class SRN(Problem):
    """SRN (Srinivas and Deb): two variables, two objectives, two constraints [Srinivas1994]_.

    ``x`` in ``[-20, 20]^2``; ``f1 = 2 + (x1 - 2)^2 + (x2 - 1)^2``,
    ``f2 = 9 x1 - (x2 - 1)^2``; ``g1 = x1^2 + x2^2 - 225 <= 0``,
    ``g2 = x1 - 3 x2 + 10 <= 0``. The Pareto set runs along ``g2 = 0`` from ``(1.1, 3.7)``
    to ``(-2.5, 2.5)``, up ``x1 = -2.5`` to the circle ``g1 = 0`` (pymoo's front is this
    middle piece alone) and along the circle to ``min f2`` near ``(-4.84, 14.20)``.
    """

    n_var = 2
    n_obj = 2
    n_ieq_constr = 2
    #: The nadir of the full front (222.97, 2.61) plus a tenth of its extent, rounded out.
    ref_point = (245.0, 25.0)

    def __init__(self) -> None:
        self.xl = torch.full((2,), -20.0, dtype=torch.float64)
        self.xu = torch.full((2,), 20.0, dtype=torch.float64)

    def _evaluate(self, x: Tensor) -> Tensor:
        x1, x2 = x[:, 0], x[:, 1]
        f1 = 2.0 + (x1 - 2.0) ** 2 + (x2 - 1.0) ** 2
        f2 = 9.0 * x1 - (x2 - 1.0) ** 2
        return torch.stack([f1, f2], dim=1)

    def _evaluate_constraints(self, x: Tensor) -> Tensor:
        x1, x2 = x[:, 0], x[:, 1]
        return torch.stack([x1 * x1 + x2 * x2 - 225.0, x1 - 3.0 * x2 + 10.0], dim=1)

    def pareto_set(self, n_points: int = 100) -> Tensor:
        """A `n_points x 2`-dim tensor of Pareto-optimal decisions, spread evenly along the
        front (by arc length in objective space normalized by the front's extent)."""
        X, F = _srn_front()
        return X[_even_along(F, n_points)]

    def pareto_front(self, n_points: int = 100) -> Tensor:
        """A `n_points x 2`-dim tensor on the full front (see the module docstring), evenly
        spread along it; exact to the candidate grid (about 1e-4 of the front's extent)."""
        return self._evaluate(self.pareto_set(n_points))


def _nondominated_2d(F: Tensor) -> Tensor:
    """Indices of the nondominated rows of a `n x 2`-dim tensor (minimization), by ``f1``."""
    order = torch.argsort(F[:, 1])
    order = order[torch.argsort(F[order, 0], stable=True)]  # by f1, ties by f2
    f2 = F[order, 1]
    prev = torch.cat([f2.new_full((1,), math.inf), torch.cummin(f2, 0).values[:-1]])
    return order[f2 < prev]


@lru_cache(maxsize=1)
def _srn_front() -> tuple[Tensor, Tensor]:
    """SRN's Pareto set and front from its first-order candidates, sorted by ``f1``.

    A Pareto-optimal point of SRN is interior and Pareto-critical (``grad f1`` and
    ``grad f2`` antiparallel: the lines ``x1 = -2.5`` and ``x2 = 1``), or lies on
    ``g1 = 0`` or ``g2 = 0``. Each of these curves is sampled densely; the feasible samples'
    nondominated subset is the front.
    """
    n = 2**16
    t = torch.linspace(-15.0, 15.0, n, dtype=torch.float64)
    phi = torch.linspace(0.0, 2.0 * math.pi, 4 * n, dtype=torch.float64)
    curves = [
        torch.stack([torch.full_like(t, -2.5), t], dim=1),  # interior critical line
        torch.stack([t, torch.ones_like(t)], dim=1),  # interior critical line
        torch.stack([15.0 * phi.cos(), 15.0 * phi.sin()], dim=1),  # g1 = 0
        torch.stack([3.0 * t - 10.0, t], dim=1),  # g2 = 0
    ]
    X = torch.cat(curves)
    problem = SRN()
    G = problem._evaluate_constraints(X)
    X = X[(G <= 1e-9).all(dim=1)]
    F = problem._evaluate(X)
    keep = _nondominated_2d(F)
    return X[keep], F[keep]


def _even_along(F: Tensor, n_points: int) -> Tensor:
    """Indices of ``n_points`` rows of a curve sorted by ``f1``, evenly spaced by arc length
    (objectives scaled to the curve's extent)."""
    Fn = (F - F.min(0).values) / (F.max(0).values - F.min(0).values)
    arc = torch.cat([Fn.new_zeros(1), (Fn[1:] - Fn[:-1]).norm(dim=1).cumsum(0)])
    targets = torch.linspace(0.0, float(arc[-1]), n_points, dtype=arc.dtype)
    return torch.searchsorted(arc, targets).clamp(max=F.shape[0] - 1)


@register("c2dtlz2")
class C2DTLZ2(DTLZ2):
    """C2-DTLZ2: DTLZ2 with one constraint that keeps caps of the sphere [Jain2014]_.

    With ``F`` the DTLZ2 values and radius ``r`` (pymoo's: 0.2 for ``m = 2``, 0.4 for
    ``m = 3``, 0.5 beyond),
    ``g = min(min_i ((f_i - 1)^2 + sum_{j != i} f_j^2 - r^2), sum_i (f_i - 1/sqrt(m))^2 - r^2)``:
    feasible within ``r`` of an axis end ``e_i`` or of the center direction. Defaults as
    pymoo's ``get_problem("c2dtlz2")``: ``m = 3``, ``n_var = 12``.

    Args:
        n_var, n_obj, k: As :class:`~paretoray.problems.dtlz.DTLZ2`.
        r: The caps' radius; None: pymoo's default for ``n_obj``.
    """

    n_ieq_constr = 1

    def __init__(self, n_var: int | None = None, n_obj: int = 3, k: int | None = None,
                 r: float | None = None) -> None:
        super().__init__(n_var, n_obj, k)
        if r is None:
            r = 0.2 if n_obj == 2 else 0.4 if n_obj == 3 else 0.5
        if not 0 < r < 1:
            raise ConfigError(f"C2DTLZ2: `r` must lie in (0, 1); got {r!r}.")
        self.r = float(r)

    def _constraint(self, F: Tensor) -> Tensor:
        sq = (F * F).sum(dim=1, keepdim=True)
        # (f_i - 1)^2 + sum_{j != i} f_j^2 = sum f^2 - 2 f_i + 1
        v1 = (sq - 2.0 * F + 1.0).min(dim=1).values
        v2 = ((F - 1.0 / math.sqrt(self.n_obj)) ** 2).sum(dim=1)
        return (torch.minimum(v1, v2) - self.r**2)[:, None]

    def _evaluate_constraints(self, x: Tensor) -> Tensor:
        return self._constraint(self._evaluate(x))

    def pareto_front(self, n_points: int = 100) -> Tensor:
        """A `k x m`-dim tensor: the feasible part of Das–Dennis directions on the sphere
        (drawn densely enough that about ``n_points`` remain)."""
        kept = self._feasible_sphere(das_dennis(self.n_obj, 4 * n_points))
        share = kept.shape[0] / (4 * n_points)
        return self._feasible_sphere(das_dennis(self.n_obj, round(n_points / max(share, 1e-3))))

    def _feasible_sphere(self, w: Tensor) -> Tensor:
        F = w / w.norm(dim=1, keepdim=True)
        return F[self._constraint(F)[:, 0] <= 0]

    def __repr__(self) -> str:
        return f"C2DTLZ2(n_var={self.n_var}, n_obj={self.n_obj}, r={self.r})"
