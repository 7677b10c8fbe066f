"""MosT: many-objective multi-solution transport.

[Li2024]_ finds ``K`` solutions for ``m`` objectives (``m >> K`` in its main setting) by a
bi-level problem: an optimal transport ``Gamma`` (`m x K`) between the objectives and the
solutions, with uniform marginals (every objective is served, every solution serves an
equal share), on the cost ``C[i, k] = f_i(x_k)``,

    Gamma = argmin_{Gamma 1 = 1/m, Gamma^T 1 = 1/K, Gamma >= 0}  <Gamma, C>,

and, for every solution ``k``, a common descent (MGDA) step on its weighted objectives
``{Gamma[i, k] f_i}``. Member ``k``'s weights are therefore ``alpha[k, i] = Gamma[i, k] m
lam_i`` with ``lam`` the min-norm weights of the gradients ``Gamma[i, k] m grad f_i`` over
the objectives it is transported to (``Gamma[i, k] > support_tol / m``; objectives with no
mass are left out, else their zero gradient would stop the member).

Transport: entropic OT by log-domain Sinkhorn on the cost normalized to ``[0, 1]``, with
``epsilon`` annealed geometrically from 1 to ``epsilon`` over ``iters`` iterations (fixed
work, no host sync); for small ``epsilon`` the plan is the exact (sparse) one of the paper
up to a blur of order ``epsilon``. The min-norm problems of all members are solved at once
by :func:`paretoray.algorithms.minnorm.min_norm`. ``context`` and preferences are not used.

Few objectives (``m < K``, e.g. ZDT): ``extend = n`` replaces the ``m`` objectives by ``n``
random convex combinations ``f'_j = w_j^T F`` with ``w_j ~ Dirichlet(dirichlet_alpha)``,
drawn once from ``seed`` (the reference code's ZDT setting: 25 objectives,
Dirichlet(1)); transport and MGDA run on them (``G' = W G W^T``) and the weights are mapped
back, ``alpha = alpha' W``.

.. [Li2024] Z. Li, T. Li, V. Smith, J. Bilmes, T. Zhou. Many-Objective Multi-Solution
   Transport. ICLR 2025 (arXiv 2403.04099).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from paretoray.algorithms.base import Weighting, check_gram, register
from paretoray.algorithms.minnorm import min_norm
from paretoray.errors import ConfigError

__all__ = ["MosT", "transport_plan"]


def transport_plan(cost: Tensor, *, epsilon: float = 1e-3, iters: int = 100) -> Tensor:
    """Entropic OT plan between ``n`` rows (mass ``1/n``) and ``K`` columns (mass ``1/K``).

    Args:
        cost: An `n x K`-dim tensor.
        epsilon: Final entropic temperature on the cost normalized to ``[0, 1]``.
        iters: Sinkhorn iterations (``epsilon`` anneals from 1 over the first 3/4).

    Returns:
        An `n x K`-dim float64 plan with the two marginals (to Sinkhorn's accuracy).
    """
    C = cost.to(torch.float64)
    n, K = C.shape
    lo, hi = C.amin(), C.amax()
    C = (C - lo) / (hi - lo).clamp_min(torch.finfo(C.dtype).tiny)
    log_a = torch.full((n,), -math.log(n), dtype=C.dtype, device=C.device)
    log_b = torch.full((K,), -math.log(K), dtype=C.dtype, device=C.device)
    f = torch.zeros_like(log_a)
    g = torch.zeros_like(log_b)
    ramp = max(1, (3 * iters) // 4)
    for t in range(iters):
        eps = epsilon ** min(1.0, t / ramp)
        f = eps * (log_a - torch.logsumexp((g[None, :] - C) / eps, dim=1))
        g = eps * (log_b - torch.logsumexp((f[:, None] - C) / eps, dim=0))
    eps = epsilon
    return torch.exp((f[:, None] + g[None, :] - C) / eps)


@register("most")
class MosT(Weighting):
    """MosT weights: MGDA on each member's transported objectives [Li2024]_.

    Args:
        epsilon: Final entropic temperature of the transport (normalized cost).
        iters: Sinkhorn iterations.
        support_tol: An objective belongs to member ``k`` if ``m Gamma[i, k] > support_tol``.
        extend: Number of interpolated objectives replacing the ``m`` given ones (0: none).
        dirichlet_alpha: Concentration of the interpolation weights.
        seed: Seed of the interpolation weights.
    """

    needs_gram = True
    per_member = False
    description = "Many-objective multi-solution transport: OT assignment, then MGDA per solution"
    category = "finite set"
    paper = "Li et al., Many-Objective Multi-Solution Transport, ICLR 2025"

    def __init__(self, epsilon: float = 1e-3, iters: int = 100, support_tol: float = 0.05,
                 extend: int = 0, dirichlet_alpha: float = 1.0, seed: int = 0) -> None:
        if isinstance(extend, bool) or not isinstance(extend, int) or extend < 0:
            raise ConfigError(f"MosT `extend` must be an integer >= 0; got {extend!r}.")
        if not dirichlet_alpha > 0:
            raise ConfigError(f"MosT `dirichlet_alpha` must be > 0; got {dirichlet_alpha!r}.")
        self.extend = extend
        self.dirichlet_alpha = float(dirichlet_alpha)
        self.seed = int(seed)
        if not 0 < epsilon <= 1:
            raise ConfigError(f"MosT `epsilon` must lie in (0, 1]; got {epsilon!r}.")
        if isinstance(iters, bool) or not isinstance(iters, int) or iters < 1:
            raise ConfigError(f"MosT `iters` must be an integer >= 1; got {iters!r}.")
        if not 0 <= support_tol < 1:
            raise ConfigError(f"MosT `support_tol` must lie in [0, 1); got {support_tol!r}.")
        self.epsilon = float(epsilon)
        self.iters = iters
        self.support_tol = float(support_tol)

    @torch.no_grad()
    def weights(self, values: Tensor, prefs: Tensor, /, gram: Tensor | None = None,
                context: Tensor | None = None) -> Tensor:
        """MosT weights (`p x m`), without autograd history."""
        G = check_gram("MosT", values, gram).detach().to(torch.float64)
        F = values.detach().to(torch.float64)
        W = self.interpolation(values.shape[1], G.device) if self.extend else None
        if W is not None:
            F, G = F @ W.T, W @ G @ W.T
        m = F.shape[1]
        plan = transport_plan(F.T, epsilon=self.epsilon, iters=self.iters)
        share = (m * plan.T).clamp(0, 1)  # p x m: Gamma[i, k] m, 1 for a whole objective
        mask = share > self.support_tol
        Gw = share[:, :, None] * G * share[:, None, :]
        big = 1e6 * Gw.diagonal(dim1=-2, dim2=-1).amax(-1).clamp_min(1e-300)
        Gw = Gw + torch.diag_embed(torch.where(mask, 0.0, big[:, None]))
        lam = min_norm(Gw) * mask
        lam = lam / lam.sum(-1, keepdim=True).clamp_min(torch.finfo(lam.dtype).tiny)
        alpha = share * lam
        if W is not None:
            alpha = alpha @ W
        return alpha.to(dtype=values.dtype, device=values.device)

    def interpolation(self, m: int, device: torch.device | str = "cpu") -> Tensor:
        """The `extend x m`-dim Dirichlet interpolation weights (the same for every call)."""
        with torch.random.fork_rng(devices=[]):  # the caller's global RNG is untouched
            torch.manual_seed(self.seed)
            conc = torch.full((m,), self.dirichlet_alpha, dtype=torch.float64)
            W = torch.distributions.Dirichlet(conc).sample((self.extend,))
        return W.to(device)
