"""Preference adapters: move a population's preference vectors between rounds.

One adapter per module, all on :class:`~paretoray.preferences.adapters.base.Adapter` and
one registry (``paretoray._registry.Registry``, as problems and algorithms):

* ``fixed`` (:class:`Fixed`): the identity, the classic fixed decomposition;
* ``adaptive`` (:class:`Adaptive`): scale adaptation and gap filling on a front model;
* ``uniform`` (:class:`Uniform`): uniform design through a learned front model
  (:func:`paretoray.preferences.uniform.uniform_design`);
* ``ehvi`` (:class:`EHVI`): BoTorch's qLogNEHVI over the preference simplex.

:func:`initial_prefs` gives the vectors a population starts from. Front geometry
(``to_simplex``, ``cosine``, ``nearest_by_angle``, ``largest_gaps``) lives in
:mod:`paretoray.preferences.geometry`.
"""

from __future__ import annotations

from paretoray.preferences.adapters.adaptive import Adaptive
from paretoray.preferences.adapters.base import REGISTRY, Adapter, get, names, register
from paretoray.preferences.adapters.ehvi import EHVI
from paretoray.preferences.adapters.fixed import Fixed
from paretoray.preferences.adapters.initial import initial_prefs
from paretoray.preferences.adapters.uniform import Uniform

__all__ = [
    "EHVI",
    "REGISTRY",
    "Adapter",
    "Adaptive",
    "Fixed",
    "Uniform",
    "get",
    "initial_prefs",
    "names",
    "register",
]
