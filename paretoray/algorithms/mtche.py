"""Modified Tchebycheff (mTche) scalarization as a weighting, hard or smoothed.

Minimization is assumed. The modified Tchebycheff function of [Ma2018]_

    g(x | l) = max_i (f_i(x) - z_i) / l_i

has, wherever a single index ``i*`` attains the max, the gradient ``e_i* / l_i*`` with
respect to ``F``; that is the weight. Its minimizer satisfies ``(F_i - z_i) / l_i`` equal
for all ``i``, i.e. ``F - z`` lies on the ray through ``l``: this is exactly the library's
preference convention ("``F`` aligns with the preference ray", measured from the ideal
point ``z``), so preferences are used as given, with no conversion. (Plain Tchebycheff
``max_i l_i (F_i - z_i)`` puts ``F`` on the ray through ``1 / l`` instead.)

The smooth variant (``mu > 0``) replaces the max by ``mu * logsumexp(. / mu)`` as smooth
Tchebycheff does [Lin2024]_ (LibMOON's ``soft_mtche``): weights
``alpha = (1 / l) * softmax((F - z) / (l mu))``; they sum to more than zero, not to one.

Used as the inner weighting of uniform designs [Zhang2024]_ (:mod:`paretoray.algorithms.umod`).

References:
    .. [Ma2018] X. Ma, Q. Zhang, G. Tian, J. Yang, Z. Zhu. On Tchebycheff decomposition
       approaches for multiobjective evolutionary optimization. IEEE TEVC 22(2), 2018.
    .. [Lin2024] X. Lin, X. Zhang, Z. Yang, F. Liu, Z. Wang, Q. Zhang. Smooth Tchebycheff
       Scalarization for Multi-Objective Optimization. ICML 2024 (arXiv 2402.19078).
    .. [Zhang2024] X. Zhang, G. Li, X. Lin, Y. Zhang, Y. Chen, Q. Zhang. Gliding over the
       Pareto Front with Uniform Designs. NeurIPS 2024.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from paretoray.algorithms.base import Weighting, register
from paretoray.errors import ConfigError, ShapeError


def ideal_tensor(ideal: Sequence[float] | None, values: Tensor) -> Tensor:
    """The ideal point ``z`` as a broadcastable `m`-dim tensor (zeros when None)."""
    if ideal is None:
        return values.new_zeros(values.shape[-1])
    z = torch.tensor(ideal, dtype=values.dtype, device=values.device)
    if z.numel() != values.shape[-1]:
        raise ShapeError(f"`ideal` has {z.numel()} entries; the problem has "
                         f"m={values.shape[-1]} objectives.")
    return z


def _as_floats(v: Sequence[float] | Tensor | None) -> list[float] | None:
    return None if v is None else [float(a) for a in torch.as_tensor(v).flatten()]


def mtche_weights(values: Tensor, prefs: Tensor, ideal: Tensor, mu: float = 0.0,
                  eps: float = 1e-6) -> Tensor:
    """Batched (smoothed) modified Tchebycheff weights.

    Args:
        values: A `p x m`-dim tensor of objective values.
        prefs: A `p x m`-dim tensor of preferences (``F - z`` should align with them).
        ideal: An `m`-dim tensor ``z``.
        mu: Smoothing; ``0`` gives the hard max (ties: the first index, as
            ``torch.argmax`` returns it).
        eps: Preference entries are clipped to ``>= eps`` before dividing.

    Returns:
        A `p x m`-dim tensor of nonnegative weights.
    """
    inv = 1.0 / prefs.clamp_min(eps)
    scaled = (values - ideal) * inv
    if mu > 0:
        return inv * torch.softmax(scaled / mu, dim=-1)
    i_star = scaled.argmax(dim=-1, keepdim=True)
    return torch.zeros_like(scaled).scatter(-1, i_star, inv.gather(-1, i_star))


@register("mtche")
class MTche(Weighting):
    """Modified Tchebycheff ``max_i (F_i - z_i) / l_i``: ``F - z`` lands on the pref ray.

    Weights ``alpha = e_i* / l_i*`` with ``i* = argmax_i (F_i - z_i) / l_i`` (first index on
    ties), or the soft-max version with ``mu > 0`` (see the module docstring). Per member.

    Args:
        ideal: The ideal point ``z`` (``m`` floats); zeros if None (LibMOON's choice).
            Choose ``z`` below every reachable value, else ``F - z`` can have negative
            entries and the ray condition loses its meaning.
        mu: Smoothing temperature; ``0`` (default) is the hard max.
        eps: Lower clip of preference entries (zero entries would divide by zero).
    """

    description = "Modified Tchebycheff scalarization (ray-exact with zero preference entries)"
    category = "finite set"
    paper = "Ma et al., On Tchebycheff decomposition approaches, IEEE TEVC 2018"

    def __init__(self, ideal: Sequence[float] | Tensor | None = None, *, mu: float = 0.0,
                 eps: float = 1e-6) -> None:
        if mu < 0:
            raise ConfigError(f"`mu` must be >= 0; got mu={mu!r}.")
        if not eps > 0:
            raise ConfigError(f"`eps` must be positive; got eps={eps!r}.")
        self.ideal = _as_floats(ideal)
        self.mu = float(mu)
        self.eps = float(eps)

    @torch.no_grad()
    def weights(self, values: Tensor, prefs: Tensor, /, gram: Tensor | None = None,
                context: Tensor | None = None) -> Tensor:
        """Compute mTche weights.

        Args:
            values: A `p x m`-dim tensor of objective values (minimized).
            prefs: A `p x m`-dim tensor of preferences on the simplex.
            gram: Unused.
            context: Unused.

        Returns:
            A `p x m`-dim tensor of nonnegative weights.
        """
        prefs = prefs.to(values)
        return mtche_weights(values, prefs, ideal_tensor(self.ideal, values), self.mu, self.eps)
