"""FERERO: preference-guided descent with relative (cone) and absolute (constraint) preferences.

[Chen2024]_ casts preference-guided multi-objective learning as the constrained vector
problem

    min_x  F(x)  w.r.t. the cone  {y : A y >= 0}   s.t.  B_h F(x) = 0,  B_g F(x) <= b,

(relative preferences: the ordering cone of ``A``, ``A = I`` is Pareto order; absolute
preferences: constraints on the objective values) and steps along ``d = -J^T lambda``, the
solution of its direction subprogram (in the form of ``get_d_ferero`` in the
reference code)

    min_d  max_i (A J d)_i + ||d||^2 / 2   s.t.  B_h J d = -c_h B_h F,
                                               B_g J d <= -c_g (B_g F - b),

i.e. descend in the cone while driving the equality constraints to zero and the
inequality constraints into feasibility at a linear rate. Its dual, solved here, is a
small QP in ``y = (lam_f, lam_h, lam_g)``, ``lam = A^T lam_f + B_h^T lam_h + B_g^T lam_g``:

    min  lam^T G lam / 2 - c_h lam_h^T B_h F - c_g lam_g^T (B_g F - b)
    s.t. lam_f in simplex,  lam_g >= 0,

and the weights are ``alpha = lam`` (the reference code runs projected gradient descent on
the same dual until it stalls). Here every member's dual is solved exactly at once: all
``2^(rows(A) + rows(B_g))`` active sets of the sign constraints are solved in one batched
KKT call and the feasible candidate with the least objective wins.

Preference: with ``ray=True`` (the paper's experiments) ``B_h`` spans the orthogonal
complement of the member's preference ``pref`` (``m - 1`` rows from a Householder
reflection; for ``m = 2`` it is the paper's ``[v_2, -v_1]``), so ``B_h F = 0`` says ``F`` lies
on the ray through ``pref`` -- the library convention. ``constraints``/``bounds`` add
``B_g F <= b`` (e.g. ``[[1, -1.5]], [0]``: ``f_1 <= 1.5 f_2``), the same for every member.

.. [Chen2024] L. Chen, A. F. M. Saif, Y. Shen, T. Chen. FERERO: A Flexible Framework for
   Preference-Guided Multi-Objective Learning. NeurIPS 2024. Reference code:
   github.com/lisha-chen/FERERO (``toy_experiments/solvers/ferero.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from paretoray.algorithms._mtl import enumerate_supports
from paretoray.algorithms.base import Weighting, check_gram, register
from paretoray.errors import ConfigError, ShapeError

__all__ = ["FERERO", "ray_complement"]

#: Largest number of sign-constrained dual entries (``rows(A) + rows(B_g)``) enumerated.
MAX_SIGNED = 10


def ray_complement(prefs: Tensor) -> Tensor:
    """An orthonormal basis of the complement of every preference ray: `p x (m-1) x m`.

    Rows 2..m of the Householder reflection that maps ``e_1`` to ``pref / ||pref||``.
    """
    m = prefs.shape[-1]
    v = prefs / prefs.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(prefs.dtype).tiny)
    eye = torch.eye(m, dtype=prefs.dtype, device=prefs.device)
    u = v - eye[0]
    nu = (u * u).sum(-1, keepdim=True)
    H = eye - 2 * u[:, :, None] * u[:, None, :] / nu.clamp_min(1e-300)[..., None]
    H = torch.where(nu[..., None] > 1e-24, H, eye)
    return H[:, 1:, :]


def _as_matrix(name: str, value, m: int | None = None) -> Tensor | None:
    if value is None:
        return None
    t = torch.as_tensor(value, dtype=torch.float64)
    if t.dim() != 2 or t.shape[0] == 0 or (m is not None and t.shape[1] != m):
        raise ConfigError(f"FERERO `{name}` must be a nonempty 2-D list of rows; got "
                          f"shape {tuple(t.shape)}.")
    if not torch.isfinite(t).all():
        raise ConfigError(f"FERERO `{name}` must be finite; got {value!r}.")
    return t


@register("ferero")
class FERERO(Weighting):
    """FERERO weights: the dual of the constrained direction subprogram [Chen2024]_.

    Args:
        ray: Constrain ``F`` to the ray through the member's preference (``B_h``).
        cone: The `q x m` matrix ``A`` of the ordering cone (default: identity, Pareto).
        constraints: A `k x m` matrix ``B_g`` of inequality constraints ``B_g F <= b``.
        bounds: The `k` right-hand sides ``b`` (default zeros).
        c_h: Rate at which ``B_h F`` is driven to zero per unit step.
        c_g: Rate at which violated ``B_g F <= b`` are driven back.

    ``values`` are used as given (shift objectives so that the ray through the origin
    is meaningful, as for EPO).
    """

    needs_gram = True
    description = "Preference-guided descent with ray and objective-value constraints"
    category = "finite set"
    paper = ("Chen et al., FERERO: A Flexible Framework for Preference-Guided "
             "Multi-Objective Learning, NeurIPS 2024")

    def __init__(self, ray: bool = True, cone: Sequence[Sequence[float]] | None = None,
                 constraints: Sequence[Sequence[float]] | None = None,
                 bounds: Sequence[float] | None = None, c_h: float = 1.0,
                 c_g: float = 1.0) -> None:
        self.ray = bool(ray)
        self.cone = None if cone is None else _as_matrix("cone", cone).tolist()
        B = _as_matrix("constraints", constraints)
        self.constraints = None if B is None else B.tolist()
        if bounds is not None and B is None:
            raise ConfigError("FERERO `bounds` needs `constraints` (the rows of B_g F <= b).")
        if B is not None:
            b = torch.zeros(B.shape[0]) if bounds is None else torch.as_tensor(
                bounds, dtype=torch.float64).flatten()
            if b.shape[0] != B.shape[0]:
                raise ConfigError(f"FERERO `bounds` needs one entry per constraint row "
                                  f"({B.shape[0]}); got {bounds!r}.")
            self.bounds = b.tolist()
        else:
            self.bounds = None
        if not (c_h > 0 and c_g > 0):
            raise ConfigError(f"FERERO `c_h` and `c_g` must be > 0; got {c_h!r}, {c_g!r}.")
        self.c_h, self.c_g = float(c_h), float(c_g)
        n_signed = (0 if cone is None else len(self.cone)) + (
            0 if B is None else B.shape[0])
        if n_signed > MAX_SIGNED:
            raise ConfigError(f"FERERO enumerates 2^(rows(cone) + rows(constraints)) active "
                              f"sets; at most {MAX_SIGNED} rows in all, got {n_signed}.")

    def weights(self, values: Tensor, prefs: Tensor, /, gram: Tensor | None = None,
                context: Tensor | None = None) -> Tensor:
        """FERERO weights ``lam`` (`p x m`), without autograd history."""
        G = check_gram("FERERO", values, gram).detach().to(torch.float64)
        p, m = values.shape
        dt, dev = torch.float64, G.device
        F = values.detach().to(dt)
        A = torch.eye(m, dtype=dt, device=dev) if self.cone is None else torch.tensor(
            self.cone, dtype=dt, device=dev)
        if A.shape[1] != m or (self.constraints is not None
                               and len(self.constraints[0]) != m):
            raise ShapeError(f"FERERO `cone`/`constraints` rows must have m={m} entries.")
        blocks, lin = [A.expand(p, -1, -1)], [F.new_zeros(p, A.shape[0])]
        if self.ray:
            Bh = ray_complement(prefs.detach().to(dt))
            blocks.append(Bh)
            lin.append(self.c_h * torch.einsum("pqm,pm->pq", Bh, F))
        n_g = 0
        if self.constraints is not None:
            Bg = torch.tensor(self.constraints, dtype=dt, device=dev)
            n_g = Bg.shape[0]
            blocks.append(Bg.expand(p, -1, -1))
            b = torch.tensor(self.bounds, dtype=dt, device=dev)
            lin.append(self.c_g * (F @ Bg.T - b))
        M = torch.cat(blocks, 1)  # p x r x m
        c = torch.cat(lin, 1)  # p x r
        r, q = M.shape[1], A.shape[0]
        y = _solve_dual(torch.einsum("prm,pmn,psn->prs", M, G, M), c, q,
                        [*range(q), *range(r - n_g, r)])
        lam = torch.einsum("pr,prm->pm", y, M)
        # All gradients zero: nothing can move (the dual is unbounded along lam_h).
        still = G.diagonal(dim1=-2, dim2=-1).sum(-1) == 0  # NaN Gram rows stay NaN
        lam = torch.where(still[:, None], 0.0, lam)
        return lam.to(dtype=values.dtype, device=values.device)


def _solve_dual(Q: Tensor, c: Tensor, q: int, signed_idx: list[int]) -> Tensor:
    """``argmin y^T Q y / 2 - c^T y`` s.t. ``sum(y[:q]) = 1``, ``y[signed_idx] >= 0``, batched.

    Every subset of the signed entries is tried as the active set (pinned to 0); the
    feasible KKT point with the least objective is the optimum. A ridge
    ``1e-10 trace(Q) / r`` keeps every system solvable.
    """
    p, r, _ = Q.shape
    dt, dev = Q.dtype, Q.device
    eye = torch.eye(r, dtype=dt, device=dev)
    tr = Q.diagonal(dim1=-2, dim2=-1).sum(-1).clamp_min(1e-300)
    Q = 0.5 * (Q + Q.mT) + (1e-10 * tr / r)[:, None, None] * eye
    simplex = torch.zeros(r, dtype=dt, device=dev)
    simplex[:q] = 1
    signed = torch.zeros(r, dtype=torch.bool, device=dev)
    signed[signed_idx] = True
    S = torch.zeros(2 ** len(signed_idx), r, dtype=dt, device=dev)
    S[:, signed_idx] = enumerate_supports(len(signed_idx), dev, with_empty=True)  # 1 = pinned
    K = S.shape[0]
    free = 1 - S
    top = Q[:, None] * free[None, :, :, None] + torch.diag_embed(S)[None]  # p x K x r x r
    col = -(simplex * free)[None, :, :, None].expand(p, K, r, 1)
    bottom = torch.cat([(simplex * free)[:, None, :], torch.zeros(K, 1, 1, dtype=dt,
                                                                  device=dev)], -1)
    KKT = torch.cat([torch.cat([top, col], -1), bottom[None].expand(p, K, 1, r + 1)], -2)
    rhs = torch.cat([c[:, None, :] * free[None], torch.ones(p, K, 1, dtype=dt, device=dev)],
                    -1)
    sol, info = torch.linalg.solve_ex(KKT, rhs[..., None])
    y = sol[..., :r, 0]
    ok = (info == 0) & torch.isfinite(y).all(-1) & ((y >= -1e-9) | ~signed).all(-1)
    obj = 0.5 * torch.einsum("pki,pij,pkj->pk", y, Q, y) - (y * c[:, None]).sum(-1)
    best = torch.where(ok, obj, torch.inf).argmin(-1)
    y = y.gather(1, best[:, None, None].expand(p, 1, r))[:, 0]
    return torch.where(signed, y.clamp_min(0), y)
