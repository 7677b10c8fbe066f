"""``fixed``: the classic fixed decomposition (the vectors never move)."""

from __future__ import annotations

from torch import Tensor

from paretoray.preferences.adapters.base import Adapter, register

__all__ = ["Fixed"]


@register("fixed")
class Fixed(Adapter):
    """Keep the preference vectors as they are.

    The result is a copy of ``current``, bit for bit (inputs are still checked).
    """

    reads_front = False

    def propose(self, current: Tensor, front: Tensor, front_prefs: Tensor | None = None, *,
                round: int = 0) -> Tensor:
        out = super().propose(current, front, front_prefs, round=round)
        return current.detach().clone() if isinstance(current, Tensor) else out

    def _propose(self, current: Tensor, front: Tensor, front_prefs: Tensor | None,
                 round: int) -> Tensor:
        return current.clone()
