"""The adapter interface and its registry.

An adapter is one method, :meth:`Adapter.propose`: from the vectors in use and the
archive's nondominated front it returns the next vectors (same count, rows on the
simplex). The coordinator calls it once per round, so adapters may run small
optimizations; they never see decision vectors, networks or Ray.

Minimization is assumed throughout. Library convention: a preference ``r`` means "``F``
should align with the ray through ``r``" (``paretoray.algorithms.base``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Annotated, Any, ClassVar

import numpy as np
import torch
from pydantic import Field
from torch import Tensor

from paretoray._registry import Registry
from paretoray._validation import ExactInt, Number
from paretoray.errors import ShapeError
from paretoray.preferences.geometry import to_simplex
from paretoray.preferences.reference import validate_prefs

__all__ = ["REGISTRY", "Adapter", "get", "names", "register"]

#: Option types of the built-in adapters (pydantic constraints, checked by
#: :func:`paretoray._validation.checked_options`).
Fraction = Annotated[Number, Field(gt=0, le=1)]
Positive = Annotated[Number, Field(gt=0)]
Count = Annotated[ExactInt, Field(ge=1)]
Seed = Annotated[ExactInt, Field(ge=0)]


def label(adapter: Adapter) -> str:
    """How option errors name an adapter: ``adapter 'adaptive'``."""
    return f"adapter {type(adapter).name or type(adapter).__name__!r}"


class Adapter(ABC):
    """Move preference vectors toward where the front needs points.

    Subclasses implement :meth:`_propose`; :meth:`propose` checks the inputs once,
    computes in float64 on the CPU, and guarantees the result: `p x m`, finite,
    nonnegative, rows summing to one, in ``current``'s dtype and device. Adapters are
    deterministic: the same inputs, ``seed`` and ``round`` give the same vectors.
    """

    #: Registry name, set by :func:`register`.
    name: ClassVar[str] = ""
    #: Whether the vectors proposed depend on the front at all; a coordinator skips an
    #: adapter that says no (its proposal is ``current``) rather than hand it the front.
    reads_front: ClassVar[bool] = True

    def propose(
        self,
        current: Tensor,
        front: Tensor,
        front_prefs: Tensor | None = None,
        *,
        round: int = 0,
    ) -> Tensor:
        """The next preference vectors.

        Args:
            current: A `p x m`-dim tensor of the preference vectors now in use.
            front: A `k x m`-dim tensor of the archive's nondominated objective values
                (minimized); ``k`` may be 0. Rows with NaN/inf are ignored.
            front_prefs: A `k x m`-dim tensor of the preferences that produced the
                ``front`` rows, or None (adapters that need them fall back).
            round: The coordinator's round number; seeds any random draw with
                ``seed + round``.

        Returns:
            A `p x m`-dim tensor of preference vectors on the simplex (same ``p``).

        Raises:
            ShapeError: ``front`` or ``front_prefs`` does not match ``current``.
            PreferenceError: ``current`` has a negative, non-finite or all-zero row.
        """
        if not isinstance(current, Tensor):
            current = torch.as_tensor(np.asarray(current, dtype=np.float64))
        if current.dim() != 2 or current.shape[0] < 1 or current.shape[1] < 1:
            raise ShapeError(
                f"`current` must be a `p x m`-dim tensor with p, m >= 1; "
                f"got shape {tuple(current.shape)}."
            )
        p, m = current.shape
        R = validate_prefs(current.detach().to("cpu", torch.float64), m)
        F = _as_matrix("front", front, m)
        FP = None if front_prefs is None else _as_matrix("front_prefs", front_prefs, m)
        if FP is not None and FP.shape[0] != F.shape[0]:
            raise ShapeError(
                f"`front_prefs` must have one row per `front` row; got {FP.shape[0]} "
                f"preference rows for {F.shape[0]} front rows."
            )
        keep = torch.isfinite(F).all(-1)
        if FP is not None:
            keep &= torch.isfinite(FP).all(-1) & (FP >= 0).all(-1) & (FP.sum(-1) > 0)
            FP = FP[keep]
            FP = FP / FP.sum(-1, keepdim=True)
        F = F[keep]
        if m == 1:
            out = R
        else:
            # Adapters may fit models (autograd) even when the caller runs under no_grad.
            with torch.inference_mode(False), torch.enable_grad():
                out = self._propose(R.clone(), F.clone(), None if FP is None else FP.clone(),
                                    int(round))
        out = to_simplex(out)
        if out.shape != (p, m):  # a subclass bug, not a user error
            raise RuntimeError(f"{self!r} returned shape {tuple(out.shape)}; expected {(p, m)}.")
        dtype = current.dtype if current.is_floating_point() else torch.float64
        return out.to(device=current.device, dtype=dtype)

    @abstractmethod
    def _propose(self, current: Tensor, front: Tensor, front_prefs: Tensor | None,
                 round: int) -> Tensor:
        """Float64 CPU hook: ``current`` validated `p x m`, ``front`` finite `k x m`,
        ``front_prefs`` finite rows on the simplex (or None). May return rows slightly
        off the simplex; :meth:`propose` projects them."""

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({opts})"


#: Registry of preference adapters, by lowercase name.
REGISTRY: Registry[Adapter] = Registry("adapter", Adapter)
#: ``@register("name")`` registers an :class:`Adapter` subclass; ``get(name, **options)``
#: builds one (an :class:`Adapter` passes through; a wrong option raises ConfigError);
#: ``names()`` lists them.
register, get, names = REGISTRY.register, REGISTRY.get, REGISTRY.names


def too_few_pairs(front: Tensor, front_prefs: Tensor | None, min_points: int | None) -> bool:
    """Whether a model-based adapter (uniform, ehvi) has too little to fit on and should
    fall back: no preferences on the front, or fewer than ``min_points`` pairs (default
    ``2 m``, and never fewer than 2)."""
    need = min_points if min_points is not None else 2 * front.shape[-1]
    return front_prefs is None or front.shape[0] < max(need, 2)


def _as_matrix(label: str, value: Any, m: int) -> Tensor:
    X = value if isinstance(value, Tensor) else torch.as_tensor(np.asarray(value, dtype=float))
    X = X.detach().to("cpu", torch.float64)
    if X.numel() == 0:
        return X.reshape(0, m)
    if X.dim() != 2 or X.shape[1] != m:
        raise ShapeError(
            f"`{label}` must be a `k x {m}`-dim tensor (m={m} like `current`); "
            f"got shape {tuple(X.shape)}."
        )
    return X
