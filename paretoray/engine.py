"""One optimizer step for a whole population at once.

The engine is where problems meet weightings (DESIGN.md part 3). For a population of
``p`` members with decision vectors ``x`` (`p x d`) and preferences ``prefs`` (`p x m`),
one step is:

1. ``F = problem(x)`` (`p x m`), one batched call;
2. only if the weighting asks for it, the Jacobian ``J`` (`p x m x d`): the gradients of
   ``F[:, i].sum()`` in one batched backward pass (``m`` passes where the problem's
   backward cannot be batched) -- members are independent, so the gradient of the
   population sum w.r.t. ``x[p]`` is member ``p``'s own gradient -- and ``G = J J^T``;
3. ``alpha = weighting(F, prefs, G, context)`` (`p x m`);
4. the direction ``J^T alpha`` (or one backward pass of ``F`` with ``alpha`` as its
   output gradient when ``J`` was not formed), any torch optimizer (Adam's update is
   inlined on its own state: the step's fixed cost is dispatch, not arithmetic), then
   projection onto the box.

Members whose values or direction are NaN/inf are detected in the same batched program,
reset (to a fallback point or a fresh draw, their optimizer state zeroed) and counted;
their values are never reported as finite. On the CPU two scalar reads per step tell
whether any member is non-finite; on other devices nothing is read back per step (see
:meth:`Engine.run`). No Python loop over members anywhere.

Network problems (``paretoray.problems.networks``) take the same four steps on a population
of networks (``paretoray._network_engine``): a fresh shared mini-batch per step, ``G`` from
``m`` backward passes accumulated tensor by tensor, and the direction from one more backward
pass of ``sum(alpha.detach() * F)``. For them the engine also exposes
:meth:`Engine.member_params`, :meth:`Engine.load_members` and :meth:`Engine.heldout_metrics`,
and :meth:`Engine.evaluate` returns the held-out losses (``x`` is None).

Minimization is assumed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from paretoray import algorithms as _algorithms
from paretoray import problems as _problems
from paretoray.algorithms.base import Weighting
from paretoray.algorithms.minnorm import tangent_jacobian
from paretoray.constraints import steer
from paretoray.errors import ConfigError, ShapeError, UnknownNameError
from paretoray.problems.base import Problem

if TYPE_CHECKING:
    from paretoray._network_engine import NetworkPopulation

OptimizerFactory = Callable[..., torch.optim.Optimizer]

#: Optimizers known by name; any ``torch.optim.Optimizer`` factory is accepted too.
OPTIMIZERS: dict[str, OptimizerFactory] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
    "adagrad": torch.optim.Adagrad,
}


def default_device() -> torch.device:
    """CUDA when available, CPU otherwise."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class StepStats:
    """What one or more engine steps did.

    Attributes:
        steps: Number of steps taken.
        nan_resets: Members reset because their values or direction were not finite.
        seconds: Wall time spent in the steps.
    """

    steps: int = 0
    nan_resets: int = 0
    seconds: float = 0.0

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else float("nan")

    def __iadd__(self, other: StepStats) -> StepStats:
        self.steps += other.steps
        self.nan_resets += other.nan_resets
        self.seconds += other.seconds
        return self


def _make_optimizer(optimizer: str | OptimizerFactory, params: list[Tensor], lr: float,
                    options: dict[str, Any]) -> torch.optim.Optimizer:
    if isinstance(optimizer, str):
        key = optimizer.lower()
        if key not in OPTIMIZERS:
            raise UnknownNameError(
                f"Unknown optimizer {optimizer!r}; allowed values: "
                f"{', '.join(sorted(OPTIMIZERS))}, "
                "or a torch.optim.Optimizer class."
            )
        factory = OPTIMIZERS[key]
    elif callable(optimizer):
        factory = optimizer
    else:
        raise ConfigError(f"`optimizer` must be a name or an Optimizer class; got {optimizer!r}.")
    return factory(params, lr=lr, **options)


class _InPlaceAdam:
    """``torch.optim.Adam``'s update for the engine's single `p x d` tensor, inlined.

    On the optimizer's own state tensors (``step``, ``exp_avg``, ``exp_avg_sq``), so
    :meth:`Engine.state_dict`, checkpoints and member resets see what ``optimizer.step()``
    would leave, without its per-call dispatch (about 70 us of a 250 us step at ``p = 100``
    on a CPU). On the CPU it is torch's fused Adam kernel (``torch._fused_adam_``, what
    ``Adam(fused=True)`` runs: one call of 5 us instead of seven tensor ops of 25-35 us;
    it differs from the single-tensor update in the last bit); elsewhere, the same
    arithmetic as torch's single-tensor Adam (``lerp_``, ``mul_``/``addcmul_``, bias
    corrections from the CPU ``step`` counter, ``addcdiv_``). Used only while the
    optimizer's one parameter group has Adam's plain options (no AMSGrad, weight decay,
    maximize, capturable/differentiable/fused modes or step hooks); the engine calls
    ``optimizer.step()`` otherwise.
    """

    def __init__(self, optimizer: torch.optim.Optimizer | None, x: Tensor,
                 group: dict[str, Any] | None = None) -> None:
        self.optimizer, self.x = optimizer, x
        #: Adam's options and the state, kept here while no optimizer object exists
        self._group, self._state = group, {}

    @classmethod
    def plain(cls, optimizer: str | OptimizerFactory, x: Tensor, lr: float,
              options: dict[str, Any]) -> _InPlaceAdam | None:
        """The update with no ``torch.optim`` object behind it, for ``"adam"`` with at most
        ``betas`` and ``eps`` given: building the first ``torch.optim`` optimizer of a
        process imports ``torch._dynamo`` (about 1 s of CPU, in every worker process), and
        nothing here needs it. None otherwise; :attr:`Engine.optimizer` builds the torch
        optimizer on the same state when it is asked for."""
        named = optimizer.lower() if isinstance(optimizer, str) else None
        if not (named == "adam" or optimizer is torch.optim.Adam) or x.is_complex() or \
                set(options) - {"betas", "eps"}:
            return None
        betas = tuple(float(b) for b in options.get("betas", (0.9, 0.999)))
        eps = float(options.get("eps", 1e-8))
        # torch.optim.Adam's own checks, with its messages
        if not eps >= 0.0:  # NaN too (lr is checked by the engine)
            raise ValueError(f"Invalid epsilon value: {eps}")
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"Invalid beta parameters: {betas}")
        return cls(None, x, {"lr": lr, "betas": betas, "eps": eps})

    def attach(self, optimizer: torch.optim.Optimizer) -> None:
        """Hand the state kept so far to ``optimizer`` (same dict), which rules from now."""
        optimizer.state[self.x] = self._state
        self.optimizer = optimizer

    @staticmethod
    def fits(optimizer: torch.optim.Optimizer, x: Tensor) -> bool:
        groups = optimizer.param_groups
        return (type(optimizer) is torch.optim.Adam and len(groups) == 1
                and len(groups[0]["params"]) == 1 and groups[0]["params"][0] is x
                and not x.is_complex())

    @property
    def state(self) -> dict[str, Any]:
        """The optimizer state of ``x`` (``step``, ``exp_avg``, ``exp_avg_sq``)."""
        return self._state if self.optimizer is None else self.optimizer.state[self.x]

    def applies(self) -> bool:
        opt = self.optimizer
        if opt is None:
            return True
        g = opt.param_groups[0]  # read each time: load_state_dict replaces the groups
        return not (g["amsgrad"] or g["weight_decay"] or g["maximize"] or g["capturable"]
                    or g["differentiable"] or g["fused"] or g.get("decoupled_weight_decay")
                    or isinstance(g["lr"], Tensor) or opt._optimizer_step_pre_hooks
                    or opt._optimizer_step_post_hooks)

    def step(self, grad: Tensor) -> None:
        x = self.x
        g = self._group if self.optimizer is None else self.optimizer.param_groups[0]
        state = self.state
        if not state:  # as Adam's lazy initialization (a CPU step counter)
            state["step"] = torch.tensor(0.0, dtype=_scalar_dtype())
            state["exp_avg"] = torch.zeros_like(x, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(x, memory_format=torch.preserve_format)
        step_t, exp_avg, exp_avg_sq = state["step"], state["exp_avg"], state["exp_avg_sq"]
        beta1, beta2 = g["betas"]
        lr, eps = g["lr"], g["eps"]
        step_t += 1
        if _FUSED_ADAM is not None and x.device.type == "cpu" and step_t.device.type == "cpu":
            _FUSED_ADAM([x], [grad], [exp_avg], [exp_avg_sq], [], [step_t], amsgrad=False,
                        lr=lr, beta1=beta1, beta2=beta2, weight_decay=0.0, eps=eps,
                        maximize=False)
            return
        step = float(step_t) if step_t.device.type == "cpu" else float(step_t.cpu())
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bias_correction1 = 1 - beta1**step
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
        x.addcdiv_(exp_avg, denom, value=-(lr / bias_correction1))


#: torch's fused Adam kernel (CPU and CUDA since torch 2.4), or None.
_FUSED_ADAM = getattr(torch, "_fused_adam_", None)


def _scalar_dtype() -> torch.dtype:
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


class Engine:
    """A population of ``p`` members stepped together by one weighting.

    Args:
        problem: A :class:`~paretoray.problems.Problem` or registry name.
        algorithm: A :class:`~paretoray.algorithms.Weighting` or registry name.
        prefs: A `p x m`-dim tensor of preference vectors (rows on the simplex).
        x0: A `p x d`-dim tensor of starting points; drawn uniformly in the box if None.
        lr: Learning rate of the optimizer.
        optimizer: A name in :data:`OPTIMIZERS` or a ``torch.optim.Optimizer`` class.
        optimizer_options: Extra keyword arguments for the optimizer.
        seed: Seeds the starting draw and every reset draw.
        device: Where the population lives; CUDA when available by default.
        dtype: Floating dtype of ``x`` (None: float64 for vector problems -- the toy problems
            are cheap and the indicators compare to 1e-6 -- and float32 for networks).
    """

    def __init__(
        self,
        problem: Problem | str,
        algorithm: Weighting | str,
        prefs: Tensor,
        *,
        x0: Tensor | None = None,
        lr: float = 1e-2,
        optimizer: str | OptimizerFactory = "adam",
        optimizer_options: dict[str, Any] | None = None,
        seed: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        from paretoray.preferences import validate_prefs

        self.problem = _problems.get(problem) if isinstance(problem, str) else problem
        self.algorithm = _weighting(algorithm, self.problem)
        self.device = torch.device(device) if device is not None else default_device()
        is_net = getattr(type(self.problem), "is_network", False)
        dtype = dtype if dtype is not None else (torch.float32 if is_net else torch.float64)
        self.dtype = dtype
        if not lr > 0:
            raise ConfigError(f"`lr` must be a positive number; got {lr!r}.")
        self.lr = float(lr)
        prefs = validate_prefs(torch.as_tensor(prefs), self.problem.n_obj)
        self.prefs = prefs.to(self.device, self.dtype)
        self.p = self.prefs.shape[0]
        self._generator = torch.Generator().manual_seed(int(seed))
        self.steps_done = 0
        self.nan_resets = 0
        #: The network population (network problems only), else None.
        self._net: NetworkPopulation | None = None
        if is_net:
            self._init_network(x0, seed, dict(optimizer_options or {}), optimizer)
            return
        if x0 is None:
            x0 = self._draw(self.p)
        else:
            x0 = torch.as_tensor(x0, dtype=dtype)
            if x0.shape != (self.p, self.problem.n_var):
                raise ShapeError(
                    f"`x0` must be a `p x d` = {self.p} x {self.problem.n_var} tensor; "
                    f"got {tuple(x0.shape)}."
                )
            self.problem.check_bounds(x0)
        self.x = x0.to(self.device, dtype).clone().requires_grad_(True)
        self._xl = self.problem.xl.to(self.device, dtype)
        self._xu = self.problem.xu.to(self.device, dtype)
        options = dict(optimizer_options or {})
        self._adam = _InPlaceAdam.plain(optimizer, self.x, self.lr, options)
        self._optimizer = (None if self._adam is not None
                           else _make_optimizer(optimizer, [self.x], self.lr, options))
        self.steps_done = 0
        self.nan_resets = 0
        #: Rows to restart reset members from (e.g. their best archived points), or None.
        self.fallback: Tensor | None = None
        # the fixed cost of a step: Adam inlined, the plain box clamp in place, one batched
        # backward for the Jacobian (the m-pass loop where the problem's backward cannot be
        # batched), no host sync off the CPU
        if self._optimizer is not None and _InPlaceAdam.fits(self._optimizer, self.x):
            self._adam = _InPlaceAdam(self._optimizer, self.x)
        self._plain_project = type(self.problem).project is Problem.project
        self._batched_jacobian: bool | None = None
        self._sync_free = self.device.type != "cpu"

    def _init_network(self, x0: Any, seed: int, options: dict[str, Any],
                      optimizer: str | OptimizerFactory) -> None:
        from paretoray._network_engine import NetworkPopulation

        if x0 is not None:
            raise ConfigError("`x0` is for vector problems; start network members from "
                              "checkpoints with `engine.load_members(index, params)`.")
        # Weightings compute in float64 (their LPs/QPs); the networks keep their own dtype.
        net_dtype, self.dtype = self.dtype, torch.float64
        self.prefs = self.prefs.to(self.dtype)
        self._net = NetworkPopulation(self.problem, self.p, seed=seed, device=self.device,
                                      dtype=net_dtype)
        self.x = None
        self._adam = None
        self._optimizer = _make_optimizer(optimizer, self._net.leaves, self.lr, options)
        self.fallback = None
        self._heldout: tuple[int, Tensor, dict[str, Tensor]] | None = None

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The ``torch.optim`` optimizer of the population's parameters. For plain Adam
        the engine updates the state itself and builds this object only when asked for,
        on the same state tensors."""
        if self._optimizer is None:
            assert self._adam is not None and self._adam._group is not None
            g = self._adam._group
            self._optimizer = torch.optim.Adam([self.x], lr=g["lr"], betas=g["betas"],
                                               eps=g["eps"])
            self._adam.attach(self._optimizer)
        return self._optimizer

    def _optim_states(self) -> list[dict[str, Any]]:
        """Every optimizer state dict (one per parameter), without building the optimizer."""
        if self._optimizer is None and self._adam is not None:
            return [self._adam.state]
        return list(self.optimizer.state.values())

    def _network(self, what: str) -> NetworkPopulation:
        if self._net is None:
            raise ConfigError(f"`Engine.{what}` is for network problems; {self.problem!r} is a "
                              "vector problem (read `engine.x` instead).")
        return self._net

    # ------------------------------------------------------------------ stepping
    def _draw(self, k: int) -> Tensor:
        x = self.problem.sample(k, generator=self._generator)
        return x.to(self.device, self.dtype)

    def step(self, context: Tensor | None = None) -> StepStats:
        """One step for every member; returns what happened."""
        return self.run(1, context)

    def run(self, steps: int, context: Tensor | None = None) -> StepStats:
        """Take ``steps`` steps; returns their summed statistics.

        Vector problems: on the CPU a step reads two scalars back (are any members
        non-finite?, free there) and resets such members at once from fresh draws or
        :attr:`fallback`; on other devices the steps run without host syncs: non-finite
        members restart in the same program from rows drawn once per call (the
        :attr:`fallback` rows, else ``p`` fresh draws) and the count is read once at the
        end, so a member reset twice in one call restarts twice from the same row.
        """
        t0 = _now(self.device)
        steps = int(steps)
        if self._net is not None:
            n_bad = 0
            for _ in range(steps):
                bad = self._net.step(self.algorithm, self.prefs, self.optimizer, context,
                                     _sanitize)
                k = int(bad.sum())  # one host sync per step, not per member
                if k:
                    self._net.reset(bad, self.optimizer)
                n_bad += k
                self.steps_done += 1
            self.nan_resets += n_bad
            return StepStats(steps=steps, nan_resets=n_bad, seconds=_now(self.device) - t0)
        n_bad = 0
        sync_free = self._sync_free
        if sync_free and steps:
            spare = self._spare_rows()
            count = torch.zeros(self.p, dtype=torch.long, device=self.device)
        for _ in range(steps):
            bad = self._advance(context, sync_free)
            if sync_free:
                self._restart_in_place(bad, spare)
                count += bad
            elif bad is not None:
                n_bad += int(bad.sum())
                self.reset_members(bad)
            self.steps_done += 1
        if sync_free and steps:
            n_bad = int(count.sum())  # the one host sync of the call
        self.nan_resets += n_bad
        return StepStats(steps=steps, nan_resets=n_bad, seconds=_now(self.device) - t0)

    def _advance(self, context: Tensor | None, sync_free: bool) -> Tensor | None:
        """One batched step of every member; returns the `p`-dim mask of non-finite ones.

        Their rows of ``x`` and of the optimizer state are left as the step made them (the
        caller restarts them). ``sync_free``: no host sync, the mask is always formed.
        Otherwise (CPU) two scalar reads -- is the sum of the values, and of the
        directions, finite? -- skip the per-row checks in the common case, and None means
        every member is finite (a finite sum has finite terms; an overflowing one only
        sends the step to the exact per-row check).
        """
        x, problem, algo = self.x, self.problem, self.algorithm
        with torch.enable_grad():
            F = problem._evaluate(x)
            values = F.detach()
            finite_f = None
            if sync_free or not math.isfinite(values.sum()):  # CPU: a free read
                finite_f = torch.isfinite(values).all(dim=1)
                if getattr(algo, "per_member", True):
                    # a non-finite row only reaches its own weights, discarded below
                    values = torch.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
                else:
                    values = _sanitize(values, finite_f)
            if algo.needs_gram:
                J = self._jacobian(F, x)  # p x m x d
                J = torch.nan_to_num(J, nan=0.0, posinf=0.0, neginf=0.0)
                # min-norm over the tangent cone of the active bounds (MGDA, PMTL, EPO...)
                J = tangent_jacobian(J, x.detach(), *self._box())
                gram = J @ J.transpose(1, 2)
                alpha = algo.weights(values, self.prefs, gram=gram, context=context)
                direction = (alpha.to(J.dtype).unsqueeze(1) @ J).squeeze(1)
            else:
                alpha = algo.weights(values, self.prefs, gram=None, context=context)
                # members are independent: row p of the gradient is alpha_p^T J_p
                direction = torch.autograd.grad(F, x, grad_outputs=alpha.detach().to(F.dtype))[0]
            if problem.n_ieq_constr:
                # g(x) <= 0: restore infeasible members, keep feasible ones off the active
                # constraints (paretoray.constraints)
                direction = steer(problem, x, direction)
        if finite_f is None and not sync_free and math.isfinite(direction.sum()):
            bad = None
        else:
            bad = ~torch.isfinite(direction).all(dim=1)
            if finite_f is not None:
                bad |= ~finite_f
            if not sync_free and not bool(bad.any()):
                bad = None
        adam = self._adam
        with torch.no_grad():
            if adam is not None and adam.applies():
                adam.step(direction)  # bad rows are restarted, state included, by the caller
            else:
                if bad is not None:
                    direction = torch.where(bad[:, None], torch.zeros(
                        (), dtype=direction.dtype, device=direction.device), direction)
                x.grad = direction
                self.optimizer.step()
            if self._plain_project:
                x.clamp_(*self._box())
            else:
                x.copy_(problem.project(x))
        return bad

    def _jacobian(self, F: Tensor, x: Tensor) -> Tensor:
        """``J`` (`p x m x d`): row ``p`` of ``d F[:, i].sum() / dx`` is member ``p``'s
        gradient of ``f_i`` (members are independent), all ``m`` in one batched backward
        pass where the problem's backward supports it (tried once, silently), else ``m``."""
        m = F.shape[1]
        if self._batched_jacobian:
            eye = self._eye
            if eye.shape[1:] != F.shape or eye.dtype != F.dtype:
                eye = self._eye = torch.eye(m, dtype=F.dtype, device=F.device)[:, None, :] \
                    .expand(m, *F.shape)
            return torch.autograd.grad(F, x, grad_outputs=eye,
                                       is_grads_batched=True)[0].transpose(0, 1)
        if self._batched_jacobian is None:  # the first call decides, silently
            eye = torch.eye(m, dtype=F.dtype, device=F.device)[:, None, :].expand(m, *F.shape)
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    J = torch.autograd.grad(F, x, grad_outputs=eye, is_grads_batched=True,
                                            retain_graph=True)[0]
                self._batched_jacobian, self._eye = not caught, eye
                return J.transpose(0, 1)
            except (RuntimeError, NotImplementedError):
                self._batched_jacobian = False
        return torch.stack([torch.autograd.grad(F[:, i].sum(), x, retain_graph=i < m - 1)[0]
                            for i in range(m)], dim=1)

    def _box(self) -> tuple[Tensor, Tensor]:
        return self.problem._projection_box_like(self.x)

    def _spare_rows(self) -> Tensor:
        """`p x d` rows that non-finite members restart from in a sync-free run."""
        if self.fallback is not None:
            rows = torch.as_tensor(self.fallback).to(self.device, self.dtype)
        else:
            rows = self._draw(self.p)
        return self.problem.project(rows)

    def _restart_in_place(self, bad: Tensor, spare: Tensor) -> None:
        """Restart the members in ``bad`` from their ``spare`` rows, without a host sync."""
        with torch.no_grad():
            self.x.copy_(torch.where(bad[:, None], spare, self.x))
            for state in self._optim_states():
                for v in state.values():
                    if isinstance(v, Tensor) and v.dim() > 0 and v.shape[0] == self.p:
                        v.masked_fill_(bad.view(-1, *([1] * (v.dim() - 1))), 0)

    def reset_members(self, mask: Tensor, x_new: Tensor | None = None) -> None:
        """Restart the members in ``mask`` (a `p`-dim bool tensor).

        They restart from ``x_new`` (`k x d`, k = mask.sum()), else from matching rows of
        :attr:`fallback`, else from fresh draws; their optimizer state is zeroed.
        For network problems ``x_new`` is a dict of parameter names to `k x ...`-dim tensors
        and the fallback is ``engine.fallback_params`` (same layout, `p` rows).
        """
        if self._net is not None:
            self._net.reset(mask, self.optimizer, x_new)
            return
        mask = mask.to(self.device)
        k = int(mask.sum())
        if k == 0:
            return
        if x_new is None:
            x_new = self.fallback[mask.cpu()] if self.fallback is not None else self._draw(k)
        x_new = self.problem.project(torch.as_tensor(x_new).to(self.device, self.dtype))
        with torch.no_grad():
            self.x[mask] = x_new
            for state in self._optim_states():
                for v in state.values():
                    if isinstance(v, Tensor) and v.shape[:1] == mask.shape:
                        v[mask] = 0

    def set_prefs(self, prefs: Tensor) -> None:
        """Re-aim the population at new preference vectors (same ``p``)."""
        from paretoray.preferences import validate_prefs

        prefs = validate_prefs(torch.as_tensor(prefs), self.problem.n_obj)
        if prefs.shape[0] != self.p:
            raise ShapeError(f"Expected {self.p} preference vectors; got {prefs.shape[0]}.")
        self.prefs = prefs.to(self.device, self.dtype)

    # ------------------------------------------------------------------ reading out
    @torch.no_grad()
    def evaluate(self) -> tuple[Tensor | None, Tensor, Tensor]:
        """The current population: ``(x, F, finite)`` with `p x d`, `p x m`, `p` tensors.

        For network problems ``x`` is None and ``F`` holds the held-out losses (the full
        validation split by default, ``problem.heldout``), evaluated in eval mode without
        gradients; members with a non-finite loss are False in ``finite``.
        """
        if self._net is not None:
            F, _ = self._heldout_values()
            return None, F, torch.isfinite(F).all(dim=1)
        x = self.x.detach().clone()
        F = self.problem._evaluate(x)
        return x, F, torch.isfinite(F).all(dim=1)

    # ------------------------------------------------------------------ networks
    @property
    def fallback_params(self) -> dict[str, Tensor] | None:
        """Network problems: rows (names to `p x ...`-dim tensors) that reset members restart
        from, e.g. their best archived checkpoints; None restarts them from a fresh init."""
        return self._network("fallback_params").fallback

    @fallback_params.setter
    def fallback_params(self, value: dict[str, Tensor] | None) -> None:
        self._network("fallback_params").fallback = value

    def _heldout_values(self) -> tuple[Tensor, dict[str, Tensor]]:
        net = self._network("evaluate")
        if self._heldout is None or self._heldout[0] != net.version:
            F, metrics = net.heldout()
            self._heldout = (net.version, F, metrics)
        return self._heldout[1], self._heldout[2]

    def heldout_metrics(self) -> dict[str, Tensor]:
        """Network problems: the named held-out metrics, metric name to a `p`-dim tensor.

        Computed with (and cached alongside) the held-out losses of :meth:`evaluate`.
        """
        self._network("heldout_metrics")
        return dict(self._heldout_values()[1])

    def heldout(self, split: str) -> tuple[Tensor, dict[str, Tensor]]:
        """Network problems: losses and metrics of every member on the whole split ``split``.

        Args:
            split: ``"validation"``, ``"test"`` or ``"train"``.

        Returns:
            ``(F, metrics)``: a `p x m`-dim tensor and metric names to `p`-dim tensors, in
            eval mode without gradients (not cached; :meth:`evaluate` reads the problem's
            ``heldout`` split).
        """
        return self._network("heldout").heldout(split)

    def member_params(self, index: Tensor) -> dict[str, Tensor]:
        """Network problems: members ``index``'s parameters and buffers.

        Args:
            index: A `k`-dim int64 tensor of member indices.

        Returns:
            Module state names (``trunk.0.weight``, BatchNorm buffers, ...) to detached
            `k x ...`-dim CPU tensors: one safetensors checkpoint per row.
        """
        return self._network("member_params").read_rows(torch.as_tensor(index, dtype=torch.long))

    def load_members(self, index: Tensor, params: dict[str, Tensor]) -> None:
        """Network problems: start members ``index`` from checkpoints.

        Args:
            index: A `k`-dim int64 tensor of member indices.
            params: Every parameter name (buffers optional) to a `k x ...`-dim tensor, as
                :meth:`member_params` returns them. Their optimizer state is zeroed.

        Raises:
            ShapeError: A name is missing or unknown, or a tensor has the wrong shape.
        """
        net = self._network("load_members")
        index = torch.as_tensor(index, dtype=torch.long)
        net.write_rows(index, params)
        mask = torch.zeros(self.p, dtype=torch.bool)
        mask[index] = True
        with torch.no_grad():
            for state in self._optim_states():
                for v in state.values():
                    if isinstance(v, Tensor) and v.dim() > 0 and v.shape[0] == self.p:
                        v[mask.to(v.device)] = 0

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Tensor]:
        """Flat tensors only (safetensors-friendly): x, prefs and the optimizer state.

        For network problems: ``param.*``, ``buffer.*``, ``optim.<param>.<key>`` and the
        mini-batch stream's ``sampler.*`` instead of ``x`` and ``optim.*``.
        """
        if self._net is not None:
            return {**self._net.state_dict(self.optimizer), "prefs": self.prefs.cpu().clone(),
                    "steps_done": torch.tensor(self.steps_done),
                    "nan_resets": torch.tensor(self.nan_resets),
                    "rng": self._generator.get_state()}
        out = {"x": self.x.detach().cpu().clone(), "prefs": self.prefs.cpu().clone(),
               "steps_done": torch.tensor(self.steps_done),
               "nan_resets": torch.tensor(self.nan_resets),
               "rng": self._generator.get_state()}
        for key, v in (self._adam.state if self._adam is not None
                       else self.optimizer.state.get(self.x, {})).items():
            if isinstance(v, Tensor):
                out[f"optim.{key}"] = v.detach().cpu().clone()
        return out

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Restore what :meth:`state_dict` returned."""
        if self._net is not None:
            self._net.load_state_dict(state, self.optimizer)
            self.prefs = state["prefs"].to(self.device, self.dtype)
            self.steps_done = int(state["steps_done"])
            self.nan_resets = int(state["nan_resets"])
            self._generator.set_state(state["rng"])
            return
        with torch.no_grad():
            self.x.copy_(state["x"].to(self.device, self.dtype))
        self.prefs = state["prefs"].to(self.device, self.dtype)
        self.steps_done = int(state["steps_done"])
        self.nan_resets = int(state["nan_resets"])
        self._generator.set_state(state["rng"])
        optim_state = {k[len("optim."):]: v.to(self.device) for k, v in state.items()
                       if k.startswith("optim.")}
        if optim_state:
            if self._optimizer is None and self._adam is not None:
                self._adam.state.clear()
                self._adam.state.update(optim_state)
            else:
                self.optimizer.state[self.x] = optim_state


def _weighting(algorithm: Weighting | str, problem: Problem) -> Weighting:
    """The weighting; one that takes a reference point and has none gets the problem's.

    A name is built with ``ref_point=problem.ref_point`` when its factory takes one; an
    object whose ``ref_point`` is None (and not explicitly dynamic) is copied with it, so
    the caller's object is not changed. As ``search`` does for the run's reference point.
    """
    import copy
    import inspect

    ref = getattr(problem, "ref_point", None)
    if ref is None:
        return _algorithms.get(algorithm)
    ref = [float(v) for v in ref]
    if isinstance(algorithm, str):
        try:
            params = inspect.signature(_algorithms.REGISTRY.factory(algorithm)).parameters
        except (TypeError, ValueError):
            params = {}
        if "ref_point" in params:
            return _algorithms.get(algorithm, ref_point=ref)
        return _algorithms.get(algorithm)
    algo = _algorithms.get(algorithm)
    if ("ref_point" in vars(algo) and algo.ref_point is None
            and not getattr(algo, "dynamic", False)):
        algo = copy.copy(algo)
        algo.ref_point = ref
    return algo


def _sanitize(values: Tensor, finite: Tensor) -> Tensor:
    """Replace non-finite rows by a point dominated by every finite row (for coupled weightings)."""
    if finite.device.type == "cpu" and bool(finite.all()):  # a CPU read: nothing to wait for
        return values
    big = torch.where(torch.isfinite(values), values, torch.full_like(values, -torch.inf))
    worst = big.max(dim=0).values
    worst = torch.where(torch.isfinite(worst), worst, torch.ones_like(worst))
    return torch.where(finite[:, None], values, worst.abs() * 2 + 1)


def _now(device: torch.device) -> float:
    import time

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def run(
    problem: Problem | str,
    algorithm: Weighting | str,
    prefs: Tensor,
    steps: int,
    lr: float = 1e-2,
    optimizer: str | OptimizerFactory = "adam",
    seed: int = 0,
    *,
    x0: Tensor | None = None,
    context: Tensor | None = None,
    device: torch.device | str | None = None,
    **options: Any,
) -> tuple[Tensor, Tensor]:
    """Optimize a population in-process, without Ray or an archive.

    Args:
        problem: A problem or registry name (e.g. ``"zdt1"``).
        algorithm: A weighting or registry name (e.g. ``"epo"``).
        prefs: A `p x m`-dim tensor of preference vectors.
        steps: Number of engine steps.
        lr, optimizer, seed, x0, device: See :class:`Engine`.
        context: A `k x m`-dim tensor of outside nondominated points for coupled weightings.

    Returns:
        ``(x, F)``: the final `p x d` decision vectors and `p x m` objective values
        (on the CPU; rows of members reset on the last step are their fresh draws).
    """
    engine = Engine(problem, algorithm, prefs, x0=x0, lr=lr, optimizer=optimizer, seed=seed,
                    device=device, **options)
    engine.run(steps, context=context)
    x, F, _ = engine.evaluate()
    return (x.cpu() if x is not None else None), F.cpu()
