"""Tchebycheff and smooth Tchebycheff scalarizations, aimed along the preference ray.

Tchebycheff (TCH) [Bowman1976]_ [Steuer1983]_ minimizes
``g(x | l) = max_i l_i (f_i(x) - z_i)``; smooth Tchebycheff (STCH) [Lin2024]_ minimizes
its log-sum-exp smoothing ``g_mu(x | l) = mu log sum_i exp(l_i (f_i(x) - z_i) / mu)``,
with ``g <= g_mu <= g + mu log m``.

Preference convention. At a TCH optimum on a front that meets the ray, the products
``l_i (f_i - z_i)`` are equal, so ``F - z`` lies on the ray through ``1 / l``. paretoray's
preferences mean "``F - z`` aligns with the pref ray", hence both classes use the
inverse weights ``l = (1 / pref) / sum(1 / pref)``, with ``pref`` clipped at
:data:`PREF_FLOOR` first so that boundary preferences (zeros) stay finite. Normalizing
``l`` onto the simplex leaves the TCH minimizers unchanged and bounds the step
weights by one; for STCH it fixes the meaning of ``mu`` as in [Lin2024]_ (``l`` on the
simplex).

.. [Bowman1976] V. J. Bowman. On the relationship of the Tchebycheff norm and the
    efficient frontier of multiple-criteria objectives. Multiple Criteria Decision
    Making, LNEMS 130:76-86, Springer, 1976.
.. [Steuer1983] R. E. Steuer, E.-U. Choo. An interactive weighted Tchebycheff procedure
    for multiple objective programming. Math. Prog. 26:326-344, 1983.
.. [Lin2024] X. Lin, X. Zhang, Z. Yang, F. Liu, Z. Wang, Q. Zhang. Smooth Tchebycheff
    scalarization for multi-objective optimization. ICML 2024, arXiv 2402.19078.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from paretoray.algorithms.base import Weighting, register
from paretoray.errors import ConfigError

__all__ = ["PREF_FLOOR", "SmoothTchebycheff", "Tchebycheff", "inverse_weights"]

#: Preferences are clipped at this value before inversion (``l = 1 / pref``).
PREF_FLOOR = 1e-6

_IDEALS = (None, "zero", "population")


def _check_ideal(ideal: Any) -> str | tuple[float, ...] | None:
    if ideal is None or isinstance(ideal, str):
        if ideal not in _IDEALS:
            raise ConfigError(
                f"`ideal` must be None, 'zero', 'population' or a sequence of m floats; "
                f"got ideal={ideal!r}."
            )
        return ideal
    vals = ideal.tolist() if isinstance(ideal, Tensor) else ideal
    if not isinstance(vals, Sequence) or not vals:
        raise ConfigError(
            f"`ideal` as a point must be a nonempty sequence of floats; got {ideal!r}."
        )
    try:
        point = tuple(float(v) for v in vals)
    except (TypeError, ValueError):
        raise ConfigError(f"`ideal` as a point must hold m floats; got ideal={ideal!r}.") from None
    if not all(math.isfinite(v) for v in point):
        raise ConfigError(f"`ideal` must be finite; got ideal={point!r}.")
    return point


def inverse_weights(prefs: Tensor, values: Tensor) -> Tensor:
    """Tchebycheff weights ``l = (1 / pref) / sum(1 / pref)`` from library preferences.

    Args:
        prefs: A `p x m`-dim tensor of preference vectors (clipped at :data:`PREF_FLOOR`).
        values: A `p x m`-dim tensor whose dtype and device the result takes.

    Returns:
        A `p x m`-dim tensor of weights on the simplex, without autograd history.
    """
    inv = 1.0 / prefs.detach().to(dtype=values.dtype, device=values.device).clamp_min(PREF_FLOOR)
    return inv / inv.sum(-1, keepdim=True)


class _TchebycheffBase(Weighting):
    """Shared ideal-point handling."""

    ideal: str | tuple[float, ...] | None

    def _set_ideal(self, ideal: Any) -> None:
        self.ideal = _check_ideal(ideal)
        # A population ideal couples the members (an instance-level capability flag).
        self.per_member = self.ideal != "population"  # type: ignore[misc]

    def _options(self) -> dict[str, Any]:
        return {k: v for k, v in super()._options().items() if k != "per_member"}

    def _shifted(self, values: Tensor, context: Tensor | None) -> Tensor:
        """``values - z`` for the configured ideal point ``z``."""
        F = values.detach()
        if self.ideal is None or self.ideal == "zero":
            return F
        if self.ideal == "population":
            # NaN members (caught later by the engine) must not poison everyone's ideal.
            pool = F if context is None else torch.cat([F, context.detach().to(F)], dim=0)
            z = torch.where(torch.isnan(pool), torch.inf, pool).amin(0)
            return F - z
        z = torch.tensor(self.ideal, dtype=F.dtype, device=F.device)
        return F - z


@register("tchebycheff")
class Tchebycheff(_TchebycheffBase):
    """Tchebycheff scalarization [Bowman1976]_: a subgradient of ``max_i l_i (F_i - z_i)``.

    ``i* = argmax_i l_i (F_i - z_i)``, ``alpha = l_i* e_i*`` with ``l = 1 / pref``
    normalized (see the module docstring); when the front meets the preference ray
    through ``z``, the optimum lies on it. Ties pick the first index (``torch.argmax``).
    Minimizers are only weakly Pareto optimal in general; the iteration is a
    subgradient method, so use a decaying step size to settle on the ray.

    Args:
        ideal: The point ``z``. None or ``"zero"``: ``z = 0`` (LibMOON's choice; then
            ``F`` itself aligns with the pref ray). ``"population"``: the componentwise
            minimum of the population's values and the ``context`` front (couples the
            members, so ``per_member`` is False). A sequence of ``m`` floats: fixed.

    Example:
        >>> w = Tchebycheff()(torch.tensor([[0.5, 0.5]]), torch.tensor([[0.7, 0.3]]))
        >>> w  # l = (0.3, 0.7): objective 2 is the larger l_i F_i
        tensor([[0.0000, 0.7000]])
    """

    description = "Weighted Tchebycheff scalarization toward the preference ray"
    category = "finite set"
    paper = "Bowman 1976; Steuer & Choo, Math. Programming 1983"

    def __init__(self, ideal: str | Sequence[float] | Tensor | None = None) -> None:
        self._set_ideal(ideal)

    def weights(
        self,
        values: Tensor,
        prefs: Tensor,
        /,
        gram: Tensor | None = None,
        context: Tensor | None = None,
    ) -> Tensor:
        """Subgradient weights of the Tchebycheff scalarization.

        Args:
            values: A `p x m`-dim tensor of objective values (minimized).
            prefs: A `p x m`-dim tensor of preference vectors on the simplex.
            gram: Ignored.
            context: A `k x m`-dim tensor of other shards' points; used only by
                ``ideal="population"``.

        Returns:
            A `p x m`-dim tensor with one nonzero entry ``l_i*`` per row, without
            autograd history.
        """
        lam = inverse_weights(prefs, values)
        i = (lam * self._shifted(values, context)).argmax(-1, keepdim=True)
        return torch.zeros_like(lam).scatter(-1, i, lam.gather(-1, i))


@register("smooth_tchebycheff")
class SmoothTchebycheff(_TchebycheffBase):
    """Smooth Tchebycheff scalarization [Lin2024]_: gradient weights of
    ``mu log sum_i exp(l_i (F_i - z_i) / mu)``.

    ``alpha = l * softmax(l * (F - z) / mu)`` with ``l = 1 / pref`` normalized (see the
    module docstring), so the weights sum to at most one. The scalarization is smooth,
    strictly increasing in every objective (its minimizers are Pareto optimal), lies
    within ``mu log m`` of Tchebycheff, and its minimizers approach the Tchebycheff
    ones, on the preference ray, as ``mu -> 0``. Small ``mu`` makes the problem stiff:
    the stable step size shrinks roughly like ``mu``. Objectives of very different
    scales should be normalized first (the paper uses ideal/nadir normalization).

    Args:
        mu: Smoothing parameter (> 0); LibMOON's default 0.1, the paper's PSL code 0.01.
        ideal: The point ``z``, as for :class:`Tchebycheff`.

    Example:
        >>> SmoothTchebycheff(mu=0.1)(torch.zeros(1, 2), torch.tensor([[0.5, 0.5]]))
        tensor([[0.2500, 0.2500]])
    """

    description = "Smooth (log-sum-exp) Tchebycheff scalarization"
    category = "finite set"
    paper = "Lin et al., Smooth Tchebycheff Scalarization, ICML 2024"

    def __init__(
        self, mu: float = 0.1, ideal: str | Sequence[float] | Tensor | None = None
    ) -> None:
        if isinstance(mu, bool) or not isinstance(mu, int | float) or not (0 < mu < math.inf):
            raise ConfigError(
                f"SmoothTchebycheff `mu` must be a finite float > 0 (e.g. 0.1); got mu={mu!r}."
            )
        self.mu = float(mu)
        self._set_ideal(ideal)

    def weights(
        self,
        values: Tensor,
        prefs: Tensor,
        /,
        gram: Tensor | None = None,
        context: Tensor | None = None,
    ) -> Tensor:
        """Gradient weights of the smooth Tchebycheff scalarization.

        Args:
            values: A `p x m`-dim tensor of objective values (minimized).
            prefs: A `p x m`-dim tensor of preference vectors on the simplex.
            gram: Ignored.
            context: A `k x m`-dim tensor of other shards' points; used only by
                ``ideal="population"``.

        Returns:
            A `p x m`-dim tensor of positive weights, without autograd history.
        """
        lam = inverse_weights(prefs, values)
        # softmax subtracts the row maximum: no overflow even for mu = 1e-6.
        return lam * torch.softmax(lam * self._shifted(values, context) / self.mu, dim=-1)
