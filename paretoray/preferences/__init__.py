"""Preference vectors: reference-direction designs (``reference``), the adapters that move
them between rounds (``adapters``) and the front geometry both use (``geometry``).

Library convention: a preference vector is a point of the simplex (nonnegative, summing
to one) and means "``F`` should align with the ray through it"; see
``paretoray.algorithms.base``.
"""

from __future__ import annotations

from paretoray.preferences.adapters import Adapter, initial_prefs  # noqa: F401
from paretoray.preferences.reference import circle_points, das_dennis, energy, validate_prefs
from paretoray.preferences.uniform import uniform_design as uniform_design

__all__ = ["circle_points", "das_dennis", "energy", "validate_prefs"]
