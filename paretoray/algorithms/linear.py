"""Linear scalarization: minimize ``sum_i w_i f_i`` with ``w`` the preference vector.

The classical weighted sum [Geoffrion1968]_ [Miettinen1999]_. Its minimizers are the
*supported* Pareto points only: where the front is nonconvex, every weight sends the
iterate to a convex part (often an extreme point).

.. [Geoffrion1968] A. M. Geoffrion. Proper efficiency and the theory of vector
    maximization. J. Math. Anal. Appl. 22(3):618-630, 1968.
.. [Miettinen1999] K. Miettinen. Nonlinear Multiobjective Optimization. Kluwer, 1999.
"""

from __future__ import annotations

import torch
from torch import Tensor

from paretoray.algorithms.base import Weighting, register

__all__ = ["Linear"]


@register("linear")
class Linear(Weighting):
    """Weighted sum: ``alpha = pref / sum(pref)``, whatever the values.

    The step of member ``p`` is ``-sum_i pref_i grad f_i``, the gradient of
    ``pref^T F``; its fixed points are where the front's tangent is normal to ``pref``
    (for convex fronts). So here ``pref`` is a *normal* to the front, not the ray that
    ``F`` aligns with as in the library convention: the weighted sum has no way to
    aim at a ray. Weights sum to one, so the learning rate is the step scale.

    Example:
        >>> Linear()(torch.zeros(1, 2), torch.tensor([[1.0, 3.0]]))
        tensor([[0.2500, 0.7500]])
    """

    description = "Weighted sum of the objectives with the preference as weights"
    category = "finite set"
    paper = "Geoffrion 1968; Miettinen, Nonlinear Multiobjective Optimization, 1999"

    def weights(
        self,
        values: Tensor,
        prefs: Tensor,
        /,
        gram: Tensor | None = None,
        context: Tensor | None = None,
    ) -> Tensor:
        """Step weights ``alpha = pref / sum(pref)``.

        Args:
            values: A `p x m`-dim tensor of objective values (only its dtype and device
                are used).
            prefs: A `p x m`-dim tensor of preference vectors.
            gram: Ignored.
            context: Ignored.

        Returns:
            A `p x m`-dim tensor of weights on the simplex, without autograd history.
        """
        w = prefs.detach().to(dtype=values.dtype, device=values.device)
        return w / w.sum(-1, keepdim=True).clamp_min(torch.finfo(w.dtype).tiny)
