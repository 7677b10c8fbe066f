"""The one-member-at-a-time reference for ``benchmarks/peers.py`` (LibMOON's *cost*).

Written from the method descriptions in ``/work/shared/ALGORITHMS.md`` (sections 0-6, 9),
not from LibMOON's code, but shaped like LibMOON's gradient solvers' iteration
(``GradBaseSolver.solve``) so that it costs what LibMOON costs, no more:

1. one batched forward pass of the members (LibMOON: ``problem.evaluate(xs_var)``);
2. the Jacobian loop: one ``torch.autograd.grad`` per member and objective on that graph
   (LibMOON's ``get_moo_Jacobian_batch``: ``y[k][i].backward(retain_graph=True)``); it runs
   for every method, the scalarizations included, as in LibMOON;
3. the weights ``alpha`` (`n x m`):

   * linear / Tchebycheff / modified Tchebycheff / smooth Tchebycheff: closed forms on the
     whole batch in torch (LibMOON's ``agg_func(fs, prefs)``), nothing more;
   * EPO: the balance/descent LP of Mahapatra & Rajan with ``r = 1/pref``, one
     ``scipy.optimize.linprog(method="highs")`` call per member (falls back to ``pref``);
   * MGDA: ``min_{a in simplex} a^T G a``, one ``scipy.optimize.minimize(method="SLSQP")``
     call per member;
   * PMTL: paretoray's published-PMTL iteration (unit objective gradients; the min-norm
     point of the unit objective and active neighbour-constraint gradients, or of the
     violated ones only in the feasibility phase), one SLSQP call per member;
   * hv: the hypervolume gradient recomputed every iteration with moocore -- nondominated
     layers by ``moocore.pareto_rank``, then for each member and each axis ``i`` the
     ``(m-1)``-D exclusive contribution of its projection w.r.t. the layer points with a
     smaller ``i``-th value (Emmerich & Deutz), two moocore hypervolume calls per
     (member, axis) when ``m >= 3``; unit-normalized per member;

4. one batched step: ``sum(alpha * F)`` backward (LibMOON), or ``J^T alpha`` from the
   Jacobian for the Gram-based methods (EPO, MGDA, PMTL, whose Jacobian first loses the
   components that push a member out of an active bound, as paretoray's engine does),
   one Adam/SGD step on the members' tensor, then the box projection
   ``problem.project`` -- the same clamp paretoray applies. A member whose unprojected
   iterate left the box is counted, and members with non-finite values at the end are
   counted as NaN. LibMOON's per-iteration pymoo hypervolume is left out.

Preference conventions and constants are those of paretoray's implementations so that
both sides solve the same iteration: EPO ``r = 1/max(pref, 1e-4)``, ``eps = 1e-4``, restricted
descent; Tchebycheff ``l = (1/pref)/sum(1/pref)``; mTche ``i* = argmax F_i / pref_i``; smooth
Tchebycheff ``mu = 0.1``; PMTL ``u = pref/||pref||``, the ``2(m-1)`` neighbouring directions
(angular neighbours for ``m = 2``; found once), of which the ``m - 1`` nearest to their
bisector enter the QP, ``active_eps = 0.3`` of the sector;
hv: reference point ``max F + 0.5 (max F - min F)`` over the population, as paretoray's
dynamic reference.

Population-coupled methods (hv; PMTL only through the set of preference directions)
read every member's current values; :class:`OneAtATime` can step a subset of the members
(``active``, the same subset at every call) while the others stay where they are, which
is how ``peers.py`` times the reference on a few members and scales to ``K``. Its batched
graph then holds only that subset, so each ``autograd.grad`` call is cheaper than
LibMOON's on all ``K`` members: the scaled reference time is a lower bound of LibMOON's.
"""

from __future__ import annotations

import functools
import time
import warnings

import numpy as np
import torch
from scipy.optimize import linprog, minimize

METHODS = ("epo", "pmtl", "mgda", "linear", "tchebycheff", "mtche", "smooth_tchebycheff", "hv")
NEEDS_ALL_VALUES = ("hv",)  # weights of member k read every member's current values

EPO_EPS = 1e-4
EPO_PREF_MIN = 1e-4
EPO_LOG_CLIP = 1e-3
TCH_FLOOR = 1e-6
STCH_MU = 0.1
PMTL_ACTIVE_EPS = 0.3
#: paretoray's ``pmtl.GRAD_FLOOR``: a gradient shorter than this fraction of the longest
#: counts as zero in the normalized QP.
PMTL_GRAD_FLOOR = 1e-8
HV_MARGIN = 0.5


# ---------------------------------------------------------------------- weightings
def epo_weights(F: np.ndarray, G: np.ndarray, pref: np.ndarray) -> np.ndarray:
    """EPO's LP for one member (ALGORITHMS.md section 5), one HiGHS call."""
    m = F.shape[0]
    r = 1.0 / np.maximum(pref, EPO_PREF_MIN)
    rl = r * np.maximum(F, 0.0)
    total = rl.sum()
    l_hat = rl / total if total > 0 else np.full(m, 1.0 / m)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = float(np.sum(np.where(l_hat > 0, l_hat * np.log(m * l_hat), 0.0)))
    a = r * (np.log(np.maximum(m * l_hat, EPO_LOG_CLIP)) - mu)
    C = 0.5 * (G + G.T)
    c = C @ a
    rows: list[np.ndarray] = []
    rhs: list[float] = []
    if mu > EPO_EPS:  # balance mode: max c^T beta s.t. (C beta)_j >= rhs_j
        obj = c
        J = c > 0
        J_star = rl == rl.max()
        for j in range(m):
            if J.any():
                if J_star[j]:
                    rows.append(C[j])
                    rhs.append(0.0)
                elif not J[j]:
                    rows.append(C[j])
                    rhs.append(float(c[j]))
            else:
                rows.append(C[j])
                rhs.append(0.0)
    else:  # descent mode (restricted): max 1^T C beta s.t. C beta >= 0, beta^T c >= min(max c, 0)
        obj = C.sum(0)
        rows.extend(C)
        rhs.extend([0.0] * m)
        rows.append(c)
        rhs.append(min(float(c.max()), 0.0))
    A_ub = -np.asarray(rows) if rows else None
    b_ub = -np.asarray(rhs) if rows else None
    res = linprog(-obj, A_ub=A_ub, b_ub=b_ub, A_eq=np.ones((1, m)), b_eq=[1.0],
                  bounds=[(0, None)] * m, method="highs")
    if res.status != 0:
        return pref / pref.sum()
    beta = np.maximum(res.x, 0.0)
    return beta / beta.sum()


def min_norm_slsqp(Q: np.ndarray) -> np.ndarray:
    """``argmin_{a in simplex} a^T Q a`` by SLSQP (Q scaled to unit trace first)."""
    n = Q.shape[0]
    if n == 1:
        return np.ones(1)
    Q = 0.5 * (Q + Q.T)
    scale = np.trace(Q)
    Qs = Q / scale if scale > 0 else Q
    res = minimize(lambda a: a @ Qs @ a, np.full(n, 1.0 / n), jac=lambda a: 2.0 * Qs @ a,
                   bounds=[(0.0, 1.0)] * n,
                   constraints=[{"type": "eq", "fun": lambda a: a.sum() - 1.0,
                                 "jac": lambda a: np.ones(n)}],
                   method="SLSQP", options={"ftol": 1e-12, "maxiter": 200})
    a = np.maximum(res.x, 0.0)
    return a / a.sum() if a.sum() > 0 else np.full(n, 1.0 / n)


def pmtl_neighbours(units: np.ndarray) -> list[np.ndarray]:
    """Each direction's neighbours (numpy, once): angular for m = 2, else 2(m-1) nearest."""
    K, m = units.shape
    cos = units @ units.T
    same = cos >= 1 - 1e-12
    out = []
    if m == 2:
        ang = np.arctan2(units[:, 1], units[:, 0])
        for k in range(K):
            below = np.flatnonzero(~same[k] & (ang < ang[k]))
            above = np.flatnonzero(~same[k] & (ang > ang[k]))
            nb = ([below[np.argmax(ang[below])]] if below.size else []) + \
                 ([above[np.argmin(ang[above])]] if above.size else [])
            out.append(np.asarray(nb, dtype=int))
        return out
    for k in range(K):
        c = np.where(same[k], -np.inf, cos[k])
        top = np.argsort(-c, kind="stable")[: 2 * (m - 1)]
        out.append(top[np.isfinite(c[top])])
    return out


def unit_gram(G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``G_ij / (s_i s_j)`` for ``s_i = ||v_i||``; a vector shorter than
    ``PMTL_GRAD_FLOOR`` times the longest counts as zero (``s_i = inf``)."""
    norms = np.sqrt(np.maximum(np.diag(G), 0.0))
    scale = np.where(norms <= PMTL_GRAD_FLOOR * norms.max(), np.inf, norms)
    return G / np.outer(scale, scale), scale


def pmtl_weights(F: np.ndarray, G: np.ndarray, k: int, units: np.ndarray,
                 nbrs: list[np.ndarray]) -> np.ndarray:
    """Pareto MTL's direction for member ``k`` (ALGORITHMS.md section 6), one SLSQP call."""
    m = F.shape[0]
    u_k, nb = units[k], nbrs[k]
    W = units[nb] - u_k  # s x m
    g = W @ (F / max(np.linalg.norm(F), 1e-300))  # (u_j - u_k)^T F / ||F||
    width = 1.0 - units[nb] @ u_k
    keep = np.argsort(-(g / width), kind="stable")[: m - 1]  # the m-1 nearest their bisector
    W, g, width = W[keep], g[keep], width[keep]
    Gn, scale = unit_gram(G)  # unit objective gradients
    violated = g > 0
    # feasibility phase: min-norm over the violated constraint gradients only
    sector = np.vstack([np.eye(m), W[g >= -PMTL_ACTIVE_EPS * width]])
    V = W[violated] if violated.any() else sector
    Q = V @ Gn @ V.T
    Qn, nq = unit_gram(Q)
    coef = min_norm_slsqp(Qn) / nq  # every QP vector at unit length
    return (V.T @ coef) / scale


def scalar_weights(method: str, F: torch.Tensor, pref: torch.Tensor) -> torch.Tensor:
    """Closed-form weights of the scalarizations for a batch (`n x m`), in torch."""
    if method == "linear":
        return pref / pref.sum(1, keepdim=True)
    if method == "mtche":
        lam = pref.clamp_min(TCH_FLOOR)
        i = (F / lam).argmax(1, keepdim=True)
        return torch.zeros_like(F).scatter(1, i, 1.0 / lam.gather(1, i))
    lam = 1.0 / pref.clamp_min(TCH_FLOOR)
    lam = lam / lam.sum(1, keepdim=True)
    if method == "tchebycheff":
        i = (lam * F).argmax(1, keepdim=True)
        return torch.zeros_like(F).scatter(1, i, lam.gather(1, i))
    if method == "smooth_tchebycheff":
        return lam * torch.softmax(lam * F / STCH_MU, dim=1)
    raise ValueError(method)


def hv_reference(F_all: np.ndarray) -> np.ndarray:
    """paretoray's dynamic reference point ``hi + margin * (hi - lo)``."""
    hi, lo = F_all.max(0), F_all.min(0)
    span = hi - lo
    span = np.where(span > 0, span, np.maximum(np.abs(hi), 1.0))
    return hi + HV_MARGIN * span


def hv_layers(F_all: np.ndarray) -> np.ndarray:
    import moocore

    return np.asarray(moocore.pareto_rank(F_all))


def hv_grad_member(F_all: np.ndarray, layer: np.ndarray, ref: np.ndarray, k: int) -> np.ndarray:
    """``-dHV/dF_k`` of member ``k`` in its own layer, via moocore on projections."""
    import moocore

    y = F_all[k]
    m = y.shape[0]
    same = layer == layer[k]
    same[k] = False
    out = np.zeros(m)
    if not (y < ref).all():
        return np.maximum(y - ref, 0.0) + 1e-9
    for i in range(m):
        keep = [c for c in range(m) if c != i]
        yk, rk = y[keep], ref[keep]
        lower = F_all[same & (F_all[:, i] < y[i])][:, keep]
        lower = lower[(lower < rk).all(1)]
        if m == 2:
            bound = min(rk[0], lower[:, 0].min()) if len(lower) else rk[0]
            out[i] = max(0.0, bound - yk[0])
        else:
            with_k = np.vstack([lower, yk[None]])
            hv_with = float(moocore.hypervolume(with_k, ref=rk))
            hv_without = float(moocore.hypervolume(lower, ref=rk)) if len(lower) else 0.0
            out[i] = max(0.0, hv_with - hv_without)
    norm = np.linalg.norm(out)
    return out / norm if norm > 0 else out


# ---------------------------------------------------------------------- the loop
class OneAtATime:
    """K members stepped the way LibMOON's gradient solvers step them (see the module doc).

    Args:
        problem: A paretoray problem (its ``_evaluate`` and ``project`` are used).
        method: One of :data:`METHODS`.
        prefs: A `K x m` array of preference vectors.
        x0: A `K x d` array of starting points.
        lr, optimizer: Learning rate and ``"adam"`` or ``"sgd"``.
    """

    def __init__(self, problem, method: str, prefs, x0, lr: float, optimizer: str = "adam"):
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; known: {METHODS}")
        self.problem, self.method = problem, method
        self.prefs_t = torch.as_tensor(prefs, dtype=torch.float64)
        self.prefs = self.prefs_t.numpy()
        self.units = self.prefs / np.linalg.norm(self.prefs, axis=1, keepdims=True)
        self.nbrs = pmtl_neighbours(self.units) if method == "pmtl" else None
        self.x0 = torch.as_tensor(x0, dtype=torch.float64).clone()
        self.K, self.m = self.prefs.shape
        # Adam's fused kernel, as paretoray's engine runs it on a CPU: the same arithmetic
        # to the last bit (the default single-tensor Adam differs there, and HV ascent's
        # paths are chaotic enough to show it); it costs ~20 us an iteration less
        self._opt = {"adam": functools.partial(torch.optim.Adam, fused=True),
                     "sgd": torch.optim.SGD}[optimizer]
        self.lr = lr
        self._idx: np.ndarray | None = None  # the members stepped (fixed at the first call)
        self.xl, self.xu = problem.xl.to(torch.float64), problem.xu.to(torch.float64)
        self.lo, self.hi = problem._projection_box_like(self.x0)
        with torch.no_grad():
            self.F = problem._evaluate(self.x0).numpy().copy()  # every member's latest values
        self.left_box = np.zeros(self.K, dtype=bool)
        self.seconds = 0.0
        self.iterations = 0

    def _members(self, active: np.ndarray | None) -> np.ndarray:
        idx = np.arange(self.K) if active is None else np.asarray(active, dtype=int)
        if self._idx is None:
            self._idx = idx
            self.xs = self.x0[idx].clone().requires_grad_(True)  # LibMOON's xs_var
            self.opt = self._opt([self.xs], lr=self.lr)
        elif not np.array_equal(idx, self._idx):
            raise ValueError("OneAtATime steps one fixed set of members; got another one.")
        return idx

    def step(self, active: np.ndarray | None = None) -> None:
        """One iteration of the members in ``active`` (all by default)."""
        t0 = time.perf_counter()
        idx = self._members(active)
        m, problem, xs = self.m, self.problem, self.xs
        Fs = problem._evaluate(xs)  # one batched forward
        J = torch.stack([torch.stack([torch.autograd.grad(Fs[j, i], xs, retain_graph=True)[0][j]
                                      for i in range(m)]) for j in range(len(idx))])
        F_np = Fs.detach().numpy()
        self.F[idx] = F_np
        gram_based = self.method in ("epo", "mgda", "pmtl")
        if self.method in NEEDS_ALL_VALUES:  # recomputed from scratch every iteration
            ref = hv_reference(self.F)
            layer = hv_layers(self.F)
            alpha = np.stack([hv_grad_member(self.F, layer, ref, int(k)) for k in idx])
        elif gram_based:
            x_np = xs.detach().numpy()
            lo, hi = self.lo.numpy(), self.hi.numpy()
            rows = []
            for j, k in enumerate(idx):  # one solver call per member
                Jn = J[j].numpy().copy()
                Jn[((x_np[j] <= lo) & (Jn > 0)) | ((x_np[j] >= hi) & (Jn < 0))] = 0.0
                J[j] = torch.from_numpy(Jn)
                G = Jn @ Jn.T
                if self.method == "epo":
                    rows.append(epo_weights(F_np[j], G, self.prefs[k]))
                elif self.method == "mgda":
                    rows.append(min_norm_slsqp(G))
                else:
                    rows.append(pmtl_weights(F_np[j], G, int(k), self.units, self.nbrs))
            alpha = np.stack(rows)
        if gram_based:
            xs.grad = torch.einsum("nm,nmd->nd", torch.from_numpy(alpha), J)
            del Fs
        else:
            if self.method not in NEEDS_ALL_VALUES:
                alpha = scalar_weights(self.method, Fs.detach(), self.prefs_t[idx])
            alpha = torch.as_tensor(alpha, dtype=Fs.dtype)
            xs.grad = None
            (alpha * Fs).sum().backward()  # LibMOON: torch.sum(alpha_array * fs_var).backward()
        self.opt.step()
        with torch.no_grad():
            self.left_box[idx] |= ((xs < self.xl) | (xs > self.xu)).any(1).numpy()
            xs.copy_(problem.project(xs))
        self.seconds += time.perf_counter() - t0
        self.iterations += 1

    def run(self, iterations: int, active: np.ndarray | None = None) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(int(iterations)):
                self.step(active)

    def positions(self) -> np.ndarray:
        """Every member's current decision vector (`K x d`; unstepped members at ``x0``)."""
        x = self.x0.clone()
        if self._idx is not None:
            x[self._idx] = self.xs.detach()
        return x.numpy()

    @torch.no_grad()
    def values(self) -> np.ndarray:
        """Every member's current objective values (`K x m`)."""
        return self.problem._evaluate(torch.from_numpy(self.positions())).numpy()


def finite_rows(F: np.ndarray) -> np.ndarray:
    return np.isfinite(F).all(1)


def out_of_box(problem, x: np.ndarray, tol: float = 1e-9) -> int:
    """Members outside ``[xl, xu]`` (beyond ``tol``)."""
    lo, hi = problem.xl.numpy() - tol, problem.xu.numpy() + tol
    bad = (x < lo) | (x > hi) | ~np.isfinite(x)
    return int(bad.any(1).sum())


__all__ = ["METHODS", "OneAtATime", "finite_rows", "out_of_box"]
