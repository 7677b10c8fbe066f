"""The weighting interface: how every algorithm aims a population step.

Minimization is assumed throughout. A weighting maps a population's objective values
(and, only if it asks for it, the per-member Gram matrix of objective gradients) to
per-objective step weights; ``paretoray.engine`` forms the step from them: member ``p``
moves along ``-sum_i weights[p, i] * grad f_i(x_p)``.

Library-wide preference convention: a preference vector ``r`` (nonnegative, summing to
one) means "``F`` should align with the ray through ``r``". Methods whose native
preference means something else (EPO's ``r``, Tchebycheff's ``lambda = 1/pref``)
convert at their own boundary and say so in their docstring.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from torch import Tensor

from paretoray._registry import Registry
from paretoray.errors import ShapeError


class Weighting(ABC):
    """Turn a population's objective values into per-objective step weights.

    The whole population comes in at once: per-member methods are written with
    broadcasting, population-coupled ones (hypervolume, UMOD, SVGD) read all rows and
    the optional ``context`` front sent by the coordinator.

    Subclasses set the class flags and implement :meth:`weights`.
    """

    #: True: the engine computes ``G = J J^T`` (``p x m x m``) and passes it as ``gram``.
    needs_gram: ClassVar[bool] = False
    #: True: member ``p``'s weights depend only on row ``p`` of the inputs.
    per_member: ClassVar[bool] = True
    #: Registry name, set by :func:`register`.
    name: ClassVar[str] = ""
    #: One line for ``paretoray list``: what the method does.
    description: ClassVar[str] = ""
    #: ``"single solution"`` (one Pareto-stationary point per member, whatever its
    #: preference) or ``"finite set"`` (the population's members aim at different points),
    #: the survey's classes of gradient-based MOO methods.
    category: ClassVar[str] = ""
    #: The paper (or reference) the implementation follows.
    paper: ClassVar[str] = ""

    @abstractmethod
    def weights(
        self,
        values: Tensor,
        prefs: Tensor,
        /,
        gram: Tensor | None = None,
        context: Tensor | None = None,
    ) -> Tensor:
        """Compute step weights for every member.

        Args:
            values: A `p x m`-dim tensor of objective values (minimized).
            prefs: A `p x m`-dim tensor of preference vectors on the simplex.
            gram: A `p x m x m`-dim PSD tensor, ``gram[p, i, j] = <grad f_i, grad f_j>``
                at member ``p``; given only when :attr:`needs_gram` is True.
            context: A `k x m`-dim tensor of other shards' nondominated points, or None.

        Returns:
            A `p x m`-dim tensor of weights; member ``p`` steps along
            ``-(weights[p] @ J[p])``. The tensor carries no autograd history.
        """

    def __call__(
        self,
        values: Tensor,
        prefs: Tensor,
        /,
        gram: Tensor | None = None,
        context: Tensor | None = None,
    ) -> Tensor:
        return self.weights(values, prefs, gram=gram, context=context)

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self._options().items())
        return f"{type(self).__name__}({opts})"

    def _options(self) -> dict[str, Any]:
        """Constructor options echoed by ``repr`` (public attributes by default)."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}


def check_gram(who: str, values: Tensor, gram: Tensor | None) -> Tensor:
    """The Gram matrix a ``needs_gram`` weighting was given, checked once at its boundary.

    Raises:
        ShapeError: ``gram`` is missing or not `p x m x m` for `p x m` values.
    """
    if gram is None:
        raise ShapeError(
            f"{who} needs the Gram matrix: the engine passes it because `needs_gram` is True; "
            "when calling `weights` directly pass `gram=J @ J.transpose(-1, -2)` "
            "(a `p x m x m` tensor)."
        )
    p, m = values.shape
    if gram.shape != (p, m, m):
        raise ShapeError(f"Expected `gram` of shape `p x m x m`; got {gram.shape=}, {m=}.")
    return gram


#: Registry of built-in and user weightings, by lowercase name.
REGISTRY: Registry[Weighting] = Registry("algorithm", Weighting)
#: ``@register("name")`` registers a :class:`Weighting` subclass; ``get(name, **options)``
#: builds one (a :class:`Weighting` passes through); ``names()`` lists them.
register, get, names = REGISTRY.register, REGISTRY.get, REGISTRY.names
