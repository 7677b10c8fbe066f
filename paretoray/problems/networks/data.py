"""Data for network problems: train/validation/test splits and a seeded mini-batch sampler.

A split is a dict of tensors sharing their first dimension (the samples): the model's input
under :attr:`DataSplits.input_key` (``"x"`` by default) and whatever the losses and metrics
read (targets, a sensitive attribute, ...). Every member of a population sees the same
mini-batch in a step, so one batch feeds one ``vmap`` forward.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from paretoray.errors import ConfigError, ShapeError

__all__ = ["BatchSampler", "DataSplits", "split_indices"]

SPLITS = ("train", "validation", "test")


def _check_split(name: str, split: Mapping[str, Tensor], input_key: str) -> dict[str, Tensor]:
    if not isinstance(split, Mapping) or not split:
        raise ConfigError(
            f"`{name}` must be a non-empty dict of tensors (e.g. {{'x': inputs, 'y': targets}}); "
            f"got {type(split).__name__}."
        )
    if input_key not in split:
        raise ConfigError(
            f"`{name}` has no {input_key!r} entry (the model's input); it has "
            f"{sorted(split)}. Add it, or set `input_key` to one of those."
        )
    out: dict[str, Tensor] = {}
    n = None
    for key, value in split.items():
        if not isinstance(value, Tensor) or value.dim() == 0:
            raise ShapeError(
                f"`{name}[{key!r}]` must be a tensor whose first dimension indexes samples; "
                f"got {type(value).__name__}"
                f"{'' if not isinstance(value, Tensor) else ' of shape ()'}."
            )
        if n is None:
            n = value.shape[0]
        if value.shape[0] != n:
            raise ShapeError(
                f"Every tensor of `{name}` must have the same number of samples; "
                f"`{name}[{key!r}]` has {value.shape[0]}, the first one has {n}."
            )
        out[str(key)] = value
    if not n:
        raise ShapeError(f"`{name}` holds no samples.")
    return out


@dataclass(frozen=True)
class DataSplits:
    """Train, validation and (optionally) test splits of one data set.

    Attributes:
        train: Mini-batches are drawn from this split.
        validation: The held-out split whose full losses are archived by default.
        test: A further held-out split, or None.
        input_key: The entry passed to the model.
    """

    train: Mapping[str, Tensor]
    validation: Mapping[str, Tensor]
    test: Mapping[str, Tensor] | None = None
    input_key: str = "x"

    def __post_init__(self) -> None:
        for name in SPLITS:
            value = getattr(self, name)
            if value is None and name == "test":
                continue
            object.__setattr__(self, name, _check_split(name, value, self.input_key))
        keys = set(self.train)
        for name in ("validation", "test"):
            split = getattr(self, name)
            if split is not None and set(split) != keys:
                raise ConfigError(
                    f"`{name}` has entries {sorted(split)}, `train` has {sorted(keys)}: every "
                    "split needs the same entries."
                )

    def split(self, name: str) -> dict[str, Tensor]:
        """The split called ``name`` (``"train"``, ``"validation"`` or ``"test"``)."""
        if name not in SPLITS:
            raise ConfigError(f"Unknown split {name!r}; allowed values: {', '.join(SPLITS)}.")
        value = getattr(self, name)
        if value is None:
            raise ConfigError(f"This data source has no {name!r} split; use 'validation'.")
        return dict(value)

    def size(self, name: str) -> int:
        """Number of samples in the split ``name``."""
        return int(next(iter(self.split(name).values())).shape[0])


class BatchSampler:
    """Seeded mini-batches of a split: shuffled without replacement, reshuffled every epoch.

    Args:
        n: Number of samples in the split.
        batch_size: Samples per batch (at most ``n``).
        seed: Seeds the shuffles.
    """

    def __init__(self, n: int, batch_size: int, seed: int = 0) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"`batch_size` must be a positive integer; got {batch_size!r}.")
        self.n = int(n)
        self.batch_size = min(int(batch_size), self.n)
        self._generator = torch.Generator().manual_seed(int(seed))
        self._perm = torch.randperm(self.n, generator=self._generator)
        self._pos = 0
        self.epochs = 0

    def next(self) -> Tensor:
        """The indices of the next batch: a `batch_size`-dim int64 tensor."""
        if self._pos + self.batch_size > self.n:
            self._perm = torch.randperm(self.n, generator=self._generator)
            self._pos = 0
            self.epochs += 1
        idx = self._perm[self._pos:self._pos + self.batch_size]
        self._pos += self.batch_size
        return idx

    def state_dict(self) -> dict[str, Tensor]:
        """Tensors only: the generator state, the current shuffle and the position in it."""
        return {"rng": self._generator.get_state(), "perm": self._perm.clone(),
                "pos": torch.tensor(self._pos), "epochs": torch.tensor(self.epochs)}

    def load_state_dict(self, state: Mapping[str, Tensor]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self._generator.set_state(state["rng"])
        self._perm = state["perm"].clone()
        self._pos = int(state["pos"])
        self.epochs = int(state["epochs"])


def split_indices(n: int, fractions: tuple[float, float, float], seed: int) -> tuple[Tensor, ...]:
    """A seeded shuffle of ``range(n)`` cut into train/validation/test index tensors.

    Args:
        n: Number of samples.
        fractions: Shares of train, validation and test (summing to 1).
        seed: Seeds the shuffle.
    """
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))
    n_train = round(fractions[0] * n)
    n_val = round(fractions[1] * n)
    return perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:]
