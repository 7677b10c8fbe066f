"""Inequality constraints ``g(x) <= 0`` in the engine's step: feasible directions, batched.

Minimization is assumed. A constrained problem (``problem.n_ieq_constr = k > 0``) gives, for
a population ``x`` (`p x d`), the values ``G = g(x)`` (`p x k`, feasible where every
``G[p, j] <= 0``) and by ``k`` backward passes their Jacobian ``A`` (`p x k x d`,
``A[p, j] = grad g_j(x_p)``). A weighting has already formed each member's direction
``D`` (`p x d`; the member moves along ``v = -D``). :func:`steer` replaces it by the
nearest direction that treats the constraints as active constraints of the member's
sub-problem -- a method of feasible directions [Zoutendijk1960]_ in Topkis and Veinott's
form [Topkis1967]_, where every constraint enters the direction-finding problem with its
value, so the direction is continuous in ``x`` -- written as a projection like Rosen's
gradient projection [Rosen1961]_ and the constrained MGDA / PMTL sub-problems
[Lin2019]_ [Gebken2019]_:

.. math::

    d^* = \\arg\\min_d \\tfrac12 \\lVert d - D \\rVert^2
    \\quad \\text{s.t.} \\quad a_j^\\top d \\ge b_j
    = \\min\\Big(\\frac{s}{\\delta}\\big(g_j + \\delta \\lVert a_j \\rVert\\big),\\;
    s \\lVert a_j \\rVert\\Big) \\quad (j = 1..k),

one tiny QP per member, all solved together (:func:`cone_projection`). Here
``delta = margin * mean(xu - xl)`` is a distance in ``x`` and ``s = max(||D||, ||r||)`` a
speed, with ``r = sum_{g_j > 0} a_j`` the gradient of the violation (pymoo's ``CV``).
Read in ``x``-units, with ``h_j = g_j / ||a_j||`` the first-order signed distance to the
boundary ``g_j = 0``:

- ``h_j <= -2 delta`` (far inside): ``b_j <= -||a_j|| ||D||``, so ``D`` satisfies the
  row: ``d* = D`` exactly for a member more than ``2 delta`` from every boundary.
- ``-delta <= h_j <= 0`` (the active band, feasible): ``b_j >= 0``, so the move does not
  increase ``g_j`` to first order (Zoutendijk's condition; ``b_j = 0`` at ``h_j = -delta``
  is the plain projection onto the cone ``{d : a_j . d >= 0}``), and the closer to the
  boundary the harder it is pushed back: a step of length ``delta`` along ``-d`` lands
  inside the tightened constraint ``g_j + delta ||a_j|| <= 0`` to first order. Between
  ``-2 delta`` and ``-delta`` the allowed outward speed falls to 0 continuously.
- ``h_j > 0`` (violated): restoration in the spirit of PMTL's feasibility phase [Lin2019]_,
  combined with the objective direction: ``g_j`` must fall at least at rate
  ``||a_j|| s`` (the normal component of ``d`` is at least ``s``). Where the violated
  rows have no common solution (gradients that oppose each other) the member follows
  ``r`` rescaled to length ``s``. ``s >= ||r||`` keeps restoring a member whose
  objective direction has vanished (an infeasible critical point).

**What it is not.** The weighting's sub-problem is solved first and the constraints after,
so for a weighting that is itself a QP over the gradients (MGDA, PMTL's inner step) this is
the projection of its unconstrained answer, not the joint problem of [Gebken2019]_ (the
min-norm point of ``conv{grad f_i}`` plus the cone of active ``grad g_j``): the result
keeps every constraint, but need not descend every objective where the joint problem
would. For scalarizations (linear, Tchebycheff) it is Rosen's gradient projection of the
member's scalarized objective, with Topkis and Veinott's right-hand sides.

**The optimizer rescales the direction.** Adam divides each coordinate by its own running
scale, so a direction with ``a_j^T d >= 0`` can still step out of the feasible set, and
the box projection after the step can too. Three things keep the method robust: the band
makes a member slow down ``delta`` before a boundary (``delta`` should be at least the
optimizer's move per step, about ``lr`` per coordinate for Adam: with a thinner band the
push-back acts like a bang-bang controller and a member can cycle across the boundary;
``Problem.constraint_margin`` sets it); the field is continuous in ``x``
(Topkis-Veinott), so Adam's steps shrink near a constrained optimum instead of bouncing
between "projected" and "restored"; and ``b`` is capped, so no direction is orders of
magnitude longer than the objective's (Adam's slowly decaying second moment would remember
it and stall the member for thousands of steps). A member that has stepped out is restored
on its next step. Tests check that whole populations end feasible under Adam.

**The QP.** With ``d = D + A^T lambda`` (``lambda >= 0``, zero off the active set) the
dual is a nonnegative least-squares problem in ``k`` unknowns. For ``k <=``
:data:`ENUMERATE_MAX` it is solved exactly by enumerating the ``2^k`` candidate active
sets ``S``: each is one equality-constrained projection (a ``|S| x |S|`` linear solve), all
``2^k x p`` of them in one batched ``torch.linalg.solve``; the answer is the candidate
nearest to ``D`` among those that satisfy every constraint (the projection is the unique
nearest feasible point, and it is the candidate of its own active set). Larger ``k`` use
Hildreth's dual coordinate ascent [Hildreth1957]_ for a fixed number of sweeps; it
converges linearly, slowly for nearly degenerate cones (``k`` close to ``d``), and a member
it leaves unsolved takes the restoration direction (zero for a feasible member: it pauses
for the step). Neither syncs the host or loops over members.

Cost per step: ``k`` extra backward passes for ``A`` and ``O(2^k p k^3)`` for the solves.

.. [Zoutendijk1960] G. Zoutendijk. Methods of Feasible Directions. Elsevier, 1960.
.. [Topkis1967] D. M. Topkis and A. F. Veinott. On the convergence of some feasible
    direction algorithms for nonlinear programming. SIAM J. Control 5(2):268-279, 1967.
.. [Rosen1961] J. B. Rosen. The gradient projection method for nonlinear programming.
    Part II: nonlinear constraints. J. SIAM 9(4):514-532, 1961.
.. [Lin2019] X. Lin, H.-L. Zhen, Z. Li, Q. Zhang and S. Kwong. Pareto multi-task learning.
    NeurIPS 2019 (section 3.3: the feasibility phase and the constrained sub-problem).
.. [Gebken2019] B. Gebken, S. Peitz and M. Dellnitz. A descent method for equality and
    inequality constrained multiobjective optimization problems. Numerical and Evolutionary
    Optimization, 2019 (the constrained steepest-descent direction of MGDA).
.. [Hildreth1957] C. Hildreth. A quadratic programming procedure. Naval Research Logistics
    Quarterly 4(1):79-85, 1957.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor

from paretoray.errors import ConfigError, ShapeError
from paretoray.problems.base import Problem

__all__ = ["ENUMERATE_MAX", "cone_projection", "constraint_jacobian", "steer"]

#: Up to this many constraints the QP is solved exactly by enumerating the ``2^k`` active
#: sets (63 batched solves of at most 6 x 6 at ``k = 6``); beyond, Hildreth's sweeps.
ENUMERATE_MAX = 6
#: Hildreth sweeps (each a pass over the ``k`` constraints) for ``k > ENUMERATE_MAX``.
HILDRETH_SWEEPS = 200
#: Default margin (the active band, as a fraction of the box's mean width) for problems
#: without a ``constraint_margin``.
MARGIN = 5e-3


def constraint_jacobian(problem: Problem, x: Tensor) -> tuple[Tensor, Tensor]:
    """Constraint values and their Jacobian, by ``k`` backward passes.

    Members are independent, so the gradient of ``G[:, j].sum()`` w.r.t. ``x[p]`` is member
    ``p``'s own ``grad g_j``.

    Args:
        problem: A problem with ``n_ieq_constr = k >= 1``.
        x: A `p x d`-dim tensor of decision vectors.

    Returns:
        ``(G, A)``: a `p x k`-dim tensor of constraint values and a `p x k x d`-dim tensor of
        their gradients (zero for a constraint that does not depend on ``x``), both detached.
    """
    k = problem.n_ieq_constr
    xg = x.detach().requires_grad_(True)
    with torch.enable_grad():
        G = problem._evaluate_constraints(xg)
        if G.shape != (x.shape[0], k):
            raise ShapeError(
                f"{problem!r}._evaluate_constraints must return a `p x n_ieq_constr` = "
                f"{x.shape[0]} x {k} tensor; got {tuple(G.shape)}."
            )
        if not G.requires_grad:  # constraints that do not depend on x
            return G.detach(), x.new_zeros(x.shape[0], k, x.shape[1])
        rows = []
        for j in range(k):
            (grad,) = torch.autograd.grad(G[:, j].sum(), xg, retain_graph=j < k - 1,
                                          allow_unused=True)
            rows.append(torch.zeros_like(xg) if grad is None else grad)
    return G.detach(), torch.stack(rows, dim=1)


@lru_cache(maxsize=16)
def _subsets(k: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """All ``2^k`` subsets of ``k`` constraints as a `2^k x k`-dim 0/1 tensor (row 0: empty)."""
    bits = torch.arange(2**k).unsqueeze(1).bitwise_right_shift(torch.arange(k)) & 1
    return bits.to(device=device, dtype=dtype)


def _tolerance(A: Tensor, b: Tensor, direction: Tensor) -> Tensor:
    """Slack tolerance per member and constraint: `p x k`, relative to the scales involved."""
    # the ridge of `_enumerate` perturbs a solve by ~1e-12 relative; rounding by ~eps
    rel = max(1e3 * torch.finfo(A.dtype).eps, 1e-9)
    return rel * (A.norm(dim=-1) * direction.norm(dim=-1, keepdim=True) + b.abs()) + \
        torch.finfo(A.dtype).tiny


def _enumerate(direction: Tensor, A: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    p, k, _ = A.shape
    gram = A @ A.transpose(1, 2)  # p x k x k
    c = torch.einsum("pkd,pd->pk", A, direction) - b  # slack of d = D; want c + gram lam >= 0
    masks = _subsets(k, A.device, A.dtype)  # S x k
    inside = masks[:, None, :, None] * masks[:, None, None, :]  # S x 1 x k x k
    eye = torch.eye(k, dtype=A.dtype, device=A.device)
    # a tiny ridge keeps subsets with dependent (or zero) rows solvable; such a subset is
    # never needed -- an independent one reaches the same projection -- and its candidate is
    # rejected below when the ridge leaves it infeasible
    # (relative per row: rows of very different scales keep their own precision)
    diag = gram.diagonal(dim1=-2, dim2=-1)  # p x k
    floor = 1e-12 * diag.amax(-1, keepdim=True) + torch.finfo(A.dtype).tiny
    ridge = torch.diag_embed(1e-12 * torch.maximum(diag, floor))[None] * inside
    K = gram[None] * inside + (1 - masks)[:, None, :, None] * eye + ridge  # S x p x k x k
    # solve_ex: no error check, so no host sync (a singular system gives non-finite lam,
    # rejected below)
    lam = torch.linalg.solve_ex(K, -(c[None] * masks[:, None, :]))[0]  # S x p x k
    lam = lam * masks[:, None, :]
    # candidate d_S = D + A^T lam_S, read through the gram matrix (O(k^2) per candidate, not
    # O(k d)): its slack c + gram lam_S and its squared distance to D, lam_S^T gram lam_S
    glam = torch.einsum("pkj,spj->spk", gram, lam)
    slack = c[None] + glam
    ok = (slack >= -_tolerance(A, b, direction)[None]).all(-1) & torch.isfinite(lam).all(-1)
    dist = torch.where(ok, (lam * glam).sum(-1), torch.inf)  # S x p
    best = dist.argmin(0)  # p
    lam_best = lam.gather(0, best[None, :, None].expand(1, p, k))[0]
    return direction + torch.einsum("pk,pkd->pd", lam_best, A), ok.any(0)


def _hildreth(direction: Tensor, A: Tensor, b: Tensor, sweeps: int) -> tuple[Tensor, Tensor]:
    k = A.shape[1]
    gram = A @ A.transpose(1, 2)
    c = torch.einsum("pkd,pd->pk", A, direction) - b
    diag = gram.diagonal(dim1=-2, dim2=-1).clamp_min(torch.finfo(A.dtype).tiny)
    lam = torch.zeros_like(c)
    for _ in range(sweeps):  # fixed count: no data-dependent stop, no host sync
        for j in range(k):
            slack_j = c[:, j] + (gram[:, j, :] * lam).sum(-1)
            lam[:, j] = (lam[:, j] - slack_j / diag[:, j]).clamp_min(0)
    d = direction + torch.einsum("pk,pkd->pd", lam, A)
    slack = torch.einsum("pkd,pd->pk", A, d) - b
    # the sweeps converge linearly; accept what they reach to a loose, scale-aware tolerance
    tol = 1e-6 * (A.norm(dim=-1) * direction.norm(dim=-1, keepdim=True) + b.abs())
    return d, (slack >= -tol - _tolerance(A, b, direction)).all(-1) & torch.isfinite(d).all(-1)


def cone_projection(direction: Tensor, A: Tensor, b: Tensor, /, active: Tensor | None = None,
                    *, sweeps: int = HILDRETH_SWEEPS) -> tuple[Tensor, Tensor]:
    """Project every member's direction onto its polyhedron ``{d : A d >= b}``, batched.

    Solves ``min_d ||d - D||^2 / 2`` s.t. ``A[p, j] . d >= b[p, j]`` for the active ``j``,
    exactly for ``k <=`` :data:`ENUMERATE_MAX` (enumerated active sets), by Hildreth's dual
    coordinate ascent otherwise.

    Args:
        direction: A `p x d`-dim tensor ``D``.
        A: A `p x k x d`-dim tensor of constraint rows.
        b: A `p x k`-dim tensor of right-hand sides (0: the cone ``A d >= 0``).
        active: A `p x k`-dim bool tensor; inactive rows are dropped. None: all active.
        sweeps: Hildreth sweeps, used only when ``k > ENUMERATE_MAX``.

    Returns:
        ``(d, solved)``: a `p x d`-dim tensor of projections and a `p`-dim bool tensor, False
        where a member's constraints have no common solution (its row of ``d`` is then
        meaningless). With ``b = 0`` every member is solved (``d = 0`` is feasible).

    Example:
        >>> D = torch.tensor([[1.0, -1.0]])
        >>> A = torch.tensor([[[0.0, 1.0]]])  # keep d_2 >= 0
        >>> cone_projection(D, A, torch.zeros(1, 1))[0]
        tensor([[1., 0.]])
    """
    if A.dim() != 3 or direction.dim() != 2 or A.shape[::2] != direction.shape \
            or b.shape != A.shape[:2]:
        raise ShapeError(
            "cone_projection expects `direction` p x d, `A` p x k x d and `b` p x k; got "
            f"{tuple(direction.shape)}, {tuple(A.shape)} and {tuple(b.shape)}."
        )
    if active is not None:
        A = A * active[..., None].to(A.dtype)
        b = b * active.to(b.dtype)
    if A.shape[1] == 0:
        return direction.clone(), direction.new_ones(direction.shape[0], dtype=torch.bool)
    if A.shape[1] <= ENUMERATE_MAX:
        return _enumerate(direction, A, b)
    return _hildreth(direction, A, b, sweeps)


def steer(problem: Problem, x: Tensor, direction: Tensor, /, *,
          margin: float | None = None) -> Tensor:
    """Turn the weighting's directions into feasible (or restoring) ones.

    See the module docstring for the sub-problem. An unconstrained problem gets its
    ``direction`` back unchanged (the same tensor).

    Args:
        problem: The problem, with ``n_ieq_constr = k``.
        x: A `p x d`-dim tensor of decision vectors (members move along ``-direction``).
        direction: A `p x d`-dim tensor ``D`` from the weighting.
        margin: The active band as a fraction of the box's mean width (``delta`` above);
            None: the problem's ``constraint_margin``.

    Returns:
        A `p x d`-dim tensor of steered directions.
    """
    if not problem.n_ieq_constr:
        return direction
    if margin is None:
        margin = float(getattr(problem, "constraint_margin", MARGIN))
    if not margin > 0:
        raise ConfigError(f"`margin` must be a positive fraction of the box; got {margin!r}.")
    G, A = constraint_jacobian(problem, x)
    G, A = G.to(direction.dtype), A.to(direction.dtype)
    tiny = torch.finfo(direction.dtype).tiny
    delta = margin * float((problem.xu - problem.xl).double().mean())  # host-side bounds
    norms = A.norm(dim=-1)  # p x k
    violated = G > 0
    r = torch.einsum("pk,pkd->pd", violated.to(A.dtype), A)  # grad of the violation (CV)
    r_norm = r.norm(dim=-1)
    s = torch.maximum(direction.norm(dim=-1), r_norm)  # p: the speed scale
    # a step of length delta along -d lands inside g_j + delta ||a_j|| <= 0 to first order
    # (capped where the boundary is reached: restoration as fast as the objective's pull; an
    # unbounded b would give directions whose scale Adam's slow second moment then remembers)
    b = torch.minimum((s / max(delta, tiny))[:, None] * (G + delta * norms), norms * s[:, None])
    # every row goes in: one far from its boundary is satisfied by D with room, but another
    # row's correction can still turn d onto it
    d, solved = cone_projection(direction, A, b)
    restore = r * torch.where(r_norm > 0, s / r_norm.clamp_min(tiny), 0.0)[:, None]
    return torch.where(solved[:, None], d, restore)
