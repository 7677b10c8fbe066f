"""Problems: batched, differentiable maps ``x (p x d) -> F (p x m)``, minimized.

Every module in this package registers its problems on import.
"""

from __future__ import annotations

import importlib
import pkgutil

from paretoray.problems.base import REGISTRY, Problem, get, names, register

for _mod in pkgutil.iter_modules(__path__):
    if not _mod.name.startswith("_") and _mod.name != "base":
        importlib.import_module(f"{__name__}.{_mod.name}")

from paretoray.problems.directions import Minimized  # noqa: E402
from paretoray.problems.wrappers import as_problem, from_function  # noqa: E402

__all__ = ["REGISTRY", "Minimized", "Problem", "as_problem", "from_function", "get", "names",
           "register"]
