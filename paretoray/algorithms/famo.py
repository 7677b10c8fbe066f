"""FAMO: fast adaptive multitask optimization -- balance the objectives' log-loss decrease.

[Liu2023]_ (Algorithm 1): each member keeps logits ``xi`` (`m`), ``z = softmax(xi)``; the
step is the gradient of ``sum_i z_i log(L_i - L_i^*)`` normalized by
``c = sum_i z_i / (L_i - L_i^*)``:

    alpha_i = z_i / ((L_i - L_i^*) c),

and after the step, with the new losses, ``delta_i = log(L_i^old - L_i^*) -
log(L_i^new - L_i^*)`` drives ``xi`` down the gradient ``J_softmax(xi)^T delta`` (objectives
that improved most lose weight) with Adam (lr ``beta``) and weight decay ``gamma``, as the
reference code (``torch.optim.Adam(lr=0.025, weight_decay=0.001)``; ``1e-8`` is added to
every ``L - L^*``). Here the logit update for the previous step runs at the start of the
next call of :meth:`FAMO.weights`, when its losses are known -- the reference code's
``update(curr_loss)`` then ``backward(losses)``. The state (logits, Adam moments, step,
last losses) is per member and lives in the weighting (:meth:`FAMO.state_dict`); it
restarts when the population size changes.

.. [Liu2023] B. Liu, Y. Feng, P. Stone, Q. Liu. FAMO: Fast Adaptive Multitask
   Optimization. NeurIPS 2023.
"""

from __future__ import annotations

import torch
from torch import Tensor

from paretoray.algorithms.base import Weighting, register
from paretoray.errors import ConfigError

__all__ = ["FAMO"]

_KEYS = ("xi", "exp_avg", "exp_avg_sq", "prev")


@register("famo")
class FAMO(Weighting):
    """FAMO weights ``alpha_i = z_i / (L_i - L_i^*) / sum_j z_j / (L_j - L_j^*)`` [Liu2023]_.

    Preferences and the Gram matrix are not used. Stateful (Adam on the logits).

    Args:
        lr: Adam learning rate of the logits (paper: 0.025).
        gamma: Weight decay of the logits (paper: 0.001).
        min_losses: Lower bounds ``L^*`` of the objectives (a float or one per objective).
        betas: Adam's ``(beta1, beta2)``.
        eps: Adam's ``eps``.
    """

    needs_gram = False
    description = "Fast adaptive multitask optimization: equalize log-loss decrease rates"
    category = "single solution"
    paper = "Liu et al., FAMO: Fast Adaptive Multitask Optimization, NeurIPS 2023"

    def __init__(self, lr: float = 0.025, gamma: float = 1e-3,
                 min_losses: float | list[float] = 0.0,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        if not lr > 0:
            raise ConfigError(f"FAMO `lr` must be > 0; got {lr!r}.")
        if not gamma >= 0:
            raise ConfigError(f"FAMO `gamma` must be >= 0; got {gamma!r}.")
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ConfigError(f"FAMO `betas` must be two numbers in [0, 1); got {betas!r}.")
        self.lr = float(lr)
        self.gamma = float(gamma)
        self.min_losses = min_losses
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(eps)
        self.reset()

    def reset(self) -> None:
        """Restart: uniform logits, fresh Adam moments, no previous losses."""
        self._state: dict[str, Tensor] = {}
        self._step = 0

    def _shifted(self, values: Tensor) -> Tensor:
        low = torch.as_tensor(self.min_losses, dtype=values.dtype, device=values.device)
        return (values - low).clamp_min(0) + 1e-8  # a loss below its bound counts as at it

    def weights(self, values: Tensor, prefs: Tensor, /, gram: Tensor | None = None,
                context: Tensor | None = None) -> Tensor:
        """FAMO weights (`p x m`, on the simplex); first updates the logits with ``values``."""
        values = values.detach()
        st = self._state
        if st and st["xi"].shape != values.shape:
            self.reset()
            st = self._state
        D = self._shifted(values)
        if not st:
            st["xi"] = torch.zeros_like(values)
            st["exp_avg"] = torch.zeros_like(values)
            st["exp_avg_sq"] = torch.zeros_like(values)
        else:  # the logit update of the previous step, now that its losses are known
            delta = self._shifted(st["prev"]).log() - D.log()
            z = torch.softmax(st["xi"], -1)
            grad = z * (delta - (z * delta).sum(-1, keepdim=True)) + self.gamma * st["xi"]
            b1, b2 = self.betas
            self._step += 1
            st["exp_avg"] = b1 * st["exp_avg"] + (1 - b1) * grad
            st["exp_avg_sq"] = b2 * st["exp_avg_sq"] + (1 - b2) * grad * grad
            bc1, bc2 = 1 - b1**self._step, 1 - b2**self._step
            denom = st["exp_avg_sq"].sqrt() / bc2**0.5 + self.eps
            st["xi"] = st["xi"] - (self.lr / bc1) * st["exp_avg"] / denom
        st["prev"] = values.clone()
        z = torch.softmax(st["xi"], -1)
        q = z / D
        return (q / q.sum(-1, keepdim=True)).to(dtype=values.dtype)

    def state_dict(self) -> dict[str, Tensor]:
        """Logits, Adam moments, last losses and the Adam step count."""
        out = {k: v.cpu().clone() for k, v in self._state.items()}
        out["step"] = torch.tensor(self._step)
        return out

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self._state = {k: state[k].clone() for k in _KEYS if k in state}
        self._step = int(state["step"])
