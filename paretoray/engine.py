"""One optimizer step for a whole population at once.

The engine is where problems meet weightings (DESIGN.md part 3). For a population of
``p`` members with decision vectors ``x`` (`p x d`) and preferences ``prefs`` (`p x m`),
one step is:

1. ``F = problem(x)`` (`p x m`), one batched call;
2. only if the weighting asks for it, the Jacobian ``J`` (`p x m x d`) by ``m`` backward
   passes of ``F[:, i].sum()`` -- members are independent, so the gradient of the
   population sum w.r.t. ``x[p]`` is member ``p``'s own gradient -- and ``G = J J^T``;
3. ``alpha = weighting(F, prefs, G, context)`` (`p x m`);
4. the direction ``J^T alpha`` (or one backward pass of ``sum(alpha * F)`` when ``J``
   was not formed), any torch optimizer, then projection onto the box.

Members whose values or direction are NaN/inf are detected in the same batched program,
frozen for the step, reset (to a fallback point or a fresh draw) and counted; their
values are never reported as finite. No Python loop over members anywhere.

Network problems (``paretoray.problems.networks``) take the same four steps on a population
of networks (``paretoray._network_engine``): a fresh shared mini-batch per step, ``G`` from
``m`` backward passes accumulated tensor by tensor, and the direction from one more backward
pass of ``sum(alpha.detach() * F)``. For them the engine also exposes
:meth:`Engine.member_params`, :meth:`Engine.load_members` and :meth:`Engine.heldout_metrics`,
and :meth:`Engine.evaluate` returns the held-out losses (``x`` is None).

Minimization is assumed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from paretoray import algorithms as _algorithms
from paretoray import problems as _problems
from paretoray.algorithms.base import Weighting
from paretoray.algorithms.minnorm import tangent_jacobian
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
        self.algorithm = _algorithms.get(algorithm)
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
        self.optimizer = _make_optimizer(optimizer, [self.x], self.lr,
                                         dict(optimizer_options or {}))
        self.steps_done = 0
        self.nan_resets = 0
        #: Rows to restart reset members from (e.g. their best archived points), or None.
        self.fallback: Tensor | None = None

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
        self.optimizer = _make_optimizer(optimizer, self._net.leaves, self.lr, options)
        self.fallback = None
        self._heldout: tuple[int, Tensor, dict[str, Tensor]] | None = None

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
        t0 = _now(self.device)
        if self._net is not None:
            bad = self._net.step(self.algorithm, self.prefs, self.optimizer, context, _sanitize)
            n_bad = int(bad.sum())  # one host sync per step, not per member
            if n_bad:
                self._net.reset(bad, self.optimizer)
            self.steps_done += 1
            self.nan_resets += n_bad
            return StepStats(steps=1, nan_resets=n_bad, seconds=_now(self.device) - t0)
        x, problem, algo = self.x, self.problem, self.algorithm
        with torch.enable_grad():
            F = problem._evaluate(x)
            m = F.shape[1]
            finite_f = torch.isfinite(F).all(dim=1)
            safe_values = _sanitize(F.detach(), finite_f)
            if algo.needs_gram:
                J = torch.stack(
                    [torch.autograd.grad(F[:, i].sum(), x, retain_graph=i < m - 1)[0]
                     for i in range(m)],
                    dim=1,
                )  # p x m x d
                J = torch.where(torch.isfinite(J), J, torch.zeros((), dtype=J.dtype,
                                                                    device=J.device))
                # min-norm over the tangent cone of the active bounds (MGDA, PMTL, EPO...)
                J = tangent_jacobian(J, x.detach(), *problem._projection_box_like(x))
                gram = J @ J.transpose(1, 2)
                alpha = algo.weights(safe_values, self.prefs, gram=gram, context=context)
                direction = torch.einsum("pm,pmd->pd", alpha.to(J.dtype), J)
            else:
                alpha = algo.weights(safe_values, self.prefs, gram=None, context=context)
                alpha = torch.where(finite_f[:, None], alpha, torch.zeros_like(alpha))
                direction = torch.autograd.grad((alpha.detach().to(F.dtype) * F).sum(), x)[0]
            if problem.n_ieq_constr:
                # g(x) <= 0: restore infeasible members, keep feasible ones off the active
                # constraints (paretoray.constraints)
                from paretoray.constraints import steer

                direction = steer(problem, x, direction)
        bad = ~(finite_f & torch.isfinite(direction).all(dim=1))
        direction = torch.where(bad[:, None], torch.zeros_like(direction), direction)
        x.grad = direction
        self.optimizer.step()
        with torch.no_grad():
            x.copy_(problem.project(x))
        n_bad = int(bad.sum())  # one host sync per step, not per member
        if n_bad:
            self.reset_members(bad)
        self.steps_done += 1
        self.nan_resets += n_bad
        return StepStats(steps=1, nan_resets=n_bad, seconds=_now(self.device) - t0)

    def run(self, steps: int, context: Tensor | None = None) -> StepStats:
        """Take ``steps`` steps; returns their summed statistics."""
        stats = StepStats()
        for _ in range(int(steps)):
            stats += self.step(context)
        return stats

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
            for state in self.optimizer.state.values():
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
            for state in self.optimizer.state.values():
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
        for key, v in self.optimizer.state.get(self.x, {}).items():
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
            self.optimizer.state[self.x] = optim_state


def _sanitize(values: Tensor, finite: Tensor) -> Tensor:
    """Replace non-finite rows by a point dominated by every finite row (for coupled weightings)."""
    if bool(finite.all()):
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
