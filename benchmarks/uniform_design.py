"""Benchmark: the uniform-design adapter's cost at the size a run meets it.

200 observed (preference, objective) pairs on a quarter circle, 20 new preferences; one
intra-op thread. Printed beside the `adaptive` adapter on the same input (the default
adapter, the baseline). Run: ``python benchmarks/uniform_design.py``.
"""

from __future__ import annotations

import math
import time

import torch

from paretoray.preferences import adapters
from paretoray.preferences.uniform import uniform_design


def _quarter_circle(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.linspace(0, math.pi / 2, n, dtype=torch.float64)
    y = torch.stack([torch.cos(t), torch.sin(t)], 1)
    return y / y.sum(1, keepdim=True), y


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    torch.set_num_threads(1)
    l_obs, y_obs = _quarter_circle(200)
    uniform_design(l_obs, y_obs, 3, steps=2)  # warm-up (first-call imports)
    adaptive = adapters.get("adaptive")
    current = adapters.initial_prefs(2, 20)
    rows = [("uniform_design (20 new)", best_of(lambda: uniform_design(l_obs, y_obs, 20,
                                                                         seed=1))),
            ("adaptive adapter (20 members)", best_of(lambda: adaptive.propose(
                current, y_obs, l_obs, round=0)))]
    print("| method | seconds (best of 3) |\n|---|--:|")
    for name, t in rows:
        print(f"| {name} | {t:.3f} |")


if __name__ == "__main__":
    main()
