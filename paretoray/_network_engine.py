"""The engine's network path: a population of networks stepped as one tensor program.

:class:`NetworkPopulation` holds the stacked parameters (`p x ...`-dim leaf tensors, one
per module parameter) and buffers of ``p`` networks, the mini-batch sampler, and does one
step (DESIGN.md part 3):

1. ``F = problem.losses(params, buffers, batch)`` (`p x m`): one ``vmap(functional_call)``
   forward on a fresh shared mini-batch;
2. only for weightings with ``needs_gram``: ``m`` backward passes of ``F[:, i].sum()``. Row
   ``p`` of each gradient is member ``p``'s own gradient (members are independent), so
   ``G[p, i, j] = <grad f_i, grad f_j>`` is accumulated tensor by tensor as each pass
   arrives -- no flattened `p x m x n` Jacobian is ever concatenated, and the gradients are
   dropped once ``G`` is formed;
3. ``alpha = weighting(F, prefs, G)``, then the direction is ONE more backward pass of
   ``sum(alpha.detach() * F)`` (weightings without ``G``: this is the only backward pass);
4. the torch optimizer steps the stacked tensors.

Members whose losses or gradients are not finite get a zero gradient for the step and are
then reset -- to rows of :attr:`NetworkPopulation.fallback` (e.g. their best archived
checkpoints) or to a fresh initialization -- with their optimizer state zeroed; they are
counted, and their values are never reported as finite. The only host sync per step is the
count of bad members.

Private: :class:`paretoray.engine.Engine` is the public face.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from paretoray.algorithms.base import Weighting
from paretoray.errors import ConfigError, ShapeError
from paretoray.problems.networks.base import NetworkProblem


def _rows(mask: Tensor, t: Tensor) -> Tensor:
    """``mask`` (`p`) shaped to broadcast against the `p x ...`-dim tensor ``t``."""
    return mask.view(-1, *([1] * (t.dim() - 1)))


class NetworkPopulation:
    """Stacked parameters, buffers and data stream of ``p`` networks.

    Args:
        problem: The network problem.
        p: Population size.
        seed: Seeds the initialization, the mini-batch stream and every reset.
        device, dtype: Where the population lives and its floating dtype.

    Attributes:
        params: Stacked parameters, `p x ...`-dim leaf tensors requiring grad.
        buffers: Stacked buffers (BatchNorm statistics), `p x ...`-dim.
        fallback: Rows to restart reset members from (parameter and buffer names to
            `p x ...`-dim tensors), or None for a fresh initialization.
    """

    def __init__(self, problem: NetworkProblem, p: int, *, seed: int, device: torch.device,
                 dtype: torch.dtype) -> None:
        if not dtype.is_floating_point:
            raise ConfigError(f"`dtype` of a network population must be floating; got {dtype}.")
        self.problem, self.p, self.device, self.dtype = problem, p, device, dtype
        self._generator = torch.Generator().manual_seed(int(seed))
        params, self.buffers = problem.init_params(p, seed=self._next_seed(), device=device,
                                                   dtype=dtype)
        self.params = {k: v.requires_grad_(True) for k, v in params.items()}
        self.sampler = problem.sampler(self._next_seed())
        self.fallback: dict[str, Tensor] | None = None
        self.version = 0  # bumped whenever parameters change (held-out cache key)

    def _next_seed(self) -> int:
        return int(torch.randint(2**31 - 1, (1,), generator=self._generator))

    @property
    def leaves(self) -> list[Tensor]:
        """The stacked parameter tensors the optimizer steps."""
        return list(self.params.values())

    # ------------------------------------------------------------------ stepping
    def next_batch(self) -> dict[str, Tensor]:
        """The next shared mini-batch of the train split, on the population's device."""
        data = self.problem.data_on("train", self.device, self.dtype)
        idx = self.sampler.next().to(self.device)
        return {k: v.index_select(0, idx) for k, v in data.items()}

    def step(self, algorithm: Weighting, prefs: Tensor, optimizer: torch.optim.Optimizer,
             context: Tensor | None, sanitize) -> Tensor:
        """One step for every member; returns the `p`-dim bool mask of members reset."""
        leaves = self.leaves
        p = self.p
        with torch.enable_grad():
            F = self.problem.losses(self.params, self.buffers, self.next_batch())
            m = F.shape[1]
            finite = torch.isfinite(F).all(dim=1)
            values = sanitize(F.detach().to(prefs.dtype), finite)
            gram = None
            if algorithm.needs_gram:
                gram = torch.zeros(p, m, m, dtype=prefs.dtype, device=F.device)
                grads: list[list[Tensor]] = []
                for i in range(m):
                    g = [t.reshape(p, -1) for t in
                         torch.autograd.grad(F[:, i].sum(), leaves, retain_graph=True)]
                    grads.append(g)
                    for j in range(i + 1):  # row i of G, from the passes so far
                        dot = sum((gi * gj).sum(dim=1) for gi, gj in zip(g, grads[j],
                                                                         strict=True))
                        gram[:, i, j] = gram[:, j, i] = dot.to(gram.dtype)
                del grads
                # A NaN/inf gradient entry makes its member's diagonal of G non-finite (rows
                # are members, so it cannot leak into another member's G): one cheap check.
                ok = torch.isfinite(gram).flatten(1).all(dim=1)
                finite = finite & ok
                gram = torch.where(finite[:, None, None], gram, torch.zeros((), dtype=gram.dtype,
                                                                           device=gram.device))
            alpha = algorithm.weights(values, prefs, gram=gram, context=context)
            alpha = torch.where(finite[:, None], alpha, torch.zeros_like(alpha))
            direction = torch.autograd.grad((alpha.detach().to(F.dtype) * F).sum(), leaves)
        # Per-member sums are finite iff every entry is (or their total overflows, which a
        # usable step never does): one reduction per tensor instead of an isfinite pass.
        total = sum(d.reshape(p, -1).sum(dim=1, dtype=torch.float64) for d in direction)
        bad = ~finite | ~torch.isfinite(total)
        for leaf, d in zip(leaves, direction, strict=True):
            leaf.grad = torch.where(_rows(bad, d), torch.zeros((), dtype=d.dtype,
                                                               device=d.device), d)
        optimizer.step()
        self.version += 1
        return bad

    # ------------------------------------------------------------------ members
    def reset(self, mask: Tensor, optimizer: torch.optim.Optimizer,
              source: Mapping[str, Tensor] | None = None) -> None:
        """Restart the members in ``mask`` (a `p`-dim bool tensor).

        From ``source`` (names to `k x ...`-dim tensors, k = mask.sum()), else the matching
        rows of :attr:`fallback`, else a fresh initialization; their optimizer state is zeroed.
        """
        mask = mask.to(self.device)
        k = int(mask.sum())
        if k == 0:
            return
        if source is None:
            if self.fallback is not None:
                source = {n: v[mask.to(v.device)] for n, v in self.fallback.items()}
            else:
                fresh_p, fresh_b = self.problem.init_params(
                    k, seed=self._next_seed(), device=self.device, dtype=self.dtype)
                source = {**fresh_p, **fresh_b}
        self.write_rows(torch.nonzero(mask).flatten(), source)
        with torch.no_grad():
            for state in optimizer.state.values():
                for v in state.values():
                    if isinstance(v, Tensor) and v.dim() > 0 and v.shape[0] == self.p:
                        v[mask] = 0

    def write_rows(self, index: Tensor, source: Mapping[str, Tensor]) -> None:
        """Copy `k x ...`-dim tensors of ``source`` into rows ``index`` (params and buffers)."""
        missing = [n for n in self.params if n not in source]
        if missing:
            raise ShapeError(f"The parameters given lack {missing}; expected every one of "
                             f"{list(self.params)}.")
        known = {**self.params, **self.buffers}
        unknown = [n for n in source if n not in known]
        if unknown:
            raise ShapeError(f"Unknown parameter names {unknown}; the model has "
                             f"{list(known)}.")
        index = index.to(self.device)
        with torch.no_grad():
            for name, value in source.items():
                target = known[name]
                value = torch.as_tensor(value)
                want = (index.numel(), *target.shape[1:])
                if tuple(value.shape) != want:
                    raise ShapeError(f"Expected `{name}` of shape {want} (k x ...); got "
                                     f"{tuple(value.shape)}.")
                target[index] = value.to(target.device, target.dtype)
        self.version += 1

    def read_rows(self, index: Tensor) -> dict[str, Tensor]:
        """Rows ``index`` of every parameter and buffer: detached `k x ...` CPU tensors."""
        index = index.to(self.device)
        return {n: v.detach().index_select(0, index).cpu()
                for n, v in {**self.params, **self.buffers}.items()}

    @torch.no_grad()
    def heldout(self, split: str | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """Held-out `p x m` losses and `p`-dim metrics (see ``NetworkProblem.heldout_values``)."""
        return self.problem.heldout_values(self.params, self.buffers, split)

    # ------------------------------------------------------------------ state
    def state_dict(self, optimizer: torch.optim.Optimizer) -> dict[str, Tensor]:
        """Flat tensors: ``param.*``, ``buffer.*``, ``optim.<param>.<key>``, ``sampler.*``."""
        out = {f"param.{n}": v.detach().cpu().clone() for n, v in self.params.items()}
        out |= {f"buffer.{n}": v.detach().cpu().clone() for n, v in self.buffers.items()}
        for n, leaf in self.params.items():
            for key, v in optimizer.state.get(leaf, {}).items():
                if isinstance(v, Tensor):
                    out[f"optim.{n}.{key}"] = v.detach().cpu().clone()
        out |= {f"sampler.{k}": v for k, v in self.sampler.state_dict().items()}
        out["net_rng"] = self._generator.get_state()
        return out

    def load_state_dict(self, state: Mapping[str, Tensor], optimizer: torch.optim.Optimizer
                        ) -> None:
        """Restore what :meth:`state_dict` returned."""
        with torch.no_grad():
            for n, v in self.params.items():
                v.copy_(state[f"param.{n}"].to(self.device, self.dtype))
            for n, v in self.buffers.items():
                v.copy_(state[f"buffer.{n}"].to(self.device, v.dtype))
        for n, leaf in self.params.items():
            prefix = f"optim.{n}."
            # 0-dim entries (Adam's ``step``) stay on the CPU, where torch keeps them
            opt = {k[len(prefix):]: v if v.dim() == 0 else v.to(self.device)
                   for k, v in state.items() if k.startswith(prefix)}
            if opt:
                optimizer.state[leaf] = opt
        self.sampler.load_state_dict({k[len("sampler."):]: v for k, v in state.items()
                                      if k.startswith("sampler.")})
        self._generator.set_state(state["net_rng"])
        self.version += 1
