"""Uniform Pareto-front designs (UMOD): the inner weighting.

Minimization is assumed. UMOD [Zhang2024]_ is bi-level: the lower level solves one
modified Tchebycheff problem per preference (``h(l) = F(argmin_x max_i (f_i - z_i)/l_i)``),
the upper level moves the preferences so that the predicted objective vectors
``h(l_1), ..., h(l_K)`` form a max-packing (maximal minimum pairwise distance), which is
rate-optimal for the fill distance and asymptotically uniform on the front.

In paretoray the two levels are split: this weighting is the lower level (mTche, hard or
smoothed with ``mu``; see :class:`~paretoray.algorithms.mtche.MTche`), and
:func:`paretoray.preferences.uniform.uniform_design` is the upper level, run between
rounds on the observed ``(preference, objective)`` pairs to produce the next preferences.

Preference convention of the library ("``F`` aligns with the preference ray", measured
from the ideal point ``z``): the mTche optimum is on that ray, so preferences are used as
given. Deviation from the paper: its neural model is trained on all history and the
preferences are re-optimised every 2000 iterations inside one loop; here the cadence is
the coordinator's rounds and the surrogate is kernel ridge regression (see
:mod:`paretoray.preferences.uniform`).

References:
    .. [Zhang2024] X. Zhang, G. Li, X. Lin, Y. Zhang, Y. Chen, Q. Zhang. Gliding over the
       Pareto Front with Uniform Designs. NeurIPS 2024, vol. 37, pp. 2215-2245.
"""

from __future__ import annotations

from paretoray.algorithms.base import register
from paretoray.algorithms.mtche import MTche


@register("umod")
class UMOD(MTche):
    """Modified Tchebycheff weights for the preferences placed by ``uniform_design``.

    Same options and weights as :class:`~paretoray.algorithms.mtche.MTche` (``ideal``,
    ``mu`` for the smooth variant, ``eps``); per member. Preferences move between rounds
    with :func:`paretoray.preferences.uniform.uniform_design`, not inside this weighting.
    """

    description = "Uniform-design preferences on modified Tchebycheff (Gliding over the front)"
    category = "finite set"
    paper = "Zhang et al., Gliding over the Pareto Front with Uniform Designs, NeurIPS 2024"
