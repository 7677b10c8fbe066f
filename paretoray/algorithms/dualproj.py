"""DualProj: project the preference-weighted gradient onto the dual cone of the gradients.

The projection of Gradient Episodic Memory [LopezPaz2017]_ (Eq. 11), as an aggregator in
[Quinton2024]_: ``d = pi_J(J^T w)`` with ``pi_J`` the projection onto ``{d : J d >= 0}``, so
``alpha = argmin_{v >= w} v^T G v`` (Proposition 1 of [Quinton2024]_). ``w`` is the member's
preference vector (uniform: the mean gradient, the default of the reference code).

.. [LopezPaz2017] D. Lopez-Paz, M. Ranzato. Gradient Episodic Memory for Continual
   Learning. NeurIPS 2017.
.. [Quinton2024] P. Quinton, V. Rey. Jacobian Descent for Multi-Objective Optimization.
   arXiv 2406.16232, 2024. Reference code: TorchJD (``torchjd.aggregation.DualProj``).
"""

from __future__ import annotations

from torch import Tensor

from paretoray.algorithms._mtl import project_dual_cone
from paretoray.algorithms.base import Weighting, check_gram, register
from paretoray.errors import ConfigError

__all__ = ["DualProj"]


@register("dualproj")
class DualProj(Weighting):
    """DualProj weights ``alpha = argmin_{v >= pref} v^T G v`` [LopezPaz2017]_.

    Args:
        iters: Projected Gauss-Seidel sweeps, used only for ``m > 6`` (default ``50 m``).
    """

    needs_gram = True
    description = "Preference-weighted gradient projected onto the gradients' dual cone"
    category = "single solution"
    paper = "Lopez-Paz & Ranzato, Gradient Episodic Memory for Continual Learning, NeurIPS 2017"

    def __init__(self, iters: int | None = None) -> None:
        if iters is not None and (isinstance(iters, bool) or not isinstance(iters, int)
                                  or iters < 1):
            raise ConfigError(f"DualProj `iters` must be None or an integer >= 1; got {iters!r}.")
        self.iters = iters

    def weights(self, values: Tensor, prefs: Tensor, /, gram: Tensor | None = None,
                context: Tensor | None = None) -> Tensor:
        """DualProj weights (`p x m`, ``>= prefs``), without autograd history."""
        G = check_gram("DualProj", values, gram).detach()
        V = project_dual_cone(prefs.detach()[:, None, :], G, iters=self.iters)
        return V[:, 0].to(dtype=values.dtype, device=values.device)
