"""MGDA: step along the min-norm element of the convex hull of the objective gradients.

Désidéri's multiple-gradient descent algorithm [Desideri2012]_, in the form used for
multi-task learning by [Sener2018]_ (MGDA-UB is the same QP on the Gram matrix of
gradients with respect to a shared representation: pass that Gram matrix). The
direction ``d = J^T alpha*`` with ``alpha* = argmin_{alpha in simplex} alpha^T G alpha``
is the steepest common descent direction [Fliege2000]_: ``<grad f_i, d> >= ||d||^2``
for every ``i``, so no objective increases to first order, and ``d = 0`` exactly at
Pareto-stationary points.

.. [Desideri2012] J.-A. Désidéri. Multiple-gradient descent algorithm (MGDA) for
    multiobjective optimization. C. R. Math. 350(5-6):313-318, 2012.
.. [Sener2018] O. Sener, V. Koltun. Multi-task learning as multi-objective
    optimization. NeurIPS 2018, arXiv 1810.04650.
.. [Fliege2000] J. Fliege, B. F. Svaiter. Steepest descent methods for multicriteria
    optimization. Math. Meth. OR 51:479-494, 2000.
"""

from __future__ import annotations

from torch import Tensor

from paretoray.algorithms.base import Weighting, register
from paretoray.algorithms.minnorm import min_norm
from paretoray.errors import ConfigError

__all__ = ["MGDA"]


@register("mgda")
class MGDA(Weighting):
    """Min-norm weights ``alpha = argmin_{alpha in simplex} alpha^T G alpha`` [Desideri2012]_.

    Preferences are ignored: MGDA finds *a* Pareto-stationary point, which one depends
    on the initialization. Unlike the reference code of [Sener2018]_ the gradients are
    not normalized before the QP, so the step is the true min-norm element (MGDA is
    therefore not invariant to the scale of each objective). The QP is solved for all
    members at once by :func:`paretoray.algorithms.minnorm.min_norm` (exact for
    ``m <= 6``).

    Args:
        iters: Rounds of the QP solver's active-set method, used only for ``m > 6``
            (default ``3 m + 10``, see :func:`~paretoray.algorithms.minnorm.min_norm`).

    Example:
        >>> import torch
        >>> G = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # orthogonal unit gradients
        >>> MGDA()(torch.zeros(1, 2), torch.full((1, 2), 0.5), gram=G)
        tensor([[0.5000, 0.5000]])
    """

    description = "Min-norm common descent direction; preferences ignored"
    category = "single solution"
    paper = "Désidéri, C. R. Math. 2012; Sener & Koltun, NeurIPS 2018"

    needs_gram = True

    def __init__(self, iters: int | None = None) -> None:
        if iters is not None and (
            isinstance(iters, bool) or not isinstance(iters, int) or iters < 1
        ):
            raise ConfigError(f"MGDA `iters` must be None or an integer >= 1; got iters={iters!r}.")
        self.iters = iters

    def weights(
        self,
        values: Tensor,
        prefs: Tensor,
        /,
        gram: Tensor | None = None,
        context: Tensor | None = None,
    ) -> Tensor:
        """Min-norm weights of every member.

        Args:
            values: A `p x m`-dim tensor of objective values (only dtype/device are used).
            prefs: Ignored (MGDA has no preference).
            gram: A `p x m x m`-dim PSD tensor of gradient inner products (required).
            context: Ignored.

        Returns:
            A `p x m`-dim tensor of weights on the simplex, without autograd history.
        """
        if gram is None:
            raise ConfigError(
                "MGDA needs the Gram matrix `gram` (p x m x m); the engine computes it "
                "because MGDA.needs_gram is True. Pass `gram=J @ J.transpose(-1, -2)`."
            )
        return min_norm(gram.detach(), iters=self.iters).to(
            dtype=values.dtype, device=values.device
        )
