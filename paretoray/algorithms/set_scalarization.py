"""Tchebycheff set scalarization ("Few for Many"): a few solutions serving many objectives.

Minimization is assumed. With the population ``x_1, ..., x_K`` as one *set*, TCH-Set
[Lin2025]_ solves

    min_{x_1..x_K} max_i lam_i (min_k f_i(x_k) - z_i),

so that every objective is served well by at least one member (useful when ``K < m``).
Its smooth version STCH-Set replaces both the max and the min by log-sum-exp with the
same ``mu``:

    g_mu = mu log sum_i exp(lam_i (smin_k f_i(x_k) - z_i) / mu),
    smin_k v_k = -mu log sum_k exp(-v_k / mu).

The weights are population-coupled: ``alpha[k, i] = dg / dF[k, i]``. TCH-Set gives one
nonzero entry, ``alpha[k*, i*] = lam_i*`` (first index on ties); STCH-Set gives
``alpha[k, i] = lam_i softmax_i(lam (smin - z) / mu)_i * softmax_k(-F[:, i] / mu)_k``.

Preferences: the library convention ("``F`` aligns with the preference ray") has no
per-member meaning for a set scalarization. ``lam = 1`` by default (the paper's setting);
with ``use_prefs=True``, ``lam = m * prefs.mean(0)`` (uniform preferences give ones).

``context`` (other shards' points) joins the inner min: an objective already served by
another shard needs no member here. Context rows get no weights; with TCH-Set a step in
which the serving point is a context point moves nobody.

References:
    .. [Lin2025] X. Lin, Y. Liu, X. Zhang, F. Liu, Z. Wang, Q. Zhang. Few for Many:
       Tchebycheff Set Scalarization for Many-Objective Optimization. ICLR 2025
       (arXiv 2405.19650).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from paretoray.algorithms.base import Weighting, register
from paretoray.algorithms.mtche import _as_floats, ideal_tensor
from paretoray.errors import ConfigError


def _lam(prefs: Tensor, use_prefs: bool) -> Tensor:
    m = prefs.shape[-1]
    if use_prefs:
        return m * prefs.mean(0)
    return prefs.new_ones(m)


def tch_set_weights(values: Tensor, lam: Tensor, ideal: Tensor, n_members: int) -> Tensor:
    """TCH-Set weights for the first ``n_members`` rows of ``values``.

    Args:
        values: A `k x m`-dim tensor: the population rows first, then context rows.
        lam: An `m`-dim tensor of objective weights.
        ideal: An `m`-dim tensor ``z``.
        n_members: Number of population rows ``p``.

    Returns:
        A `p x m`-dim tensor with at most one nonzero entry.
    """
    best, k_star = values.min(0)  # m, m
    i_star = (lam * (best - ideal)).argmax()
    alpha = torch.zeros_like(values)
    alpha[k_star[i_star], i_star] = lam[i_star]
    return alpha[:n_members]


def stch_set_weights(values: Tensor, lam: Tensor, ideal: Tensor, mu: float,
                     n_members: int) -> Tensor:
    """STCH-Set weights for the first ``n_members`` rows of ``values``.

    Args:
        values: A `k x m`-dim tensor: the population rows first, then context rows.
        lam: An `m`-dim tensor of objective weights.
        ideal: An `m`-dim tensor ``z``.
        mu: Smoothing temperature (> 0).
        n_members: Number of population rows ``p``.

    Returns:
        A `p x m`-dim tensor of nonnegative weights.
    """
    smin = -mu * torch.logsumexp(-values / mu, dim=0)  # m
    outer = torch.softmax(lam * (smin - ideal) / mu, dim=0)  # m
    inner = torch.softmax(-values / mu, dim=0)  # k x m
    return (lam * outer * inner)[:n_members]


class _SetScalarization(Weighting):
    per_member = False

    def __init__(self, *, use_prefs: bool = False,
                 ideal: Sequence[float] | Tensor | None = None) -> None:
        self.use_prefs = bool(use_prefs)
        self.ideal = _as_floats(ideal)

    def _stack(self, values: Tensor, context: Tensor | None) -> Tensor:
        if context is None:
            return values
        context = context.to(values.device, values.dtype).reshape(-1, values.shape[1])
        return torch.cat([values, context[torch.isfinite(context).all(1)]])


@register("tch_set")
class TCHSet(_SetScalarization):
    """TCH-Set ``max_i lam_i (min_k F[k, i] - z_i)`` over the population as one set.

    Non-smooth: each step moves only the member serving the worst-served objective, so
    convergence is slow; :class:`STCHSet` is the practical choice.

    Args:
        use_prefs: Take ``lam = m * prefs.mean(0)`` instead of ones.
        ideal: The ideal point ``z`` (``m`` floats); zeros if None.
    """

    description = "Few-for-many Tchebycheff set scalarization: K members cover many preferences"
    category = "finite set"
    paper = "Lin et al., Few for Many: Tchebycheff Set Scalarization, ICLR 2025"

    @torch.no_grad()
    def weights(self, values: Tensor, prefs: Tensor, /, gram: Tensor | None = None,
                context: Tensor | None = None) -> Tensor:
        """Compute TCH-Set weights.

        Args:
            values: A `p x m`-dim tensor of objective values (minimized).
            prefs: A `p x m`-dim tensor of preferences (used only with ``use_prefs``).
            gram: Unused.
            context: A `k x m`-dim tensor of other shards' points, or None.

        Returns:
            A `p x m`-dim tensor with at most one nonzero (positive) entry.
        """
        lam = _lam(prefs.to(values), self.use_prefs)
        return tch_set_weights(self._stack(values, context), lam,
                               ideal_tensor(self.ideal, values), values.shape[0])


@register("stch_set")
class STCHSet(_SetScalarization):
    """STCH-Set: the smooth TCH-Set with temperature ``mu`` (both max and min smoothed).

    Args:
        mu: Smoothing temperature, in the units of the objectives (default 0.1; normalize
            objectives of very different scales first). ``g_TCH-Set`` is within
            ``mu log m`` (outer) plus ``mu log K`` (inner) of ``g_mu``.
        use_prefs: Take ``lam = m * prefs.mean(0)`` instead of ones.
        ideal: The ideal point ``z`` (``m`` floats); zeros if None.
    """

    description = "Smooth Tchebycheff set scalarization (few for many, smoothed)"
    category = "finite set"
    paper = "Lin et al., Few for Many: Tchebycheff Set Scalarization, ICLR 2025"

    def __init__(self, mu: float = 0.1, *, use_prefs: bool = False,
                 ideal: Sequence[float] | Tensor | None = None) -> None:
        if not mu > 0:
            raise ConfigError(f"`mu` must be positive; got mu={mu!r}. Use 'tch_set' for mu=0.")
        super().__init__(use_prefs=use_prefs, ideal=ideal)
        self.mu = float(mu)

    @torch.no_grad()
    def weights(self, values: Tensor, prefs: Tensor, /, gram: Tensor | None = None,
                context: Tensor | None = None) -> Tensor:
        """Compute STCH-Set weights.

        Args:
            values: A `p x m`-dim tensor of objective values (minimized).
            prefs: A `p x m`-dim tensor of preferences (used only with ``use_prefs``).
            gram: Unused.
            context: A `k x m`-dim tensor of other shards' points, or None.

        Returns:
            A `p x m`-dim tensor of nonnegative weights.
        """
        lam = _lam(prefs.to(values), self.use_prefs)
        return stch_set_weights(self._stack(values, context), lam,
                                ideal_tensor(self.ideal, values), self.mu, values.shape[0])
