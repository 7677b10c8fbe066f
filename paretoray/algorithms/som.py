"""Sum-of-minimum (few-for-many) optimization: K solutions, each objective served by its best.

[Ding2024]_ considers

    min_{x_1..x_K}  (1/m) sum_i min_k f_i(x_k),

the population as one set in which every objective is served by its best member (k-means
is the case ``f_i(x) = ||x - a_i||^2``). Its generalized Lloyd algorithm alternates an
assignment ``C_k = {i : k = argmin_k f_i(x_k)}`` (ties: the first member) and an update of
every ``x_k`` on the average loss of its group, ``(1/|C_k|) sum_{i in C_k} f_i``; with
gradient updates (the paper's variant for losses without a closed-form minimizer) member
``k`` steps along ``-sum_{i in C_k} grad f_i(x_k) / |C_k|``, so

    alpha[k, i] = [k = argmin_k' F[k', i]] / |C_k|          (``normalize="group"``),

or ``1 / m`` instead of ``1 / |C_k|`` (``normalize="total"``: the plain gradient of the
sum-of-minimum objective). On quadratics with ``lr = 1/2`` (SGD) one step is exactly one
Lloyd iteration. The paper's k-means++-style seeding picks the starting points; here they
come from the run (``problem.sample`` or the caller's ``x0``).

``context`` (other shards' points) joins the assignment: an objective already served best
by a context point is in no member's group. Preferences are not used.

.. [Ding2024] L. Ding, Z. Chen, X. Wang, W. Yin. Efficient Algorithms for Sum-of-Minimum
   Optimization. ICML 2024.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from paretoray.algorithms.base import Weighting, register
from paretoray.errors import ConfigError

__all__ = ["SumOfMinimum", "sum_of_minimum"]


def sum_of_minimum(values: Tensor) -> Tensor:
    """The sum-of-minimum objective ``(1/m) sum_i min_k F[k, i]`` of a `k x m`-dim set."""
    return values.amin(0).mean()


@register("som")
class SumOfMinimum(Weighting):
    """Sum-of-minimum weights: each objective drives only the member that serves it best.

    Args:
        normalize: ``"group"`` (divide by the group size, the generalized Lloyd update)
            or ``"total"`` (divide by ``m``: the objective's gradient).
    """

    needs_gram = False
    per_member = False
    description = "Sum-of-minimum: few solutions, each objective served by its best one"
    category = "finite set"
    paper = "Ding et al., Efficient Algorithms for Sum-of-Minimum Optimization, ICML 2024"

    def __init__(self, normalize: Literal["group", "total"] = "group") -> None:
        if normalize not in ("group", "total"):
            raise ConfigError(f"SumOfMinimum `normalize` must be 'group' or 'total'; "
                              f"got {normalize!r}.")
        self.normalize = normalize

    @torch.no_grad()
    def weights(self, values: Tensor, prefs: Tensor, /, gram: Tensor | None = None,
                context: Tensor | None = None) -> Tensor:
        """Assignment weights (`p x m`, one nonzero row per objective at most).

        Args:
            values: A `p x m`-dim tensor of objective values (minimized).
            prefs: Unused.
            gram: Unused.
            context: A `k x m`-dim tensor of other shards' points, or None.
        """
        p, m = values.shape
        pts = values
        if context is not None:
            context = context.to(values.device, values.dtype).reshape(-1, m)
            pts = torch.cat([values, context[torch.isfinite(context).all(1)]])
        best = pts.argmin(0)  # m: first index on ties
        rows = torch.arange(p, device=values.device)
        alpha = (best[None, :] == rows[:, None]).to(values.dtype)
        if self.normalize == "group":
            return alpha / alpha.sum(1, keepdim=True).clamp_min(1.0)
        return alpha / m
