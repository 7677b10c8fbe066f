"""PMGDA: preference-based multiple gradient descent, predict and correct.

References:

.. [Zhang2024] X. Zhang, X. Lin, Q. Zhang. "PMGDA: A Preference-based Multiple Gradient
   Descent Algorithm". arXiv 2402.09492, 2024. Reference code: LibMOON
   (xzhang2523/libmoon, ``pmgda_core.py`` / ``pmgda_solver.py``).

The preference is a constraint ``h(F(x)) = 0`` whose zero set is the ray through the
preference ``l`` (paretoray's convention: ``F`` aligns with ``l``; no conversion):

* ``h="pbi"``: ``h = d2 = ||F - (F.l^) l^||``, ``l^ = l/||l||`` (PBI's distance to the ray;
  LibMOON's default);
* ``h="cos"``: ``h = 1 - cos(F, l)``.

With ``q = dh/dF`` the constraint gradient is ``grad h = J^T q``, so everything needs only
the Gram matrix ``G = J J^T`` (``<grad f_i, grad h> = (G q)_i``, ``||grad h||^2 = q^T G q``).

* Prediction (``h < h_eps``), [Zhang2024]_ Sec. 4 (the tangent-constrained direction):
  ``min_{mu in simplex, nu in R} ||J^T mu + nu grad h||^2``. ``nu`` is eliminated in closed
  form, ``nu = -(q^T G mu) / (q^T G q)``, leaving the min-norm problem on the projected Gram
  matrix ``G' = G - (G q)(G q)^T / (q^T G q)``; ``alpha = mu + nu q``. The step keeps ``h``
  constant to first order while decreasing every objective.
* Correction (``h >= h_eps``), [Zhang2024]_ Eq. 18-20 as in LibMOON's LP: with the unit
  vectors ``v_i = g_i/||g_i||`` (``i <= m``) and ``v_h = grad h/||grad h||``,
  ``min_{mu in simplex(m+1), t} t`` s.t. ``<g_i, d> >= -t`` and ``<v_h, d> >= sigma`` for
  ``d = sum_i mu_i v_i + mu_h v_h``; then ``alpha_i = mu_i/||g_i|| + mu_h q_i/||grad h||``.
  Always feasible (``mu = e_h``) when ``grad h != 0``; solved for all members at once by
  vertex enumeration (``C(2m+2, m+1)`` basic solutions: 20 for ``m = 2``, 252 for ``m = 4``).

Defaults ``h_eps = 0.01``, ``sigma = 0.95`` are LibMOON's ``config/pmgda.json`` (a later
LibMOON version uses ``sigma = 0.8``; the ``sigma=0.1, h_tol=1e-3`` arguments of its
``PMGDASolver`` are ignored by its core). ``h_eps`` is in units of ``h``: an absolute
distance for ``"pbi"``, ``1 - cos`` (about ``angle^2/2``) for ``"cos"``.

Differences from LibMOON:

* the prediction step is the paper's tangent-constrained min-norm problem; LibMOON calls
  plain MGDA there (its ``solve_mgda_null`` implements the dual above but is unused);
* batched over members and any ``m``; the phase is chosen per member;
* gradient norms are clipped at a tiny positive number instead of adding ``1e-4``;
* a member with ``grad h = 0`` (exactly on the ray for ``"pbi"``, or a stationary ``h``)
  always takes the prediction step (which is then plain MGDA).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from paretoray.algorithms._lp import lp_vertices
from paretoray.algorithms.base import Weighting, check_gram, register
from paretoray.errors import ConfigError


def preference_constraint(
    values: Tensor, prefs: Tensor, kind: Literal["pbi", "cos"] = "pbi"
) -> tuple[Tensor, Tensor]:
    """PMGDA's preference function ``h`` and its gradient ``dh/dF`` for every member.

    Args:
        values: A `p x m`-dim tensor of objective values.
        prefs: A `p x m`-dim tensor of preference vectors (nonzero rows).
        kind: ``"pbi"`` (distance to the ray) or ``"cos"`` (``1 - cos(F, l)``).

    Returns:
        ``(h, q)``: a `p`-dim tensor of values and a `p x m`-dim tensor ``dh/dF`` (zero where
        ``h`` is not differentiable: on the ray, to ``1e-12 ||F||``, for ``"pbi"``; at
        ``F = 0`` for ``"cos"``).
    """
    tiny = torch.finfo(values.dtype).tiny
    l_hat = prefs / prefs.norm(dim=-1, keepdim=True).clamp_min(tiny)
    if kind == "pbi":
        resid = values - (values * l_hat).sum(-1, keepdim=True) * l_hat
        h = resid.norm(dim=-1)
        # On the ray (up to rounding) the direction resid/h is noise: take the gradient as 0.
        on_ray = h <= 1e-12 * values.norm(dim=-1)
        q = resid / h[:, None].clamp_min(tiny)
        q = torch.where(on_ray[:, None], torch.zeros_like(q), q)
        return h, q
    if kind == "cos":
        norm = values.norm(dim=-1, keepdim=True)
        f_hat = values / norm.clamp_min(tiny)
        cos = (f_hat * l_hat).sum(-1, keepdim=True)
        q = -(l_hat - cos * f_hat) / norm.clamp_min(tiny)
        q = torch.where(norm > 0, q, torch.zeros_like(q))
        return 1 - cos.squeeze(-1), q
    raise ConfigError(f"`h` must be 'pbi' or 'cos'; got {kind!r}.")


@register("pmgda")
class PMGDA(Weighting):
    """PMGDA [Zhang2024]_: tangent-constrained prediction, LP correction, batched.

    Args:
        h: Preference function, ``"pbi"`` (default, LibMOON's) or ``"cos"``.
        h_eps: Members with ``h < h_eps`` predict, the others correct (LibMOON: 0.01).
        sigma: Correction strength: ``<v_h, d> >= sigma`` (LibMOON: 0.95).

    Step size: the correction direction is a convex combination of unit vectors (norm
    <= 1), so a correction step moves ``x`` by about ``lr`` whatever the distance to the
    ray; members oscillate around the ray unless ``lr * ||grad h||`` is below ``h_eps``.
    On the toy problem SGD with ``lr=0.03`` and 600 steps ends within 1e-2 of the ray
    point (tests/algorithms/test_pmgda.py); ``lr=0.1`` chatters at ``h`` about 0.03.
    """

    description = "Preference-based MGDA: predict-and-correct onto the preference constraint"
    category = "finite set"
    paper = "Zhang, Lin & Zhang, PMGDA, arXiv 2402.09492 (2024)"

    needs_gram = True
    per_member = True

    def __init__(self, h: Literal["pbi", "cos"] = "pbi", h_eps: float = 0.01,
                 sigma: float = 0.95) -> None:
        if h not in ("pbi", "cos"):
            raise ConfigError(f"`h` must be 'pbi' or 'cos'; got {h!r}.")
        if not h_eps > 0:
            raise ConfigError(f"`h_eps` must be > 0; got {h_eps!r}.")
        if not 0 < sigma <= 1:
            raise ConfigError(f"`sigma` must lie in (0, 1]; got {sigma!r}.")
        self.h = h
        self.h_eps = float(h_eps)
        self.sigma = float(sigma)

    def weights(
        self,
        values: Tensor,
        prefs: Tensor,
        /,
        gram: Tensor | None = None,
        context: Tensor | None = None,
    ) -> Tensor:
        """PMGDA weights (`p x m`; may be negative through ``dh/dF``)."""
        gram = check_gram("PMGDA", values, gram)
        dt = torch.float64
        F, pref, G = values.detach().to(dt), prefs.detach().to(dt), gram.detach().to(dt)
        G = 0.5 * (G + G.transpose(1, 2))
        h, q = preference_constraint(F, pref, self.h)
        alpha_pred = prediction_weights(G, q)
        alpha_corr, ok = correction_weights(G, q, self.sigma)
        correct = (h >= self.h_eps) & ok
        alpha = torch.where(correct[:, None], alpha_corr, alpha_pred)
        return alpha.to(values.dtype)


def prediction_weights(gram: Tensor, q: Tensor) -> Tensor:
    """``alpha = mu + nu q`` of ``min_{mu in simplex, nu} ||J^T mu + nu J^T q||^2``.

    Args:
        gram: A `p x m x m`-dim PSD tensor ``G``.
        q: A `p x m`-dim tensor ``dh/dF`` (a zero row gives plain MGDA).

    Returns:
        A `p x m`-dim tensor.
    """
    from paretoray.algorithms.minnorm import min_norm

    Gq = torch.einsum("pij,pj->pi", gram, q)
    gh2 = (q * Gq).sum(-1)  # ||grad h||^2
    scale = gram.diagonal(dim1=1, dim2=2).sum(-1)
    has_h = gh2 > 1e-14 * scale.clamp_min(torch.finfo(gram.dtype).tiny)
    inv = torch.where(has_h, 1.0 / gh2.clamp_min(torch.finfo(gram.dtype).tiny), 0.0)
    G_proj = gram - inv[:, None, None] * Gq[:, :, None] * Gq[:, None, :]
    G_proj = 0.5 * (G_proj + G_proj.transpose(1, 2))
    mu = min_norm(G_proj)
    nu = -(Gq * mu).sum(-1) * inv
    return mu + nu[:, None] * q


def correction_weights(gram: Tensor, q: Tensor, sigma: float) -> tuple[Tensor, Tensor]:
    """LibMOON's correction LP ([Zhang2024]_ Eq. 20), for every member by vertex enumeration.

    Args:
        gram: A `p x m x m`-dim PSD tensor ``G``.
        q: A `p x m`-dim tensor ``dh/dF``.
        sigma: Lower bound on ``<v_h, d>``.

    Returns:
        ``(alpha, ok)``: a `p x m`-dim tensor of weights and a `p`-dim bool tensor, False
        where the LP has no solution (``grad h = 0``).
    """
    p, m, _ = gram.shape
    dt, dev = gram.dtype, gram.device
    tiny = torch.finfo(dt).tiny
    g_norm = gram.diagonal(dim1=1, dim2=2).clamp_min(0).sqrt().clamp_min(tiny ** 0.5)  # p m
    Gq = torch.einsum("pij,pj->pi", gram, q)
    h_norm = (q * Gq).sum(-1).clamp_min(0).sqrt()  # p
    ok = h_norm > 1e-7 * g_norm.amax(-1)
    h_safe = h_norm.clamp_min(tiny ** 0.5)
    # B: columns = coefficient vectors (in objective space) of v_1..v_m, v_h.
    B = torch.cat([torch.diag_embed(1.0 / g_norm), (q / h_safe[:, None])[:, :, None]], dim=2)
    GB = gram @ B  # p m (m+1): <g_i, v_j>
    vhB = (q[:, None, :] @ GB).squeeze(1) / h_safe[:, None]  # p (m+1): <v_h, v_j>
    n = m + 2  # z = (mu_1..mu_{m+1}, t)
    zeros_col = torch.zeros(p, m, 1, dtype=dt, device=dev)
    rows_g = torch.cat([GB, torch.ones(p, m, 1, dtype=dt, device=dev)], dim=2)  # <g_i,d> + t >= 0
    row_h = torch.cat([vhB, torch.zeros(p, 1, dtype=dt, device=dev)], dim=1)[:, None]
    rows_mu = torch.cat([torch.eye(m + 1, dtype=dt, device=dev).expand(p, m + 1, m + 1),
                         torch.cat([zeros_col, torch.zeros(p, 1, 1, dtype=dt, device=dev)], 1)],
                        dim=2)
    A_ub = torch.cat([rows_g, row_h, rows_mu], dim=1)  # p (2m+2) n
    b_ub = torch.zeros(p, 2 * m + 2, dtype=dt, device=dev)
    b_ub[:, m] = sigma
    A_eq = torch.ones(p, 1, n, dtype=dt, device=dev)
    A_eq[:, :, -1] = 0
    b_eq = torch.ones(p, 1, dtype=dt, device=dev)
    c = torch.zeros(p, n, dtype=dt, device=dev)
    c[:, -1] = -1.0  # maximize -t
    z, feasible = lp_vertices(c, A_eq, b_eq, A_ub, b_ub)
    mu = z[:, : m + 1].clamp_min(0)
    mu = mu / mu.sum(-1, keepdim=True).clamp_min(tiny)
    alpha = torch.einsum("pij,pj->pi", B, mu)
    return alpha, ok & feasible
