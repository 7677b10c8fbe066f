"""Pareto Multi-Task Learning (PMTL): one sub-problem per sector of objective space.

References:

.. [Lin2019] X. Lin, H.-L. Zhen, Z. Li, Q. Zhang, S. Kwong. "Pareto Multi-Task Learning".
   NeurIPS 2019, arXiv 1912.12854. Reference code: Xi-L/ParetoMTL.

What is implemented ([Lin2019]_ Sec. 3.2-3.3, Eq. 6-14): the directions ``u_1..u_K``
split objective space into sectors; member ``k`` solves
``min F(x) s.t. G_j(x) = (u_j - u_k)^T F(x) <= 0`` for the directions ``j`` next to ``u_k``
(``F`` in the sector of ``u_k``: ``cos(F, u_k) >= cos(F, u_j)`` for unit ``u``). Its
direction QP ``min_{d, a} a + ||d||^2/2 s.t. <g_i, d> <= a, <grad G_j, d> <= a (j active)``
has as dual the min-norm point of ``{g_i} U {sum_i w_ji g_i}``, ``w_j = u_j - u_k``, which
needs only the Gram matrix: with ``V = [I_m; W]`` (``W`` the rows ``w_j``) the extended
Gram is ``V G V^T`` and, for the min-norm weights ``(lam, beta)``, the step weights are
``alpha = lam + W^T beta`` (entries may be negative).

* Gradient normalization: the QP sees unit objective gradients ``g_i = grad f_i /
  ||grad f_i||`` (``G -> D^-1/2 G D^-1/2``), so neither a vanishing gradient (VLMOP2's flat
  region, where the raw feasibility direction is blocked by the box) nor a dominant one
  decides the direction; the returned weights act on the raw gradients
  (``alpha_i / ||grad f_i||``). Each objective still does not increase to first order
  (``<grad f_i, d> = ||grad f_i|| <g_i, d> <= 0``); ``normalize=False`` gives the raw QP.
  A gradient shorter than ``GRAD_FLOOR = 1e-8`` times the member's longest counts as zero
  (it would be rounding noise at unit length); so does such a QP vector.
* Feasibility phase (Eq. 12-14, the initial-solution search): a member with some violated
  constraint, ``max_j G_j > 0``, takes the min-norm point of the violated
  ``sum_i w_ji g_i`` only, ``alpha = W_viol^T beta``: every violated ``G_j`` decreases.
* Sector phase (Eq. 10-11): a feasible member uses ``{g_i}`` plus the active constraints
  (the paper's ``I_eps``, see ``active_eps``); with none it is plain MGDA.
* Every vector of the QP (objective and constraint gradients) enters at unit length:
  the constraint gradients ``sum_i w_ji g_i`` shrink with the angle between neighbouring
  directions, and with ``K = 100`` they would otherwise make the min-norm point vanish
  far from the front. Scaling a vector changes no sign in ``<v, d> <= a <= 0``, so the
  first-order guarantees of both phases hold as in the paper.

Neighbours: a sector is bounded by the bisectors with its neighbouring directions only,
so member ``k`` is constrained by ``2 (m - 1)`` directions, not ``K - 1``: for ``m = 2``
its two angular neighbours on the quarter circle (one at the ends), for ``m > 2`` the
``2 (m - 1)`` nearest distinct directions by angle. They are computed once per set of
directions (cached while the ``prefs``/``directions`` tensors are unchanged), so a step
costs ``O(p m^2)``, not ``O(p K)``. Of those, the ``m - 1`` nearest to their bisector
enter the QP (``max_active``): at most ``m - 1`` sector bounds meet at one point, and for
``m = 2`` a point is near one bound only, so the QP has ``2m - 1`` vectors instead of
``3m - 2``. For ``m = 2`` the neighbour sectors are exactly the
paper's; for ``m > 2`` a cell with more than ``2 (m - 1)`` Voronoi neighbours (e.g. 6 in
a Das-Dennis lattice of ``m = 3``) is bounded only by the nearest ones (raise
``neighbours``).

Preferences: paretoray's preference rows are the sector directions; ``u = pref / ||pref||``.
PMTL is population-coupled in that sense (``per_member = False``): the set of ``u``'s is
the rows of ``prefs`` of the whole call (or the fixed ``directions`` option), and member
``k``'s own sector is that of its own row. The end point is somewhere in the sector (often
near its boundary), not on the ray.

Differences from the reference code and LibMOON:

* batched over members and over any ``m`` (LibMOON hard-codes ``m = 2`` when it rebuilds
  the weights);
* the phase is decided per member at every call (violated -> feasibility phase), not by a
  fixed split of the iteration budget (the reference: 20% of the iterations) nor
  LibMOON's switch of the whole population once every member is feasible; stateless, so
  a member that drifts out of its sector goes back to the feasibility phase;
* the constraint test uses ``G_j / ||F||`` as in the reference code; a constraint is
  active when ``G_j / ||F|| >= -active_eps (1 - u_j.u_k)``, i.e. ``eps`` is measured in
  units of the sector's size (``G_j / ||F||`` runs from ``-(1 - u_j.u_k)`` on the own ray
  to 0 on the bisector). The paper's absolute ``eps`` (the reference code: ``> 0``) makes
  both bounds of a narrow sector active everywhere once ``K`` is large (``K = 100``:
  ``1 - cos(0.9 deg) = 1.2e-4``), their nearly opposite gradients cancel in the min-norm
  point and members stop far from the front (ZDT1, ``K = 100``: HV 0.44 instead of 0.87);
* the gradients are unit-normalized and every QP vector enters at unit length (above);
  the public NeurIPS scripts (``synthetic_example``, ``multiMNIST/train.py``) use the raw
  gradients and only rescale the weights to ``m / sum|alpha|`` (MultiMNIST), which leaves
  VLMOP2's members stuck in the corner of the box where the raw feasibility direction
  points out of it;
* duplicated directions (``u_j = u_k``, e.g. two members with the same preference) are no
  constraint of each other.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from paretoray.algorithms._lp import min_norm
from paretoray.algorithms.base import Weighting, check_gram, register
from paretoray.errors import ConfigError, ShapeError


def sector_constraints(values: Tensor, prefs: Tensor, directions: Tensor) -> Tensor:
    """PMTL's normalized constraint values ``G_j = (u_j - u_k)^T F / ||F||`` for every member.

    ``G_j <= 0`` for all ``j`` means ``F`` lies in the sector of ``u_k`` (unit ``u``'s).

    Args:
        values: A `p x m`-dim tensor of objective values.
        prefs: A `p x m`-dim tensor: member ``k``'s own direction ``u_k`` (any positive scale).
        directions: A `K x m`-dim tensor of all sector directions.

    Returns:
        A `p x K`-dim tensor of constraint values, ``-inf`` where ``u_j = u_k`` (a member's
        own or a duplicated direction is no constraint).
    """
    u_own, u_all = _unit(prefs), _unit(directions)
    f_hat = _unit(values)
    g = f_hat @ u_all.T - (f_hat * u_own).sum(-1, keepdim=True)  # p K, one matmul
    same = (u_own @ u_all.T) >= 1 - 1e-12  # ||u_j - u_k||^2 = 2 - 2 u_j.u_k
    return torch.where(same, torch.full_like(g, -torch.inf), g)


def neighbours(prefs: Tensor, directions: Tensor, k: int | None = None) -> Tensor:
    """The sector directions next to each member's own: indices into ``directions``.

    ``m = 2`` (and ``k`` None or 2): the angular neighbours on either side of ``u_k``
    among the distinct directions (one for the end directions). Otherwise the ``k``
    nearest distinct directions by angle (``k = 2 (m - 1)`` by default; ties go to the
    lower index). Cost ``O(p K log K)`` once per set of directions.

    Args:
        prefs: A `p x m`-dim tensor of the members' own directions (any positive scale).
        directions: A `K x m`-dim tensor of all sector directions.
        k: Neighbours per member; None means ``2 (m - 1)``.

    Returns:
        A `p x s`-dim long tensor (``s = min(k, K)``), ``-1`` in unused slots.
    """
    m = prefs.shape[1]
    k = 2 * (m - 1) if k is None else int(k)
    u_own, u_all = _unit(prefs.double()), _unit(directions.double())
    cos = u_own @ u_all.T  # p K
    same = cos >= 1 - 1e-12
    if m == 2 and k == 2:
        ang_own = torch.atan2(u_own[:, 1], u_own[:, 0])[:, None]
        ang = torch.atan2(u_all[:, 1], u_all[:, 0])[None, :]
        inf = torch.full_like(cos, torch.inf)
        below = torch.where(~same & (ang < ang_own), ang_own - ang, inf)
        above = torch.where(~same & (ang > ang_own), ang - ang_own, inf)
        (d_lo, i_lo), (d_hi, i_hi) = below.min(1), above.min(1)
        idx = torch.stack([i_lo, i_hi], 1)
        ok = torch.stack([torch.isfinite(d_lo), torch.isfinite(d_hi)], 1)
        return torch.where(ok, idx, -1)
    s = max(1, min(k, cos.shape[1]))
    # a stable sort, not topk: lattices (Das-Dennis) tie many angles; the lowest index wins
    val, idx = torch.sort(torch.where(same, -torch.inf, cos), dim=1, descending=True,
                          stable=True)
    val, idx = val[:, :s], idx[:, :s]
    return torch.where(torch.isfinite(val), idx, -1)


#: A gradient (or QP vector) shorter than this fraction of the member's longest counts
#: as zero when the QP is normalized (see :func:`_scales`).
GRAD_FLOOR = 1e-8


def _scales(norms: Tensor) -> Tensor:
    """What each objective gradient or QP vector is divided by (`p x n` norms in and out).

    Its length, or ``inf`` -- it counts as zero, and so does its weight -- when it is
    shorter than :data:`GRAD_FLOOR` times the member's longest. Blown up to unit length,
    a vanished gradient (DTLZ2's members on the front's edge have one ~1e-16 long) is
    rounding noise, and its weight ``alpha_i / ||grad f_i||`` ~1e16 made members' paths
    depend on the order of floating-point operations.
    """
    vanished = norms <= GRAD_FLOOR * norms.amax(-1, keepdim=True)
    return torch.where(vanished, torch.inf, norms)


def _scales_host(norms: np.ndarray) -> np.ndarray:
    """:func:`_scales` in numpy (`... x n`)."""
    return np.where(norms <= GRAD_FLOOR * norms.max(-1, keepdims=True), np.inf, norms)


def _unit(v: Tensor) -> Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(v.dtype).tiny)


@register("pmtl")
class PMTL(Weighting):
    """Pareto MTL [Lin2019]_: sector-constrained min-norm directions, batched.

    Args:
        active_eps: A feasible member's constraint ``j`` is active when
            ``G_j / ||F|| >= -active_eps (1 - u_j.u_k)``: within ``active_eps`` of the way
            from its bisector to its own ray (the paper's ``eps``, relative to the sector;
            the reference code's strict ``> 0`` is ``active_eps = 0``).
        neighbours: Neighbouring directions that bound each member's sector; None means
            ``2 (m - 1)`` (exact for ``m = 2``; see :func:`neighbours`).
        directions: A fixed `K x m`-dim tensor of sector directions; None uses the rows of
            ``prefs`` of each call (the whole population).
        normalize: Unit-normalize the objective gradients before the QP (default; see the
            module docstring).
        max_active: Constraints per member that enter the QP, those nearest to their
            bisector (in sector units); None means ``m - 1``, the most that meet at one
            point of a sector (exact for ``m = 2``: a point is near one bound only).

    Converges on the toy problem with ``optimizer="sgd"``, ``lr=0.2-0.5`` in 100-200 steps
    and on VLMOP2/ZDT1 with the engine's default Adam (tests/algorithms/test_pmtl.py).

    Cost: the neighbours once per set of directions (``O(p K)``), then per step
    ``O(p m s)`` for the ``s = 2 (m - 1)`` constraint values and a min-norm problem over
    ``m + s`` vectors per member, solved exactly by support enumeration (supports up to
    ``m + 1``).
    """

    description = "Pareto MTL: one sector-constrained MGDA sub-problem per preference"
    category = "finite set"
    paper = "Lin et al., Pareto Multi-Task Learning, NeurIPS 2019"
    needs_gram = True
    per_member = False

    def __init__(
        self,
        active_eps: float = 0.3,
        neighbours: int | None = None,
        directions: Tensor | None = None,
        normalize: bool = True,
        max_active: int | None = None,
    ) -> None:
        if not active_eps >= 0:
            raise ConfigError(f"`active_eps` must be >= 0; got {active_eps!r}.")
        if neighbours is not None and (
                isinstance(neighbours, bool) or not isinstance(neighbours, int) or neighbours < 1):
            raise ConfigError(
                f"`neighbours` must be a positive integer or None; got {neighbours!r}.")
        if directions is not None:
            directions = torch.as_tensor(directions)
            if directions.dim() != 2 or not bool((directions >= 0).all()):
                raise ConfigError(
                    "`directions` must be a `K x m` tensor of nonnegative preference vectors.")
        self.active_eps = float(active_eps)
        self.neighbours = neighbours
        self.directions = directions
        self.normalize = bool(normalize)
        if max_active is not None and (
                isinstance(max_active, bool) or not isinstance(max_active, int) or max_active < 1):
            raise ConfigError(
                f"`max_active` must be a positive integer or None; got {max_active!r}.")
        self.max_active = max_active
        self._cache: tuple[Any, ...] | None = None
        self._host: tuple[Any, ...] | None = None

    def _neighbour_index(self, pref: Tensor, dirs: Tensor) -> Tensor:
        """:func:`neighbours`, recomputed only when ``pref``/``dirs`` change."""
        stamp = (pref.shape, pref._version, dirs.shape, dirs._version, pref.device)
        c = self._cache
        if c is None or c[0] is not pref or c[1] is not dirs or c[2] != stamp:
            idx = neighbours(pref, dirs, self.neighbours).to(pref.device)
            self._cache = c = (pref, dirs, stamp, idx)
        return c[3]

    def weights(
        self,
        values: Tensor,
        prefs: Tensor,
        /,
        gram: Tensor | None = None,
        context: Tensor | None = None,
    ) -> Tensor:
        """PMTL weights ``alpha = lam + W^T beta`` (`p x m`, may be negative)."""
        gram = check_gram("PMTL", values, gram)
        p, m = values.shape
        dt = torch.float64
        dirs_in = prefs if self.directions is None else self.directions
        if dirs_in.shape[1] != m:
            raise ShapeError(f"`directions` must have {m} columns; got {tuple(dirs_in.shape)}.")
        idx = self._neighbour_index(prefs, dirs_in)  # p s
        q = min(self.max_active or m - 1, idx.shape[1])
        if values.device.type == "cpu" and m <= 3:
            alpha = self._weights_host(values, prefs, gram, dirs_in, idx)
            if alpha is not None:
                return alpha
        F, G = values.detach().to(dt), gram.detach().to(dt)
        u_own = _unit(prefs.detach().to(dt))
        u_all = _unit(dirs_in.detach().to(F.device, dt))
        valid = idx >= 0
        W = u_all[idx.clamp_min(0)] - u_own[:, None, :]  # p s m: rows w_j = u_j - u_k
        W = torch.where(valid[..., None], W, 0.0)
        g = torch.einsum("psm,pm->ps", W, _unit(F))  # G_j / ||F||
        # G_j runs from -(1 - u_j.u_k) on the own ray to 0 on the bisector: eps in those units
        width = 1.0 - (u_all[idx.clamp_min(0)] * u_own[:, None, :]).sum(-1)  # p s
        if q < idx.shape[1]:  # only the q constraints nearest to their bisector enter the QP
            rel = torch.where(valid, g / width.clamp_min(torch.finfo(dt).tiny), -torch.inf)
            top = torch.topk(rel, q, dim=1).indices  # p q
            W = W.gather(1, top[..., None].expand(p, q, m))
            g, width, valid = g.gather(1, top), width.gather(1, top), valid.gather(1, top)
        violated = valid & (g > 0)
        infeasible = violated.any(-1)  # p
        active = valid & (g >= -self.active_eps * width)
        if self.normalize:
            scale = _scales(G.diagonal(dim1=1, dim2=2).clamp_min(0).sqrt())  # p m
            G = G / (scale[:, :, None] * scale[:, None, :])
        # One min-norm call for both phases: coordinates = [e_1..e_m, w_1..w_s].
        Vmat = torch.cat([torch.eye(m, dtype=dt, device=F.device).expand(p, m, m), W], dim=1)
        Q = Vmat @ G @ Vmat.transpose(1, 2)  # p (m+s) (m+s)
        mask_obj = (~infeasible)[:, None].expand(p, m)
        mask_con = torch.where(infeasible[:, None], violated, active)
        mask = torch.cat([mask_obj, mask_con], dim=1)
        if self.normalize:  # every vector of the QP at unit length (see the module doc)
            nq = _scales(Q.diagonal(dim1=1, dim2=2).clamp_min(0).sqrt())
            coef = min_norm(Q / (nq[:, :, None] * nq[:, None, :]), mask, max_support=m + 1) / nq
        else:
            coef = min_norm(Q, mask, max_support=m + 1)
        alpha = torch.einsum("pn,pnm->pm", coef, Vmat)
        if self.normalize:
            alpha = alpha / scale
        return alpha.to(values.dtype)

    def _weights_host(self, values: Tensor, prefs: Tensor, gram: Tensor, dirs_in: Tensor,
                      idx: Tensor) -> Tensor | None:
        """:meth:`weights` for ``m <= 3`` on a CPU, in float64 numpy.

        The same steps as the torch program (which serves other devices and larger ``m``):
        at ``p = 100`` on a CPU torch's per-call dispatch, not arithmetic, is the cost, and
        numpy's is a fraction of it. The direction-only quantities are computed once per
        set of directions. None on degenerate input (the torch program then decides).
        """
        from paretoray.algorithms._lp import min_norm_host

        c = self._host
        if c is None or c[0] is not idx:
            u_own = _unit(prefs.detach().to("cpu", torch.float64)).numpy()
            u_all = _unit(dirs_in.detach().to("cpu", torch.float64)).numpy()
            ix = idx.cpu().numpy()
            valid = ix >= 0
            u_nb = u_all[np.maximum(ix, 0)]  # p s m
            W = np.where(valid[..., None], u_nb - u_own[:, None, :], 0.0)
            width = 1.0 - (u_nb * u_own[:, None, :]).sum(-1)
            self._host = c = (idx, W, valid, np.maximum(width, np.finfo(float).tiny))
        _, W, valid, width = c
        F = values.detach().to("cpu", torch.float64).numpy()
        G = gram.detach().to("cpu", torch.float64).numpy()
        p, m = F.shape
        q = min(self.max_active or m - 1, W.shape[1])
        Fh = F / np.maximum(np.sqrt(np.einsum("pm,pm->p", F, F)), np.finfo(float).tiny)[:, None]
        g = np.einsum("psm,pm->ps", W, Fh)  # G_j / ||F||
        if q < g.shape[1]:  # the q constraints nearest to their bisector enter the QP
            rel = np.where(valid, g / width, -np.inf)
            top = (rel.argmax(1)[:, None] if q == 1
                   else np.argsort(-rel, axis=1, kind="stable")[:, :q])  # p q
            r = np.arange(p)[:, None]
            W, g, width, valid = W[r, top], g[r, top], width[r, top], valid[r, top]
        violated = valid & (g > 0)
        infeasible = violated.any(-1)
        active = valid & (g >= -self.active_eps * width)
        if m == 2 and W.shape[1] == 1:
            return self._weights_host_2(G, W[:, 0], infeasible, violated[:, 0], active[:, 0],
                                        values)
        if self.normalize:
            scale = _scales_host(np.sqrt(np.maximum(np.einsum("pii->pi", G), 0.0)))
            G = G / (scale[:, :, None] * scale[:, None, :])
        V = np.concatenate([np.broadcast_to(np.eye(m), (p, m, m)), W], 1)  # p (m+q) m
        Q = V @ G @ V.transpose(0, 2, 1)
        mask = np.concatenate([np.repeat(~infeasible[:, None], m, 1),
                               np.where(infeasible[:, None], violated, active)], 1)
        if self.normalize:  # every vector of the QP at unit length
            nq = _scales_host(np.sqrt(np.maximum(np.einsum("pii->pi", Q), 0.0)))
            Q = Q / (nq[:, :, None] * nq[:, None, :])
        n = Q.shape[1]
        coef = min_norm_host(Q, mask, m + 1) if m + 1 <= 4 and n <= 6 else None
        if coef is None:
            return None
        if self.normalize:
            coef = coef / nq
        alpha = np.einsum("pn,pnm->pm", coef, V)
        if self.normalize:
            alpha = alpha / scale
        return torch.from_numpy(alpha).to(dtype=values.dtype, device=values.device)

    def _weights_host_2(self, G: np.ndarray, w: np.ndarray, infeasible: np.ndarray,
                        violated: np.ndarray, active: np.ndarray,
                        values: Tensor) -> Tensor | None:
        """``m = 2``, one constraint ``w`` (`p x 2`) in the QP: the extended Gram matrix of
        ``{g_1, g_2, w_1 g_1 + w_2 g_2}`` entry by entry, then the three-vector min-norm
        closed forms (:func:`~paretoray.algorithms._lp.min_norm_3_entries`)."""
        from paretoray.algorithms._lp import min_norm_3_entries

        g00, g01, g11 = G[:, 0, 0], 0.5 * (G[:, 0, 1] + G[:, 1, 0]), G[:, 1, 1]
        if self.normalize:
            s0, s1 = _scales_host(np.sqrt(np.maximum(np.array([g00, g11]).T, 0.0))).T
            g00, g01, g11 = g00 / (s0 * s0), g01 / (s0 * s1), g11 / (s1 * s1)
        w1, w2 = w[:, 0], w[:, 1]
        q02, q12 = w1 * g00 + w2 * g01, w1 * g01 + w2 * g11
        q22 = w1 * q02 + w2 * q12
        feasible = ~infeasible
        mask = np.array([feasible, feasible, np.where(infeasible, violated, active)]).T
        if self.normalize:  # every vector of the QP at unit length
            n0, n1, n2 = _scales_host(np.sqrt(np.maximum(np.array([g00, g11, q22]).T, 0.0))).T
            coef = min_norm_3_entries(g00 / (n0 * n0), g01 / (n0 * n1), q02 / (n0 * n2),
                                      g11 / (n1 * n1), q12 / (n1 * n2), q22 / (n2 * n2), mask)
            if coef is None:
                return None
            c0, c1, c2 = coef[0] / n0, coef[1] / n1, coef[2] / n2
        else:
            coef = min_norm_3_entries(g00, g01, q02, g11, q12, q22, mask)
            if coef is None:
                return None
            c0, c1, c2 = coef
        a0, a1 = c0 + c2 * w1, c1 + c2 * w2
        if self.normalize:  # the weights act on the raw gradients
            a0, a1 = a0 / s0, a1 / s1
        alpha = np.array([a0, a1]).T
        return torch.from_numpy(alpha).to(dtype=values.dtype, device=values.device)
