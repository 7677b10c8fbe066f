"""``NetworkProblem``: a population of networks, one per member, trained with ``m`` losses.

Minimization is assumed. Where a vector problem maps ``x (p x d)`` to ``F (p x m)``, a
network problem maps the *stacked parameters* of ``p`` copies of one architecture
(``torch.func.stack_module_state``: a dict of `p x ...`-dim tensors) and one shared
mini-batch to the `p x m`-dim losses, in ONE ``vmap(functional_call)`` forward: the
population is one tensor program, never a Python loop over members. Because members are
independent, the gradient of ``F[:, i].sum()`` w.r.t. the stacked parameters is, row by
row, each member's own gradient of ``f_i`` -- which is how the engine gets per-member
gradients and Gram matrices from ``m`` backward passes.

The objectives that are archived are the *held-out* losses: the full validation split
(or the test split) evaluated in ``no_grad`` with the modules in eval mode, batched over
members (``vmap`` with ``chunk_size`` bounding memory), alongside named metrics
(accuracy, demographic-parity gap, MSE, ...).

Buffers (BatchNorm running statistics) are stacked like parameters and updated per member
in place under ``vmap``; dropout draws different masks per member
(``randomness="different"``).
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from paretoray.errors import ConfigError, ShapeError
from paretoray.problems.networks.data import BatchSampler, DataSplits

__all__ = ["LossFn", "MetricFn", "NetworkProblem", "resolve_factory"]

#: ``loss(output, batch) -> scalar`` for one member (``output`` is the model's output on
#: ``batch[input_key]``; it may be a tensor or a tuple of head outputs).
LossFn = Callable[[Any, Mapping[str, Tensor]], Tensor]
#: ``metric(output, batch) -> scalar``, evaluated without gradients on a held-out split.
MetricFn = Callable[[Any, Mapping[str, Tensor]], Tensor]


def resolve_factory(path: str) -> Callable[[], nn.Module]:
    """The module factory named by an import path ``"package.module:factory"``.

    ``factory`` may be dotted (``"pkg.mod:Class.build"``) and is any callable returning an
    ``nn.Module`` when called without arguments (a class works).

    Raises:
        ConfigError: The path is malformed, its module fails to import, or the attribute is
            missing or not callable; the message names the path and the cause.
    """
    if not isinstance(path, str) or path.count(":") != 1 or not all(path.split(":")):
        raise ConfigError(
            f"A model factory path must look like 'package.module:factory'; got {path!r}."
        )
    module_name, attr = path.split(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(
            f"Model factory {path!r}: importing module {module_name!r} failed "
            f"({type(exc).__name__}: {exc}). Check that it is installed or on PYTHONPATH."
        ) from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(
                f"Model factory {path!r}: {obj.__name__ if hasattr(obj, '__name__') else obj!r} "
                f"has no attribute {part!r}."
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"Model factory {path!r} is a {type(obj).__name__}, not a callable.")
    return obj


def _factory_name(factory: Callable[..., Any]) -> str:
    mod = getattr(factory, "__module__", None)
    qual = getattr(factory, "__qualname__", None) or repr(factory)
    return f"{mod}:{qual}" if mod else qual


class NetworkProblem:
    """A multi-objective training problem over a population of networks.

    Args:
        model: A factory returning a fresh ``nn.Module`` (called once per member with the
            global RNG seeded, so initializations differ and are reproducible), or its import
            path ``"package.module:factory"``.
        data: The train/validation/test splits.
        losses: ``m`` functions ``loss(output, batch) -> scalar``, or one function returning
            an `m`-dim tensor (then give ``n_obj``).
        n_obj: Number of objectives ``m``; required with a single loss function.
        metrics: Named ``metric(output, batch) -> scalar`` functions for held-out splits.
        batch_size: Training mini-batch size (shared by all members).
        heldout: The split whose losses are archived: ``"validation"`` or ``"test"``.
        eval_chunk: Members evaluated together on a held-out split (bounds memory: the
            activations of ``eval_chunk`` members on the whole split are alive at once).
        objective_names: ``m`` names of the objectives (default ``f1..fm``).
        ref_point: A reference point for hypervolume of the held-out losses, or None.

    Attributes:
        n_obj: Number of objectives ``m``.
        n_params: Number of trainable scalars per member (``n``).
        metric_names: Names of the held-out metrics.
        options: Constructor options of a registered problem (stored in ``run.json``).
    """

    #: Capability flag read by the engine and ``problems.get`` (a class flag, not isinstance).
    is_network: ClassVar[bool] = True
    name: ClassVar[str] = ""

    def __init__(
        self,
        model: Callable[[], nn.Module] | str,
        data: DataSplits,
        losses: Sequence[LossFn] | LossFn,
        *,
        n_obj: int | None = None,
        metrics: Mapping[str, MetricFn] | None = None,
        batch_size: int = 64,
        heldout: str = "validation",
        eval_chunk: int = 32,
        objective_names: Sequence[str] | None = None,
        ref_point: Sequence[float] | None = None,
    ) -> None:
        self.model_path: str | None = model if isinstance(model, str) else None
        self.factory: Callable[[], nn.Module] = (
            resolve_factory(model) if isinstance(model, str) else model
        )
        if not callable(self.factory):
            raise ConfigError(f"`model` must be a module factory or an import path; got "
                              f"{model!r}.")
        if not isinstance(data, DataSplits):
            raise ConfigError(f"`data` must be a DataSplits; got {type(data).__name__}.")
        self.data = data
        if callable(losses) and not isinstance(losses, Sequence):
            if n_obj is None:
                raise ConfigError("With one loss function returning all losses, give `n_obj`.")
            self._loss_fns: list[LossFn] | None = None
            self._loss_vector_fn: LossFn | None = losses
        else:
            fns = list(losses)
            if not fns or not all(callable(f) for f in fns):
                raise ConfigError(f"`losses` must be callables; got {losses!r}.")
            if n_obj is not None and n_obj != len(fns):
                raise ConfigError(
                    f"`losses` holds {len(fns)} functions but n_obj={n_obj}: give one loss per "
                    "objective."
                )
            self._loss_fns, self._loss_vector_fn = fns, None
            n_obj = len(fns)
        if not isinstance(n_obj, int) or n_obj < 2:
            raise ConfigError(f"A multi-objective problem needs n_obj >= 2; got {n_obj!r}.")
        self.n_obj = n_obj
        self.metrics: dict[str, MetricFn] = dict(metrics or {})
        self.metric_names = list(self.metrics)
        self.batch_size = int(batch_size)
        if batch_size < 1:
            raise ConfigError(f"`batch_size` must be >= 1; got {batch_size!r}.")
        data.split(heldout)  # raises on an unknown or missing split
        self.heldout = heldout
        if not isinstance(eval_chunk, int) or eval_chunk < 1:
            raise ConfigError(f"`eval_chunk` must be a positive integer; got {eval_chunk!r}.")
        self.eval_chunk = eval_chunk
        self.objective_names = (list(objective_names) if objective_names is not None
                                else [f"f{i + 1}" for i in range(n_obj)])
        if len(self.objective_names) != n_obj:
            raise ConfigError(f"`objective_names` must list {n_obj} names; got "
                              f"{self.objective_names!r}.")
        self.ref_point = tuple(float(r) for r in ref_point) if ref_point is not None else None
        if not hasattr(self, "options"):
            self.options: dict[str, Any] = {}

        template = self._build_one()
        self._check_batchable(template)
        self.param_names = [k for k, _ in template.named_parameters()]
        self.buffer_names = [k for k, _ in template.named_buffers()]
        self.n_params = sum(p.numel() for p in template.parameters())
        # The template on the meta device: functional_call swaps every tensor in, so the
        # template never holds data (and follows the population to any device).
        self._template = copy.deepcopy(template).to("meta")
        self._data_cache: dict[tuple[str, str, torch.dtype], dict[str, Tensor]] = {}
        self._train_fn = vmap(self._member_losses, in_dims=(0, 0, None), randomness="different")
        self._probe()

    # ------------------------------------------------------------------ building members
    def _build_one(self) -> nn.Module:
        try:
            module = self.factory()
        except Exception as exc:
            raise ConfigError(
                f"The model factory {_factory_name(self.factory)} raised "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(module, nn.Module):
            raise ConfigError(
                f"The model factory {_factory_name(self.factory)} returned a "
                f"{type(module).__name__}; it must return a torch.nn.Module."
            )
        return module

    def _check_batchable(self, module: nn.Module) -> None:
        who = f"The module built by {_factory_name(self.factory)}"
        params = list(module.named_parameters())
        if not params:
            raise ConfigError(f"{who} has no parameters: there is nothing to train.")
        for name, p in params:
            if isinstance(p, nn.parameter.UninitializedParameter):
                raise ConfigError(
                    f"{who} has the uninitialized (lazy) parameter {name!r}: vmap cannot batch "
                    "lazy modules. Give the layer its input size (nn.Linear instead of "
                    "nn.LazyLinear)."
                )
            if not p.dtype.is_floating_point or p.is_sparse:
                raise ConfigError(
                    f"{who} has parameter {name!r} of dtype {p.dtype}"
                    f"{' (sparse)' if p.is_sparse else ''}: vmap can batch only dense "
                    "floating-point parameters."
                )
            if not p.requires_grad:
                raise ConfigError(
                    f"{who} has the frozen parameter {name!r} (requires_grad=False): register "
                    "it as a buffer instead, so every member trains the same set of tensors."
                )

    def init_params(
        self, k: int, *, seed: int, device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Fresh parameters and buffers for ``k`` members.

        Args:
            k: Number of members.
            seed: Seeds the global RNG (forked, so the caller's RNG is untouched) while the
                factory builds the ``k`` modules.
            device, dtype: Where and in which floating dtype the stacks live.

        Returns:
            ``(params, buffers)``: dicts of `k x ...`-dim tensors keyed by the module's
            parameter and buffer names (buffers keep non-floating dtypes).
        """
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            modules = [self._build_one() for _ in range(int(k))]  # init only, not a hot path
        try:
            params, buffers = stack_module_state(modules)
        except Exception as exc:
            raise ConfigError(
                f"vmap cannot batch the modules built by {_factory_name(self.factory)}: "
                f"stacking their parameters failed ({type(exc).__name__}: {exc}). Every call "
                "of the factory must build the same architecture."
            ) from exc
        params = {k_: v.detach().to(device, dtype) for k_, v in params.items()}
        buffers = {k_: (v.to(device, dtype) if v.dtype.is_floating_point else v.to(device))
                    for k_, v in buffers.items()}
        return params, buffers

    def build_model(self, state: Mapping[str, Tensor]) -> nn.Module:
        """One ``nn.Module`` holding one member's parameters and buffers.

        Args:
            state: The member's tensors keyed by parameter/buffer name (no member dim).
        """
        module = self._build_one()
        missing = set(self.param_names) - set(state)
        if missing:
            raise ShapeError(f"The state lacks parameters {sorted(missing)} of the model.")
        floating = [torch.as_tensor(v) for v in state.values()]
        floating = [v for v in floating if v.dtype.is_floating_point]
        if floating:  # keep the checkpoint's precision (a float64 population stays float64)
            module = module.to(floating[0].dtype)
        own = module.state_dict()
        module.load_state_dict({k: torch.as_tensor(v).to(own[k].dtype) for k, v in state.items()
                                if k in own}, strict=False)
        return module.eval()

    # ------------------------------------------------------------------ data
    def data_on(self, split: str, device: torch.device | str,
                dtype: torch.dtype) -> dict[str, Tensor]:
        """The split ``split`` on ``device``, floating tensors cast to ``dtype`` (cached)."""
        key = (split, str(torch.device(device)), dtype)
        hit = self._data_cache.get(key)
        if hit is None:
            hit = {k: (v.to(device, dtype) if v.dtype.is_floating_point else v.to(device))
                   for k, v in self.data.split(split).items()}
            self._data_cache[key] = hit
        return hit

    def sampler(self, seed: int) -> BatchSampler:
        """A seeded mini-batch sampler over the train split."""
        return BatchSampler(self.data.size("train"), self.batch_size, seed)

    # ------------------------------------------------------------------ losses
    def _loss_vector(self, output: Any, batch: Mapping[str, Tensor]) -> Tensor:
        if self._loss_vector_fn is not None:
            return self._loss_vector_fn(output, batch).reshape(-1)
        assert self._loss_fns is not None
        return torch.stack([fn(output, batch).reshape(()) for fn in self._loss_fns])

    def _forward(self, params: Mapping[str, Tensor], buffers: Mapping[str, Tensor],
                 batch: Mapping[str, Tensor]) -> Any:
        return functional_call(self._template, (dict(params), dict(buffers)),
                               (batch[self.data.input_key],))

    def _member_losses(self, params: Mapping[str, Tensor], buffers: Mapping[str, Tensor],
                       batch: Mapping[str, Tensor]) -> Tensor:
        return self._loss_vector(self._forward(params, buffers, batch), batch)

    def losses(self, params: Mapping[str, Tensor], buffers: Mapping[str, Tensor],
               batch: Mapping[str, Tensor]) -> Tensor:
        """Training losses of every member on one shared mini-batch, in one vmapped forward.

        Args:
            params: Stacked parameters, `p x ...`-dim tensors.
            buffers: Stacked buffers (updated in place, e.g. BatchNorm running stats).
            batch: One mini-batch (dict of tensors, samples first).

        Returns:
            A `p x m`-dim tensor, differentiable w.r.t. ``params``.
        """
        self._template.train(True)
        return self._train_fn(params, buffers, batch)

    @torch.no_grad()
    def heldout_values(
        self, params: Mapping[str, Tensor], buffers: Mapping[str, Tensor],
        split: str | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Losses and metrics of every member on a whole held-out split, in eval mode.

        Args:
            params, buffers: Stacked `p x ...`-dim tensors.
            split: ``"validation"``, ``"test"`` (or ``"train"``); default :attr:`heldout`.

        Returns:
            ``(F, metrics)``: a `p x m`-dim tensor of losses and a dict of `p`-dim tensors.
        """
        first = next(iter(params.values()))
        data = self.data_on(split or self.heldout, first.device, first.dtype)
        names = self.metric_names
        metric_fns = [self.metrics[n] for n in names]

        def member(p: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
            out = self._forward(p, b, data)
            values = self._loss_vector(out, data)
            mets = (torch.stack([fn(out, data).reshape(()).to(values.dtype) for fn in metric_fns])
                    if metric_fns else values.new_zeros(0))
            return values, mets

        # eval mode: BatchNorm reads its running stats and updates nothing, dropout is off
        self._template.train(False)
        try:
            F, mets = vmap(member, in_dims=(0, 0), randomness="different",
                           chunk_size=self.eval_chunk)(params, buffers)
        finally:
            self._template.train(True)
        return F, {n: mets[:, i] for i, n in enumerate(names)}

    # ------------------------------------------------------------------ checks
    def _probe(self) -> None:
        """Run the first forward on two samples and two members; re-raise with names."""
        module = self._build_one()
        module.train(True)
        # the engine casts floating data to the population's dtype; probe the same way
        pdtype = next(module.parameters()).dtype
        batch = {k: (v[:2].to(pdtype) if v.dtype.is_floating_point else v[:2])
                 for k, v in self.data.split("train").items()}
        shape = tuple(batch[self.data.input_key].shape)
        dtype = batch[self.data.input_key].dtype
        try:
            output = module(batch[self.data.input_key])
        except Exception as exc:
            raise ShapeError(
                f"The model built by {_factory_name(self.factory)} cannot take the data "
                f"source's batches: a batch of {self.data.input_key!r} with shape "
                f"(batch,) + {shape[1:]} and dtype {dtype} fails in the first forward with "
                f"{type(exc).__name__}: {exc}. Make the inputs match the model's first layer."
            ) from exc
        try:
            values = self._loss_vector(output, batch)
        except Exception as exc:
            raise ConfigError(
                f"The loss functions fail on the model's output "
                f"({_describe(output)}): {type(exc).__name__}: {exc}"
            ) from exc
        if values.numel() != self.n_obj:
            raise ConfigError(
                f"The losses return {values.numel()} values but the problem has n_obj="
                f"{self.n_obj} objectives: return one scalar per objective."
            )
        params, buffers = self.init_params(2, seed=0, dtype=pdtype)
        try:
            F = self.losses(params, buffers, batch)
        except Exception as exc:
            raise ConfigError(
                f"vmap cannot batch the module built by {_factory_name(self.factory)} over "
                f"members ({type(exc).__name__}: {exc}). Avoid `.item()`, in-place updates of "
                "unbatched tensors and data-dependent Python control flow in forward()."
            ) from exc
        if F.shape != (2, self.n_obj):
            raise ShapeError(f"Expected batched losses of shape `2 x {self.n_obj}`; got "
                             f"{tuple(F.shape)}.")

    def __getstate__(self) -> dict[str, Any]:
        # Ray ships problems to workers: drop the vmapped closure (rebuilt on arrival) and
        # the per-device data copies (they may be GPU tensors).
        state = self.__dict__.copy()
        state.pop("_train_fn", None)
        state["_data_cache"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._train_fn = vmap(self._member_losses, in_dims=(0, 0, None), randomness="different")

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(n_obj={self.n_obj}, n_params={self.n_params}, "
                f"metrics={self.metric_names})")


def _describe(output: Any) -> str:
    if isinstance(output, Tensor):
        return f"a tensor of shape {tuple(output.shape)}"
    if isinstance(output, (tuple, list)):
        return f"a {type(output).__name__} of " + ", ".join(_describe(o) for o in output)
    return type(output).__name__
