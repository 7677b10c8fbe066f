"""PCGrad: gradient surgery -- project away each gradient's conflict with the others.

[Yu2020]_ (Algorithm 1): for every objective ``i``, start from ``g_i^PC = g_i`` and, for the
other objectives ``j`` in a random order, if ``<g_i^PC, g_j> < 0`` replace
``g_i^PC <- g_i^PC - <g_i^PC, g_j> / ||g_j||^2 g_j``; step along ``sum_i g_i^PC``.

Every ``g_i^PC`` stays a combination ``J^T c_i`` of the original gradients, and the
projection only needs ``<J^T c, g_j> = (G c)_j`` and ``||g_j||^2 = G_jj``, so
``alpha = sum_i c_i`` is a function of the Gram matrix: the coefficient of ``g_j`` drops by
``(G c_i)_j / G_jj`` on each projection. All members and all ``i`` are processed together:
``m^2`` small batched updates, no per-member loop and no host sync.

Order: ``"random"`` draws one permutation per member and objective from the weighting's
own seeded generator (reproducible, saved by :meth:`PCGrad.state_dict`); ``"fixed"`` uses
``0, 1, ..., m-1`` for every ``i`` (deterministic).

.. [Yu2020] T. Yu, S. Kumar, A. Gupta, S. Levine, K. Hausman, C. Finn. Gradient Surgery
   for Multi-Task Learning. NeurIPS 2020 (``torchjd.aggregation.PCGrad``).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from paretoray.algorithms.base import Weighting, check_gram, register
from paretoray.errors import ConfigError, ShapeError

__all__ = ["PCGrad", "pcgrad_weights"]


def pcgrad_weights(gram: Tensor, orders: Tensor) -> Tensor:
    """PCGrad's coefficients ``alpha`` (``J^T alpha = sum_i g_i^PC``) for given orders.

    Args:
        gram: A `p x m x m`-dim PSD tensor.
        orders: A `p x m x m`-dim (or `m x m`-dim) integer tensor; ``orders[p, i]`` is the
            permutation of objectives in which ``g_i`` is projected (``i`` itself is skipped).

    Returns:
        A `p x m`-dim float64 tensor.
    """
    G = gram.detach().to(torch.float64)
    p, m, _ = G.shape
    if orders.shape[-2:] != (m, m):
        raise ShapeError(f"Expected `orders` of shape `p x m x m`; got {orders.shape=}, {m=}.")
    orders = orders.to(G.device).long().expand(p, m, m)
    diag = G.diagonal(dim1=-2, dim2=-1)
    eye = torch.eye(m, dtype=G.dtype, device=G.device)
    alpha = torch.zeros(p, m, dtype=G.dtype, device=G.device)
    for i in range(m):  # loops over objectives and positions only: m^2 batched updates
        c = eye[i].expand(p, m).clone()
        for t in range(m):
            j = orders[:, i, t]
            g_j = G.gather(1, j[:, None, None].expand(p, 1, m))[:, 0]
            ip = (g_j * c).sum(-1)
            gjj = diag.gather(1, j[:, None])[:, 0]
            hit = (j != i) & (ip < 0) & (gjj > 0)
            delta = torch.where(hit, -ip / torch.where(hit, gjj, 1.0), 0.0)
            c = c.scatter_add(1, j[:, None], delta[:, None])
        alpha = alpha + c
    return alpha


@register("pcgrad")
class PCGrad(Weighting):
    """PCGrad weights [Yu2020]_, from the Gram matrix, for the whole population.

    Preferences are ignored.

    Args:
        order: ``"random"`` (a seeded permutation per member and objective, as the paper)
            or ``"fixed"`` (ascending, deterministic).
        seed: Seed of the weighting's generator (``order="random"``).
    """

    needs_gram = True
    description = "Gradient surgery: project each gradient off the ones it conflicts with"
    category = "single solution"
    paper = "Yu et al., Gradient Surgery for Multi-Task Learning, NeurIPS 2020"

    def __init__(self, order: Literal["random", "fixed"] = "random", seed: int = 0) -> None:
        if order not in ("random", "fixed"):
            raise ConfigError(f"PCGrad `order` must be 'random' or 'fixed'; got {order!r}.")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"PCGrad `seed` must be an integer; got {seed!r}.")
        self.order = order
        self.seed = seed
        self._generator = torch.Generator().manual_seed(seed)

    def weights(self, values: Tensor, prefs: Tensor, /, gram: Tensor | None = None,
                context: Tensor | None = None) -> Tensor:
        """PCGrad weights (`p x m`), without autograd history."""
        G = check_gram("PCGrad", values, gram)
        p, m = values.shape
        if self.order == "fixed":
            orders = torch.arange(m).expand(m, m)
        else:
            orders = torch.rand(p, m, m, generator=self._generator).argsort(-1)
        return pcgrad_weights(G, orders).to(dtype=values.dtype, device=values.device)

    def state_dict(self) -> dict[str, Tensor]:
        """The generator state (a uint8 tensor): restoring it repeats the same orders."""
        return {"rng": self._generator.get_state()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self._generator.set_state(state["rng"])
