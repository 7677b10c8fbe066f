"""Reference directions on the simplex: fixed preference designs for a population.

Every generator returns a `k x m`-dim float64 tensor whose rows are nonnegative and sum
to one. Boundary rows contain zeros; methods that divide by a preference (Tchebycheff,
EPO) clip at their own boundary.

.. [Das1998] I. Das, J. E. Dennis. Normal-boundary intersection: a new method for
    generating the Pareto surface in nonlinear multicriteria optimization problems.
    SIAM J. Optim. 8(3):631-657, 1998.
.. [Blank2021] J. Blank, K. Deb, Y. Dhebar, S. Bandaru, H. Seada. Generating well-spaced
    points on a unit simplex for evolutionary many-objective optimization.
    IEEE TEVC 25(1):48-60, 2021 (Riesz s-energy).
.. [Lin2019] X. Lin, H.-L. Zhen, Z. Li, Q. Zhang, S. Kwong. Pareto multi-task learning.
    NeurIPS 2019 (``circle_points``).
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
import torch
from pydantic import Field
from torch import Tensor

from paretoray._validation import ExactInt, checked_options
from paretoray.errors import ConfigError, PreferenceError

__all__ = ["circle_points", "das_dennis", "energy", "validate_prefs"]

#: An integer >= 1 (``int``, a NumPy integer or a whole float; never a bool or a string).
Count = Annotated[ExactInt, Field(ge=1)]


@checked_options("das_dennis")
def das_dennis(m: Count, n_partitions: Count) -> Tensor:
    """Das-Dennis simplex lattice [Das1998]_: every point with coordinates in
    ``{0, 1/H, ..., 1}`` summing to one, ``H = n_partitions``.

    There are ``C(H + m - 1, m - 1)`` points (``m = 3, H = 12``: 91; ``m = 5, H = 6``: 210).

    Args:
        m: Number of objectives (>= 1).
        n_partitions: Lattice resolution ``H`` (>= 1).

    Returns:
        A `k x m`-dim float64 tensor of preference vectors.

    Example:
        >>> das_dennis(2, 2)
        tensor([[0.0000, 1.0000],
                [0.5000, 0.5000],
                [1.0000, 0.0000]], dtype=torch.float64)
    """
    H = n_partitions
    if m == 1:
        return torch.ones(1, 1, dtype=torch.float64)
    from pymoo.util.ref_dirs import get_reference_directions  # lazy: pymoo imports slowly

    W = get_reference_directions("das-dennis", m, n_partitions=H)
    return torch.as_tensor(np.ascontiguousarray(W), dtype=torch.float64)


@checked_options("energy")
def energy(m: Annotated[ExactInt, Field(ge=2)], n_points: Count, seed: ExactInt | None = 1
           ) -> Tensor:
    """``n_points`` well-spread directions minimizing the Riesz s-energy [Blank2021]_
    (pymoo's ``get_reference_directions("energy", ...)``; the ``m`` vertices are included).

    This runs an optimization (about a second for ``m = 3, n_points = 20`` on a CPU);
    the result depends on ``seed``; ``seed=1`` matches LibMOON.

    Args:
        m: Number of objectives (>= 2).
        n_points: Number of directions (>= m).
        seed: Seed of pymoo's random initialization.

    Returns:
        A `n_points x m`-dim float64 tensor of preference vectors.
    """
    n = n_points
    if n < m:
        raise ConfigError(f"energy: n_points={n} is not allowed with m={m}; allowed values: "
                          f"integers >= m (the {m} vertices are always included).")
    from pymoo.util.ref_dirs import get_reference_directions

    W = np.clip(get_reference_directions("energy", m, n, seed=seed), 0.0, None)
    W = W / W.sum(axis=1, keepdims=True)
    return torch.as_tensor(np.ascontiguousarray(W), dtype=torch.float64)


@checked_options("circle_points")
def circle_points(k: Count) -> Tensor:
    """``k`` two-objective preferences at evenly spread angles on the quarter circle.

    Angles ``theta_i = i * pi / (2 (k - 1))`` include both endpoints (``k = 1``: 45 degrees);
    ``(cos theta, sin theta)`` is then rescaled onto the simplex, so rows go from
    ``(1, 0)`` to ``(0, 1)`` exactly. Angularly even rays, as in Pareto MTL [Lin2019]_.

    Args:
        k: Number of preference vectors (>= 1).

    Returns:
        A `k x 2`-dim float64 tensor of preference vectors.
    """
    if k == 1:
        theta = torch.tensor([math.pi / 4], dtype=torch.float64)
    else:
        theta = torch.linspace(0.0, math.pi / 2, k, dtype=torch.float64)
    W = torch.stack([torch.cos(theta), torch.sin(theta)], dim=-1)
    # cos(pi/2) is 6e-17, not 0: make the end rows exact vertices.
    W = torch.where(W < 1e-12, torch.zeros_like(W), W)
    return W / W.sum(-1, keepdim=True)


def validate_prefs(prefs: Any, m: int) -> Tensor:
    """Check preference vectors and rescale each row to sum to one.

    Call this once, at the boundary (configs, ``search()``); weightings assume valid rows.

    Args:
        prefs: A `k x m`-dim (or `m`-dim) tensor, array or nested list of preferences.
        m: Number of objectives.

    Returns:
        A new tensor of the same shape with rows summing to one (float64 unless ``prefs``
        is a floating tensor, whose dtype and device are kept).

    Raises:
        PreferenceError: A row has the wrong length, a negative or non-finite entry, or
            only zeros. The message names the row and the value.
    """
    if isinstance(prefs, Tensor):
        P = prefs.detach().clone()
        if not P.is_floating_point():
            P = P.to(torch.float64)
    else:
        try:
            P = torch.as_tensor(np.asarray(prefs, dtype=np.float64))
        except (TypeError, ValueError) as e:
            raise PreferenceError(
                f"`prefs` must be a `k x {m}` array of numbers; could not convert it ({e})."
            ) from None
    if P.dim() not in (1, 2) or P.shape[-1] != m:
        raise PreferenceError(
            f"`prefs` must be a `k x {m}`-dim tensor (one entry per objective, m={m}); "
            f"got shape {tuple(P.shape)}."
        )
    rows = P.reshape(-1, m)
    bad = ~torch.isfinite(rows)
    if bool(bad.any()):
        i, j = (int(v) for v in bad.nonzero()[0])
        raise PreferenceError(
            f"`prefs` row {i} has a non-finite entry prefs[{i}, {j}] = {float(rows[i, j])}; "
            "allowed: finite, nonnegative numbers, not all zero."
        )
    neg = rows < 0
    if bool(neg.any()):
        i, j = (int(v) for v in neg.nonzero()[0])
        raise PreferenceError(
            f"`prefs` row {i} has a negative entry prefs[{i}, {j}] = {float(rows[i, j]):.6g}; "
            "preferences must be nonnegative (a point of the simplex). "
            "Build them with `das_dennis(m, n_partitions)` or clip them at 0."
        )
    s = rows.sum(-1)
    zero = s <= 0
    if bool(zero.any()):
        i = int(zero.nonzero()[0, 0])
        raise PreferenceError(
            f"`prefs` row {i} is all zeros ({rows[i].tolist()}); at least one entry must be "
            "positive so the row can be scaled to sum to one."
        )
    return (rows / s.unsqueeze(-1)).reshape(P.shape)
