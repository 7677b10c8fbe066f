"""Initial preference vectors: exactly ``p`` well-spread points of the simplex."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import torch
from pydantic import BeforeValidator
from torch import Tensor

from paretoray._validation import checked_options
from paretoray.preferences.adapters.base import Count, Seed
from paretoray.preferences.reference import das_dennis, energy

__all__ = ["initial_prefs"]


def _method_key(value: Any) -> Any:
    return value.lower().replace("_", "-") if isinstance(value, str) else value


#: ``"das-dennis"`` (also ``"das_dennis"``, any case) or ``"energy"``.
Method = Annotated[Literal["das-dennis", "energy"], BeforeValidator(_method_key)]


@checked_options("initial_prefs")
def initial_prefs(m: Count, p: Count, *, method: Method = "das-dennis", seed: Seed = 0) -> Tensor:
    """Exactly ``p`` well-spread preference vectors for ``m`` objectives.

    * ``m = 1``: ``p`` rows ``[1.0]``.
    * ``m = 2`` (either method): ``p`` vectors evenly spaced on the simplex from
      ``(0, 1)`` to ``(1, 0)``, both axes included (``p = 1``: ``(0.5, 0.5)``); the
      Das-Dennis lattice with ``H = p - 1``, which is also the energy minimizer there.
    * ``method="das-dennis"``: the Das-Dennis lattice with the largest ``H`` giving at
      most ``p`` points (``C(H + m - 1, m - 1)``), topped up by greedy max-min selection
      from the finer ``2H`` lattice (or, where that lattice would exceed ``8 p`` points,
      from ``8 p`` seeded Dirichlet(1) draws), so ``p = 91, m = 3`` is the ``H = 12``
      lattice exactly. This costs milliseconds where an energy design of thousands of
      points takes minutes.
    * ``method="energy"``: pymoo's Riesz s-energy design of ``p`` points (``seed``).
    * ``p < m`` (``m >= 3``): the centroid, then the first ``p - 1`` axes.

    Args:
        m: Number of objectives (>= 1).
        p: Number of vectors (>= 1).
        method: ``"das-dennis"`` or ``"energy"``.
        seed: Seed of the energy design.

    Returns:
        A `p x m`-dim float64 tensor of preference vectors.
    """
    if m == 1:
        return torch.ones(p, 1, dtype=torch.float64)
    if p == 1:
        return torch.full((1, m), 1.0 / m, dtype=torch.float64)
    if m == 2:
        return das_dennis(2, p - 1)
    if p < m:
        eye = torch.eye(m, dtype=torch.float64)[: p - 1]
        return torch.cat([torch.full((1, m), 1.0 / m, dtype=torch.float64), eye])
    if method == "energy":
        return energy(m, p, seed=seed)
    H = 1
    while math.comb(H + 1 + m - 1, m - 1) <= p:
        H += 1
    base = das_dennis(m, H)
    if base.shape[0] == p:
        return base
    if math.comb(2 * H + m - 1, m - 1) <= 8 * p:
        pool = das_dennis(m, 2 * H)
    else:
        g = torch.Generator().manual_seed(seed)
        e = -torch.log(torch.rand(8 * p, m, generator=g, dtype=torch.float64).clamp_min(1e-300))
        pool = e / e.sum(-1, keepdim=True)
    chosen = [base]
    dmin = torch.cdist(pool, base).min(-1).values
    for _ in range(p - base.shape[0]):
        j = int(dmin.argmax())
        chosen.append(pool[j : j + 1])
        dmin = torch.minimum(dmin, torch.cdist(pool, pool[j : j + 1]).squeeze(-1))
    return torch.cat(chosen)
