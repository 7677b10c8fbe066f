"""Exact Pareto Optimal search (EPO): gradient descent with controlled ascent.

References:

.. [Mahapatra2020] D. Mahapatra, V. Rajan. "Multi-Task Learning with User Preferences:
   Gradient Descent with Controlled Ascent in Pareto Optimization". ICML 2020,
   PMLR 119:6597-6607. Extended as arXiv 2108.00597 ("Exact Pareto Optimal Search ...").

What is implemented ([Mahapatra2020]_, Sec. 3-4; reference code ``epo_lp.py`` of
dbmptr/EPOSearch): with ``l = F > 0`` and the paper's preference ``r``,

* non-uniformity ``mu = KL(l^ || 1/m) = sum_j l^_j log(m l^_j)``, ``l^ = (r*l)/sum(r*l)``;
* adjustment ``a_j = r_j (log(m l^_j) - mu)``, ``C = G = J J^T``, ``c = C a``;
* balance mode (``mu > eps``): ``max_{beta in simplex} beta^T c`` s.t. ``(C beta)_j >= rhs_j``
  with ``rhs_j = -inf`` for ``c_j > 0`` (controlled ascent), ``0`` for ``j`` in
  ``J* = argmax_j r_j l_j`` and ``c_j`` otherwise (``rhs = 0`` when no ``c_j > 0``);
* descent mode (``mu <= eps``): ``max_{beta in simplex} 1^T C beta`` s.t. ``C beta >= 0`` and,
  unless ``relax``, ``beta^T c >= min(max_j c_j, 0)``;
* member ``p`` steps along ``-J^T alpha`` with ``alpha = beta`` (times the step rule's
  factor), so to first order ``dF = -eta C alpha``.

Preference conversion: paretoray's ``pref`` means "``F`` aligns with the ray through
``pref``"; EPO's ``r`` means "``r_i F_i`` are all equal", i.e. ``F`` on the ray ``1/r``. So
``r = 1 / pref`` (LibMOON builds ``EPO_LP`` with ``r = 1/pref`` too).

Zero preference entries (``pref_j < pref_min``, e.g. the boundary rows of a Das-Dennis
lattice) have no finite ``r_j``. Clipping them to ``r_j = 1/pref_min`` (LibMOON, and this
module before) makes ``r_j F_j`` dwarf every other ``r_i F_i`` until ``F_j`` is ~1e-4 of the
rest: ``l^`` is ~ a unit vector, the balance of the other objectives is lost under the
``log`` clip, and the member is pushed along ``-grad f_j`` alone -- on DTLZ2 into a corner
of the box (``x_1 = 1``) where the spherical map is degenerate and no ``beta >= 0`` can
lead out again. Here the ray condition is split instead: with ``S = {j : pref_j >=
pref_min}`` and ``Z`` the rest, ``F`` is on the ray iff ``F_S`` is on the ray of ``pref_S``
(the paper's ``mu_S``, a KL over ``S`` alone with ``r_S = 1/pref_S``) and ``F_Z = 0``
(``rho = |F_Z| / |F_S|``, the tangent of the angle to that face). EPO runs on
``nu = mu_S + rho^2 / 2`` (both second order in the deviation):

* balance mode (``nu > eps``): the part that dominates ``nu`` leads. While ``mu_S >=
  rho^2 / 2``: the paper's LP on ``a_S`` (``J*`` the argmax over ``S``; ``Z`` is passive,
  bounded like any objective with ``c_j <= 0``). Otherwise the adjustment is
  ``a_S + a_rho`` (``a_rho = sum(r_S F_S) drho^2/2/dF``: push ``F_Z`` down, let ``F_S``
  rise) and ``J*`` is the set of zero-preference objectives with ``F_j > 0`` (the limit
  ``r_j -> inf`` of ``argmax_j r_j l_j``);
* zero mode (``nu <= eps`` but ``rho > eps``): ``max beta^T C drho/dF`` (drive ``F_Z`` to 0)
  s.t. ``(C beta)_j >= 0`` for the zero-preference objectives with ``F_j > 0`` and
  ``beta^T c_nu >= min(max c_nu, 0)`` (``nu`` does not grow to first order);
* descent mode (``nu <= eps``, ``rho <= eps``): the paper's descent LP with objective
  ``1_S^T C beta`` (a zero-preference objective at 0 -- often on a bound of the box --
  must not rise but is not worth a step).

Without zero entries all of this is the paper's algorithm (``rho = 0``).

``step_rule="boost"`` (default): a balance step ``J^T beta`` shorter than the longest
objective gradient is lengthened towards it, by at most ``BOOST_MAX`` and at most
``nu / BOOST_NU`` (so not at all within ``nu <= 0.01`` of the ray, where the paper's steps
are kept); the direction is unchanged. Short balance steps are the weak "controlled
ascent" directions near a degenerate boundary (DTLZ2: ``d f_3 / d x_1 -> 0`` as
``x_1 -> 1``). With a momentum optimizer (Adam) an unboosted one cannot stop the momentum a
member gathered on its way to the ray: it overshoots into the boundary, where no
``beta >= 0`` leads out, and stays. ``"none"``: ``alpha = beta`` on the simplex;
``"reference"``: ``alpha = 10 max(nu, 0.1) beta``, the step rule of the reference toy
experiments (``x <- x - 10 max(mu, 0.1) h d``; with plain SGD that is the paper's iteration
with ``h = lr``).

``F`` must be positive (the ray goes through the origin, which EPO treats as the ideal
point). As in LibMOON, negative ``r * F`` are clipped to 0 in ``mu`` and ``log(m l^)`` is
clipped below at ``log(1e-3)``; shift your objectives (e.g. subtract a lower bound) if
they can be ``<= 0``.

Differences from LibMOON / the reference code:

* the LP is solved for every member at once in torch by vertex enumeration (exact, no
  cvxpy/GLPK; ``C(2m+1, m-1)`` basic solutions, 5 for ``m = 2``, 84 for ``m = 4``); beyond
  ``MAX_CANDIDATES`` vertices (``m >= 7``) it falls back to one HiGHS call per member
  (scipy, host round-trip) -- correct but slow;
* LP ties (degenerate LPs) are broken deterministically (first vertex in lexicographic
  order of its active set), so ``beta`` can differ from GLPK's while ``C beta`` agrees;
* an infeasible LP (in restricted descent mode, or numerically) falls back to
  ``alpha = pref`` (LibMOON: ``pref / sum(pref)``, the same on the simplex);
* zero preference entries and ``step_rule="boost"`` (above).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from paretoray.algorithms._lp import MAX_CANDIDATES, lp_highs, lp_vertices, n_vertex_candidates
from paretoray.algorithms.base import Weighting, check_gram, register
from paretoray.errors import ConfigError

#: Lower clip of ``m l^`` inside the logarithm of the adjustment (LibMOON's value).
LOG_CLIP = 1e-3
#: Largest factor by which ``step_rule="boost"`` lengthens a balance step ...
BOOST_MAX = 10.0
#: ... and at most ``nu / BOOST_NU``: none within ``nu <= BOOST_NU`` of the ray.
BOOST_NU = 1e-2
#: Upper clip of ``rho = |F_Z| / |F_S|`` (keeps everything finite when ``F_S = 0``).
RHO_MAX = 1e6

_STEP_RULES = ("boost", "none", "reference")


def non_uniformity(values: Tensor, prefs: Tensor, pref_min: float = 1e-4) -> Tensor:
    """EPO's non-uniformity of ``F`` w.r.t. the ray through ``pref``, for every member.

    ``nu = mu_S + rho^2 / 2`` (module docstring); without preference entries below
    ``pref_min`` it is [Mahapatra2020]_'s ``mu(r * F)`` with ``r = 1/pref``. ``nu = 0``
    exactly when ``F`` lies on the ray through ``pref``.

    Args:
        values: A `p x m`-dim tensor of objective values (minimized, positive).
        prefs: A `p x m`-dim tensor of preference vectors on the simplex.
        pref_min: Preference entries below this count as zero.

    Returns:
        A `p`-dim tensor of non-uniformities (``>= 0``).
    """
    _, mu_s, _, rho, _ = _adjustments(values.detach(), prefs.detach(), pref_min)
    return mu_s + 0.5 * rho * rho


def _adjustments(
    values: Tensor, prefs: Tensor, pref_min: float
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """``(rl, mu_S, a_S, rho, a_rho)`` for every member (`p x m`, `p`, `p x m`, `p`, `p x m`).

    ``S``: objectives with ``pref >= pref_min``, ``Z``: the others. ``rl = r * F`` on ``S``
    (0 on ``Z``); ``mu_S``, ``a_S`` are [Mahapatra2020]_'s non-uniformity and adjustment
    over ``S`` alone (``a_S = 0`` on ``Z``); ``rho = |F_Z| / |F_S|`` and ``a_rho =
    sum(r_S F_S) * drho/dF``, scaled like ``a_S = sum(r_S F_S) * dmu_S/dF``. Without ``Z``
    these are the paper's ``rl``, ``mu``, ``a`` and ``rho = 0``, ``a_rho = 0``.
    """
    zero = prefs < pref_min
    F = values.clamp_min(0)
    r = 1.0 / prefs.clamp_min(pref_min)
    rl = torch.where(zero, torch.zeros_like(F), r * F)
    in_s = (~zero).to(F.dtype)
    m_s = in_s.sum(-1, keepdim=True)
    total = rl.sum(-1, keepdim=True)
    tiny = torch.finfo(F.dtype).tiny
    # All-nonpositive members: treat as uniform (mu = 0, a = 0) rather than dividing by 0.
    l_hat = torch.where(total > 0, rl / total.clamp_min(tiny), in_s / m_s)
    mu = torch.xlogy(l_hat, l_hat * m_s).sum(-1)
    a = in_s * r * (torch.log((l_hat * m_s).clamp_min(LOG_CLIP)) - mu[:, None])
    f_z, f_s = F * zero, F * in_s
    n_z = f_z.norm(dim=-1, keepdim=True)
    n_s = f_s.norm(dim=-1, keepdim=True).clamp_min(tiny)
    rho = (n_z / n_s).clamp_max(RHO_MAX)
    # d|F_Z|/dF_Z = F_Z / |F_Z| vanishes on the objectives already at 0.
    d_rho = torch.where(zero, f_z / (n_z.clamp_min(tiny) * n_s), -rho * f_s / (n_s * n_s))
    return rl, mu, a, rho[:, 0], total * d_rho


@register("epo")
class EPO(Weighting):
    """EPO search [Mahapatra2020]_: balance/descent LPs, solved for all members at once.

    Args:
        eps: Non-uniformity threshold between balance (``nu > eps``) and descent mode
            (paper default 1e-4).
        relax: Use the relaxed descent LP (drop ``beta^T c >= min(max c, 0)``).
        pref_min: Preference entries below this count as zero (module docstring).
        step_rule: ``"boost"`` (lengthen short balance steps towards the longest
            objective gradient, by at most ``min(BOOST_MAX, nu / BOOST_NU)``), ``"none"``
            (``alpha = beta`` on the simplex) or ``"reference"`` (``alpha = 10 max(nu, 0.1)
            beta``, the reference code's toy step rule).
        solver: ``"auto"`` (vertex enumeration, HiGHS per member when it would exceed
            ``MAX_CANDIDATES`` vertices), ``"enumerate"`` or ``"highs"``.

    Settings that converge (tests/algorithms/test_epo.py): the toy problem with SGD,
    ``lr=0.1``, 200 steps (with ``step_rule="reference"`` this is the reference code's
    iteration); VLMOP2 with SGD, ``lr=0.2``, 300 steps; ZDT1 with Adam, ``lr=0.01``, 400
    steps -- plain SGD overshoots there because ``df2/dx1`` blows up near ``x1 = 0``;
    DTLZ2 (3 objectives) with Adam, ``lr=0.02``, 300 steps, Das-Dennis preferences
    including the boundary rows (all within ~1.5 degrees of their rays over 5 seeds; at
    ``lr=0.05`` Adam's momentum carries some members into DTLZ2's degenerate box faces
    again, as it can an interior ray close to a face, e.g. (0.75, 0.11, 0.14)). The end
    point sits where ``nu`` first drops below ``eps``: ``r_i F_i`` agree to about
    ``sqrt(eps)`` relatively, not exactly.
    """

    description = "Exact Pareto optimal search: controlled ascent onto the preference ray"
    category = "finite set"
    paper = "Mahapatra & Rajan, Multi-Task Learning with User Preferences, ICML 2020"

    needs_gram = True
    per_member = True

    def __init__(
        self,
        eps: float = 1e-4,
        relax: bool = False,
        pref_min: float = 1e-4,
        step_rule: Literal["boost", "none", "reference"] = "boost",
        solver: Literal["auto", "enumerate", "highs"] = "auto",
    ) -> None:
        if not eps >= 0:
            raise ConfigError(f"`eps` must be >= 0; got {eps!r}.")
        if not 0 < pref_min < 1:
            raise ConfigError(f"`pref_min` must lie in (0, 1); got {pref_min!r}.")
        if step_rule not in _STEP_RULES:
            raise ConfigError(
                f"`step_rule` must be one of {', '.join(map(repr, _STEP_RULES))}; "
                f"got {step_rule!r}.")
        if solver not in ("auto", "enumerate", "highs"):
            raise ConfigError(
                f"`solver` must be 'auto', 'enumerate' or 'highs'; got {solver!r}.")
        self.eps = float(eps)
        self.relax = bool(relax)
        self.pref_min = float(pref_min)
        self.step_rule = step_rule
        self.solver = solver

    def weights(
        self,
        values: Tensor,
        prefs: Tensor,
        /,
        gram: Tensor | None = None,
        context: Tensor | None = None,
    ) -> Tensor:
        """EPO weights ``alpha`` (`p x m`; ``beta`` on the simplex times the step rule's factor)."""
        gram = check_gram("EPO", values, gram)
        p, m = values.shape
        out_dtype = values.dtype
        dt = torch.float64
        F, pref, C = values.detach().to(dt), prefs.detach().to(dt), gram.detach().to(dt)
        C = 0.5 * (C + C.transpose(1, 2))
        rl, mu_s, a_s, rho, a_rho = _adjustments(F, pref, self.pref_min)
        zero = pref < self.pref_min
        on_z = zero & (F > 0)  # zero-preference objectives not at 0 yet
        h = 0.5 * rho * rho
        a_h = rho[:, None] * a_rho  # sum(r_S F_S) * d(rho^2/2)/dF
        nu = mu_s + h
        z_lead = (h > mu_s) & on_z.any(-1)  # the zero-preference part dominates nu
        c = torch.einsum("pij,pj->pi", C, a_s + torch.where(z_lead[:, None], a_h, 0.0))
        c_nu = torch.einsum("pij,pj->pi", C, a_s + a_h)  # first-order change of nu
        balance = nu > self.eps  # p
        to_zero = ~balance & (rho > self.eps)
        descent = ~balance & ~to_zero

        # Balance-mode right-hand side (EPOSearch's `rhs`), with -inf as a mask.
        J = c > 0
        J_star = torch.where(z_lead[:, None], on_z, rl == rl.amax(-1, keepdim=True))
        has_J = J.any(-1, keepdim=True)
        rhs_bal = torch.where(J, torch.zeros_like(c), c)  # value for j not in J
        keep_bal = ~J | J_star
        rhs_bal = torch.where(J_star, torch.zeros_like(c), rhs_bal)
        rhs_bal = torch.where(has_J, rhs_bal, torch.zeros_like(c))
        keep_bal = keep_bal | ~has_J

        zeros = torch.zeros_like(c)
        b_C = torch.where(balance[:, None], rhs_bal, zeros)
        m_C = torch.where(balance[:, None], keep_bal,
                          torch.where(to_zero[:, None], on_z, torch.ones_like(keep_bal)))
        # Restricted descent (and zero mode): beta^T c_nu >= min(max_j c_nu_j, 0).
        b_x = c_nu.amax(-1).clamp_max(0)[:, None]
        m_x = (to_zero | (descent & (not self.relax)))[:, None]
        obj = torch.where(balance[:, None], c, torch.where(
            to_zero[:, None], torch.einsum("pij,pj->pi", C, a_rho),
            torch.einsum("pij,pj->pi", C, (~zero).to(dt))))  # 1_S^T C beta = (C 1_S)^T beta

        eye = torch.eye(m, dtype=dt, device=F.device).expand(p, m, m)
        A_ub = torch.cat([eye, C, c_nu[:, None, :]], dim=1)  # p x (2m+1) x m
        b_ub = torch.cat([zeros, b_C, b_x], dim=1)
        mask = torch.cat([torch.ones_like(m_C), m_C, m_x], dim=1)
        A_eq = torch.ones(p, 1, m, dtype=dt, device=F.device)
        b_eq = torch.ones(p, 1, dtype=dt, device=F.device)
        use_highs = self.solver == "highs" or (
            self.solver == "auto" and n_vertex_candidates(m, 1, 2 * m + 1) > MAX_CANDIDATES)
        if use_highs:
            beta, ok = lp_highs(obj, A_eq, b_eq, A_ub, b_ub, mask)
        else:
            beta, ok = lp_vertices(obj, A_eq, b_eq, A_ub, b_ub, mask)
        beta = beta.clamp_min(0)
        beta = beta / beta.sum(-1, keepdim=True).clamp_min(torch.finfo(dt).tiny)
        fallback = pref / pref.sum(-1, keepdim=True)
        alpha = torch.where(ok[:, None], beta, fallback)
        if self.step_rule == "boost":
            step = torch.einsum("pi,pij,pj->p", alpha, C, alpha).clamp_min(0).sqrt()
            longest = C.diagonal(dim1=1, dim2=2).amax(-1).clamp_min(0).sqrt()
            boost = torch.minimum(longest / step.clamp_min(torch.finfo(dt).tiny), nu / BOOST_NU)
            alpha = alpha * torch.where(balance, boost.clamp(1.0, BOOST_MAX), 1.0)[:, None]
        elif self.step_rule == "reference":
            alpha = alpha * (10.0 * nu.clamp_min(0.1))[:, None]
        return alpha.to(out_dtype)
