"""Objectives to maximize: the sign flip at the boundary.

paretoray minimizes everywhere inside (engine, weightings, coordinator, fronts). A user
problem with objectives to maximize (Optuna's ``directions=["minimize", "maximize"]``) is
wrapped once, when the run is resolved, into :class:`Minimized`: the same problem with
those objectives negated. The archive stores the values in the user's directions again
(see :mod:`paretoray.archive.schema`), so nothing but this wrapper and the readers' sign
sees the flip.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from paretoray.errors import ConfigError
from paretoray.problems.base import Problem


class Minimized(Problem):
    """``problem`` with every objective to maximize negated: ``F'(x) = sign * F(x)``.

    Bounds, constraints, projection and sampling are the wrapped problem's; the reference
    point and the true front are flipped like the objectives.

    Args:
        problem: The user's problem (values in the user's directions).
        sign: An `m`-dim sequence of ``+1`` (minimize) and ``-1`` (maximize).

    Example:
        >>> from paretoray.problems import get
        >>> prob = Minimized(get("zdt1"), (1.0, -1.0))
        >>> x = prob.sample(3)
        >>> bool(torch.allclose(prob.evaluate(x)[:, 1], -get("zdt1").evaluate(x)[:, 1]))
        True
    """

    def __init__(self, problem: Problem, sign: Sequence[float]) -> None:
        if not isinstance(problem, Problem):
            raise ConfigError(
                f"directions with 'maximize' need a vector problem; got {problem!r}. Network "
                "losses are minimized: give the loss to minimize (e.g. 1 - accuracy).")
        signs = tuple(float(s) for s in sign)
        if len(signs) != problem.n_obj or any(s not in (1.0, -1.0) for s in signs):
            raise ConfigError(f"`sign` must hold {problem.n_obj} values of +1 or -1; "
                              f"got {sign!r}.")
        self.problem = problem
        self.sign = signs
        self.name = getattr(problem, "name", "") or type(problem).__name__
        self.n_var, self.n_obj = problem.n_var, problem.n_obj
        self.xl, self.xu = problem.xl, problem.xu
        self.n_ieq_constr = problem.n_ieq_constr
        self.constraint_margin = problem.constraint_margin
        self.margin = problem.margin
        ref = problem.ref_point
        self.ref_point = None if ref is None else tuple(
            float(r) * s for r, s in zip(ref, signs, strict=True))
        names = getattr(problem, "objective_names", None)
        if names is not None:
            self.objective_names = names

    def _signs_like(self, F: Tensor) -> Tensor:
        cache: dict[Any, Tensor] = self.__dict__.setdefault("_sign_cache", {})
        key = (F.device, F.dtype)
        if key not in cache:
            cache[key] = torch.tensor(self.sign, dtype=F.dtype, device=F.device)
        return cache[key]

    def _evaluate(self, x: Tensor) -> Tensor:
        F = self.problem._evaluate(x)
        return F * self._signs_like(F)

    def _evaluate_constraints(self, x: Tensor) -> Tensor:
        return self.problem._evaluate_constraints(x)

    def _projection_box(self) -> tuple[Tensor, Tensor]:
        return self.problem._projection_box()

    def sample(self, p: int, generator: torch.Generator | None = None, **tensor_kw: Any) -> Tensor:
        return self.problem.sample(p, generator=generator, **tensor_kw)

    def pareto_front(self, n_points: int = 100) -> Tensor:
        F = self.problem.pareto_front(n_points)
        return F * self._signs_like(F)

    @property
    def has_pareto_front(self) -> bool:
        return self.problem.has_pareto_front

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_sign_cache", None)
        return state

    def __repr__(self) -> str:
        words = ", ".join("max" if s < 0 else "min" for s in self.sign)
        return f"Minimized({self.problem!r}, [{words}])"
