"""``multi_digits``: MultiMNIST-style two-digit images from scikit-learn's bundled 8x8 digits.

Two 8x8 digits (``sklearn.datasets.load_digits``, shipped with scikit-learn: no download)
are drawn on one ``canvas x canvas`` image, the left one near the top-left corner and the
right one near the bottom-right, overlapping in the middle (pixel-wise maximum), each
jittered by up to one pixel. A small shared convolutional trunk feeds two heads; the tasks
are the left and right digits' cross-entropies, which compete for the trunk's capacity
(the MultiMNIST benchmark of [Sener2018]_, shrunk so that CPU tests take seconds).

The source digits are split into train/validation/test *before* pairs are drawn, so no
held-out image shares a digit image with the training set.

.. [Sener2018] O. Sener, V. Koltun. Multi-Task Learning as Multi-Objective Optimization.
   NeurIPS 2018.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from paretoray.problems.base import register
from paretoray.problems.networks.base import NetworkProblem
from paretoray.problems.networks.data import DataSplits, split_indices

__all__ = ["MultiDigits", "MultiDigitsNet", "make_multi_digits"]

_DIGIT = 8  # side of sklearn's digit images


class MultiDigitsNet(nn.Module):
    """Shared conv trunk (two stride-2 convs, one dense layer) and a left and right head.

    Args:
        canvas: Side of the square input image.
        width: Channels of the first conv layer (the second has twice as many).
        hidden: Width of the shared dense layer.
    """

    def __init__(self, canvas: int = 12, width: int = 8, hidden: int = 64) -> None:
        super().__init__()
        # Strided convolutions instead of max-pooling (an all-convolutional trunk): under
        # vmap, max_pool2d's batching rule is several times slower than the convolution
        # itself on CPU, while strided convs batch as one grouped convolution.
        side = ((canvas + 1) // 2 + 1) // 2
        self.trunk = nn.Sequential(
            nn.Conv2d(1, width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(),
            nn.Linear(2 * width * side**2, hidden), nn.ReLU(),
        )
        self.left = nn.Linear(hidden, 10)
        self.right = nn.Linear(hidden, 10)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Logits of the left and right digit: two `batch x 10`-dim tensors."""
        z = self.trunk(x)
        return self.left(z), self.right(z)


def make_multi_digits(
    n_train: int = 1024, n_val: int = 256, n_test: int = 256, *, canvas: int = 12, seed: int = 0
) -> DataSplits:
    """The seeded two-digit data set.

    Returns:
        Splits with ``x`` (`n x 1 x canvas x canvas`-dim float32 in [0, 1]), ``y_left`` and
        ``y_right`` (`n`-dim int64 labels).
    """
    from sklearn.datasets import load_digits  # lazy: scikit-learn imports slowly

    if canvas < _DIGIT + 2:
        raise ValueError(f"`canvas` must be at least {_DIGIT + 2}; got {canvas}.")
    digits = load_digits()
    images = torch.as_tensor(digits.images, dtype=torch.float32) / 16.0
    labels = torch.as_tensor(digits.target, dtype=torch.int64)
    gen = torch.Generator().manual_seed(int(seed))
    pools = split_indices(len(labels), (0.6, 0.2, 0.2), seed)
    room = canvas - _DIGIT  # the right digit's offset; jitter keeps both on the canvas

    def compose(pool: Tensor, n: int) -> dict[str, Tensor]:
        left = pool[torch.randint(len(pool), (n,), generator=gen)]
        right = pool[torch.randint(len(pool), (n,), generator=gen)]
        jitter = torch.randint(0, 2, (n, 4), generator=gen)
        canvas_l = torch.zeros(n, canvas, canvas)
        canvas_r = torch.zeros(n, canvas, canvas)
        for dy in range(2):  # 4 jitter cases, each one batched assignment (not per sample)
            for dx in range(2):
                sel = (jitter[:, 0] == dy) & (jitter[:, 1] == dx)
                canvas_l[sel, dy:dy + _DIGIT, dx:dx + _DIGIT] = images[left[sel]]
                sel = (jitter[:, 2] == dy) & (jitter[:, 3] == dx)
                oy, ox = room - 1 + dy, room - 1 + dx
                canvas_r[sel, oy:oy + _DIGIT, ox:ox + _DIGIT] = images[right[sel]]
        x = torch.maximum(canvas_l, canvas_r).unsqueeze(1)
        return {"x": x, "y_left": labels[left], "y_right": labels[right]}

    return DataSplits(train=compose(pools[0], n_train), validation=compose(pools[1], n_val),
                      test=compose(pools[2], n_test))


def _left_ce(out: tuple[Tensor, Tensor], batch: dict[str, Tensor]) -> Tensor:
    return F.cross_entropy(out[0], batch["y_left"])


def _right_ce(out: tuple[Tensor, Tensor], batch: dict[str, Tensor]) -> Tensor:
    return F.cross_entropy(out[1], batch["y_right"])


def _left_acc(out: tuple[Tensor, Tensor], batch: dict[str, Tensor]) -> Tensor:
    return (out[0].argmax(-1) == batch["y_left"]).to(out[0].dtype).mean()


def _right_acc(out: tuple[Tensor, Tensor], batch: dict[str, Tensor]) -> Tensor:
    return (out[1].argmax(-1) == batch["y_right"]).to(out[1].dtype).mean()


class _Factory:
    """A picklable ``MultiDigitsNet`` factory (Ray ships problems to workers)."""

    def __init__(self, canvas: int, width: int, hidden: int) -> None:
        self.canvas, self.width, self.hidden = canvas, width, hidden

    def __call__(self) -> nn.Module:
        return MultiDigitsNet(self.canvas, self.width, self.hidden)

    def __repr__(self) -> str:
        return f"MultiDigitsNet(canvas={self.canvas}, width={self.width}, hidden={self.hidden})"


@register("multi_digits")
class MultiDigits(NetworkProblem):
    """Left-digit vs right-digit cross-entropy of a two-headed conv net (m = 2).

    Args:
        n_train, n_val, n_test: Sizes of the splits (pairs of digits).
        canvas: Side of the images (>= 10).
        width, hidden: Size of the network (see :class:`MultiDigitsNet`).
        batch_size: Training mini-batch size.
        seed: Seeds the data set (the population's initialization is seeded by the engine).

    Metrics: ``left_accuracy`` and ``right_accuracy`` (fractions in [0, 1]).
    """

    def __init__(self, n_train: int = 1024, n_val: int = 256, n_test: int = 256,
                 canvas: int = 12, width: int = 8, hidden: int = 64, batch_size: int = 64,
                 seed: int = 0) -> None:
        self.options: dict[str, Any] = {
            "n_train": n_train, "n_val": n_val, "n_test": n_test, "canvas": canvas,
            "width": width, "hidden": hidden, "batch_size": batch_size, "seed": seed}
        super().__init__(
            _Factory(canvas, width, hidden),
            make_multi_digits(n_train, n_val, n_test, canvas=canvas, seed=seed),
            [_left_ce, _right_ce],
            metrics={"left_accuracy": _left_acc, "right_accuracy": _right_acc},
            batch_size=batch_size,
            objective_names=["left_ce", "right_ce"],
            ref_point=(3.0, 3.0),
        )
