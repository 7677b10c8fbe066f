"""``adaptive``: scale-adapted reference vectors moved toward the gaps of the front.

References:

.. [Cheng2016] R. Cheng, Y. Jin, M. Olhofer, B. Sendhoff. A reference vector guided
    evolutionary algorithm for many-objective optimization. IEEE TEVC 20(5):773-791,
    2016 (RVEA's reference-vector scale adaptation).
.. [Chen2022] W. Chen, J. T. Kwok. Multi-objective deep learning with adaptive reference
    vectors. NeurIPS 2022 (GMOOAR-U: repulsive Gaussian energy of the solutions).
.. [Blank2021] J. Blank, K. Deb, Y. Dhebar, S. Bandaru, H. Seada. Generating well-spaced
    points on a unit simplex for evolutionary many-objective optimization. IEEE TEVC
    25(1):48-60, 2021 (Riesz s-energy steps).
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Literal, get_args

import numpy as np
import torch
from pydantic import Field
from torch import Tensor

from paretoray._validation import ExactInt, checked_options
from paretoray.preferences.adapters.base import (
    Adapter,
    Fraction,
    Positive,
    Seed,
    label,
    register,
)
from paretoray.preferences.geometry import is_vertex, normalized_frame, to_simplex

__all__ = ["Adaptive"]

#: Energies of the ``m >= 3`` design step.
Kernel = Literal["riesz", "gaussian"]
_EPS = 1e-12
#: Smallest nonzero coordinate an energy step leaves (normalized space): interior
#: vectors stay interior instead of collapsing onto a face or a vertex.
_FLOOR = 1e-3


@register("adaptive")
class Adaptive(Adapter):
    """Scale-adapted reference vectors moved toward the gaps of the front.

    The rule, each round (``G`` the front in normalized space, ``V`` the vectors):

    1. **Scale** (RVEA [Cheng2016]_): ``G = (F - o) / s`` with ``s = nadir - ideal`` of the
       front and ``o = min(ideal, 0)``; a vector ``r`` is ``v = normalize(r / s)`` there
       and maps back by ``r = normalize(v * s)`` -- rays stay rays under this diagonal
       scaling, so ``v = normalize(v0 * s)`` of [Cheng2016]_ is exactly the inverse map.
    2. **Front model**: the image of a unit direction ``u`` is ``phi(u) = rho(u) u``, where
       the radius ``rho`` interpolates the radii ``||G_j||`` of the front points over
       their directions (``m = 2``: piecewise linear in the angle; ``m >= 3``: a softmax
       kernel over ``1 - cos``). Beyond the front's angular extent the radius is held
       constant, so directions the archive has not reached yet keep their share.
       Gaps of the archive are bridged by the interpolant, so they have length on the
       model and attract vectors.
    3. **Gap filling** (GMOOAR-U [Chen2022]_): the vectors' images should repel,
       ``min sum_{i<j} k(||phi(v_i) - phi(v_j)||)``; a vector whose image is crowded moves
       toward the gaps. For ``m = 2`` the minimizer of the long-range limit of this
       energy (max-min packing on a curve) is taken exactly: the ``p`` images equally
       spaced in arc length along the model curve, from the lowest to the highest
       direction of vectors and front, assigned to the vectors in angular order (no
       crossing). For ``m >= 3``, ``n_iter`` projected steps of the Riesz energy
       ``sum d_ij^{-2m}`` (``kernel="riesz"``, [Blank2021]_) or the Gaussian energy
       ``sum exp(-d_ij^2 / h^2)`` of [Chen2022]_ (``kernel="gaussian"``, ``h`` the mean
       nearest-neighbour distance of the images); each vector moves along its own unit
       descent direction (per-point normalization, as HIGA-MO; Riesz gradients span
       orders of magnitude) with a linearly decaying rate ``lr``; interior coordinates
       stay >= 1e-3.
    4. **Step**: ``v <- v + step * (v* - v)`` (in angle for ``m = 2``), so a vector moves
       part of the way per round and the members can follow.

    Boundaries: simplex vertices (the axes) never move; for ``m >= 3`` a coordinate that
    is 0 stays 0, so edge vectors slide along their face. Coincident vectors are
    separated by a seeded jitter of ``1e-3`` (``seed + round``), the only random draw.
    With fewer than two usable front points the vectors are returned unchanged.

    Args:
        step: Fraction of the way to the target design moved per round, in (0, 1].
        kernel: ``"riesz"`` or ``"gaussian"`` (``m >= 3``).
        n_iter: Energy steps per round (``m >= 3``).
        lr: Initial step of the energy descent, in simplex units (``m >= 3``).
        grid: Points of the model curve for ``m = 2``.
        seed: Seed of the jitter that separates coincident vectors.
    """

    KERNELS: ClassVar[tuple[str, ...]] = get_args(Kernel)

    @checked_options(label)
    def __init__(self, step: Fraction = 0.5, kernel: Kernel = "riesz",
                 n_iter: Annotated[ExactInt, Field(ge=0)] = 100, lr: Positive = 0.05,
                 grid: Annotated[ExactInt, Field(ge=16)] = 2048, seed: Seed = 0) -> None:
        self.step = float(step)
        self.kernel = kernel
        self.n_iter = n_iter
        self.lr = float(lr)
        self.grid = grid
        self.seed = seed

    def _propose(self, current: Tensor, front: Tensor, front_prefs: Tensor | None,
                 round: int) -> Tensor:
        p, m = current.shape
        if p < 2 or front.shape[0] < 2:
            return current.clone()
        origin, scale = normalized_frame(front)
        G = (front - origin) / scale
        G = G[G.norm(dim=-1) > 1e-9]
        if G.shape[0] < 2 or torch.unique(G, dim=0).shape[0] < 2:
            return current.clone()
        V = to_simplex(current / scale)
        V = _separate(V, torch.Generator().manual_seed(self.seed + round))
        V_new = self._design_2d(V, G) if m == 2 else self._design_energy(V, G)
        return to_simplex(V_new * scale)

    # m = 2: equal arc length on the model curve ------------------------------------
    def _design_2d(self, V: Tensor, G: Tensor) -> Tensor:
        p = V.shape[0]
        theta = torch.atan2(V[:, 1], V[:, 0]).numpy()
        phi = torch.atan2(G[:, 1], G[:, 0]).numpy()
        rho = G.norm(dim=-1).numpy()
        order = np.argsort(phi, kind="stable")
        phi, rho = phi[order], rho[order]
        phi, first = np.unique(phi, return_index=True)  # one radius per direction
        rho = rho[first]
        lo = min(float(theta.min()), float(phi[0]))
        hi = max(float(theta.max()), float(phi[-1]))
        if hi - lo < 1e-12:
            return V.clone()
        t = np.linspace(lo, hi, self.grid)
        r = np.interp(t, phi, rho) if phi.size > 1 else np.full_like(t, rho[0])
        pts = np.stack([r * np.cos(t), r * np.sin(t)], axis=-1)
        arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=-1))])
        if arc[-1] < 1e-12:
            return V.clone()
        # Targets: p positions equally spaced in arc length, both ends included.
        targets = arc[-1] * np.linspace(0.0, 1.0, p)
        pos = np.interp(theta, t, arc)
        vertex = is_vertex(V).numpy()
        new_theta = theta.copy()
        # Vertices (axes) keep their place: the first vector at each axis takes the
        # target slot nearest to it; everyone else fills the free slots in order.
        taken = np.zeros(p, dtype=bool)
        anchored = np.zeros(p, dtype=bool)
        for i in np.flatnonzero(vertex):
            slot = int(np.argmin(np.where(taken, np.inf, np.abs(targets - pos[i]))))
            if np.isclose(targets[slot], pos[i], atol=1e-9 * arc[-1] + 1e-15):
                taken[slot] = anchored[i] = True
        free = np.flatnonzero(~anchored)
        free = free[np.argsort(theta[free], kind="stable")]
        target_theta = np.interp(targets[~taken], arc, t)
        new_theta[free] = theta[free] + self.step * (target_theta - theta[free])
        U = np.stack([np.cos(new_theta), np.sin(new_theta)], axis=-1)
        U[anchored] = V.numpy()[anchored]
        return torch.as_tensor(np.clip(U, 0.0, None))

    # m >= 3: energy steps on the model surface --------------------------------------
    def _design_energy(self, V: Tensor, G: Tensor) -> Tensor:
        p, m = V.shape
        rho_j = G.norm(dim=-1)
        D = G / rho_j.unsqueeze(-1)
        cos_dd = D @ D.T
        cos_dd.fill_diagonal_(-math.inf)
        nn = (1.0 - cos_dd.max(-1).values).clamp_min(0.0)
        tau = max(float(nn.median()), 1e-6)
        free = V > 1e-12  # coordinates that may change (zeros stay zeros)
        movable = free.sum(-1, keepdim=True) > 1
        mask = (free & movable).to(V.dtype)
        n_free = mask.sum(-1, keepdim=True).clamp_min(1.0)
        s = 2.0 * m

        def images(W: Tensor) -> Tensor:
            U = W / W.norm(dim=-1, keepdim=True).clamp_min(_EPS)
            w = torch.softmax(-(1.0 - U @ D.T) / tau, dim=-1)
            return (w @ rho_j).unsqueeze(-1) * U

        iu = torch.triu_indices(p, p, 1)
        W = V.clone()
        for it in range(self.n_iter):
            W.requires_grad_(True)
            Y = images(W)
            d = torch.linalg.vector_norm(Y[iu[0]] - Y[iu[1]], dim=-1)
            if self.kernel == "riesz":
                energy = torch.log(torch.mean((d + 1e-12) ** (-s)))
            else:
                with torch.no_grad():
                    dist = torch.cdist(Y, Y).fill_diagonal_(math.inf)
                    h = float(dist.min(-1).values.mean().clamp_min(1e-9))
                energy = torch.exp(-(d / h) ** 2).sum()
            (grad,) = torch.autograd.grad(energy, W)
            W = W.detach()
            grad = torch.nan_to_num(grad) * mask
            grad = (grad - grad.sum(-1, keepdim=True) / n_free) * mask  # stay on the plane
            norm = grad.norm(dim=-1, keepdim=True)
            if float(norm.max()) < 1e-15:
                break
            # Each vector moves `rate` along its own descent direction (per-point unit
            # normalization, as HIGA-MO does): Riesz gradients differ by orders of magnitude.
            rate = self.lr * (1.0 - it / self.n_iter)
            W = W - rate * grad / norm.clamp_min(1e-300)
            W = torch.where(free, W.clamp_min(_FLOOR), torch.zeros_like(W))
            W = W / W.sum(-1, keepdim=True).clamp_min(_EPS)
        return V + self.step * (W.detach() - V)


def _separate(V: Tensor, gen: torch.Generator) -> Tensor:
    """Jitter all but the first of each group of coincident rows (free coordinates only)."""
    p, _ = V.shape
    if p < 2:
        return V
    d = torch.cdist(V, V)
    dup = (torch.triu(d < 1e-9, diagonal=1)).any(0)  # row j equals an earlier row
    if not bool(dup.any()):
        return V
    free = (V > 1e-12) & ((V > 1e-12).sum(-1, keepdim=True) > 1)
    noise = 1e-3 * torch.rand(V.shape, generator=gen, dtype=V.dtype)
    W = torch.where(dup.unsqueeze(-1) & free, V + noise, V)
    return W / W.sum(-1, keepdim=True)
