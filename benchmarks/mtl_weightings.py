"""Batched MTL and finite-set weightings: calls per second vs TorchJD one Jacobian at a time.

For each weighting added with issue 13 and each population size P, one call of the
batched weighting on random `P x m x m` Gram matrices (``m`` objectives, ``n = 64``
parameters per member) is timed (median of ``--reps`` calls after a warm-up; CUDA calls
are synchronized). The baseline, where TorchJD has the same aggregator and is importable,
is TorchJD's weighting called once per member (the loop timed on the first
``min(P, 50)`` members and scaled to P; every member costs the same). ``ratio`` =
baseline time / batched time.

``--check`` (any device): the weights on ``--device`` equal the CPU float64 weights of the
same inputs (printed: max abs difference), so a GPU run also checks the device path.

Run ``python benchmarks/mtl_weightings.py [--device cuda] [--sizes 100 10000] [--check]``.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import time

import torch

#: (registry module, class, options, TorchJD weighting factory or None)
METHODS = (
    ("upgrad", "UPGrad", {}, "UPGradWeighting"),
    ("dualproj", "DualProj", {}, "DualProjWeighting"),
    ("pcgrad", "PCGrad", {}, "PCGradWeighting"),
    ("cagrad", "CAGrad", {"c": 0.5, "rescale": 0}, "CAGradWeighting"),
    ("nash_mtl", "NashMTL", {"max_norm": 0.0}, None),
    ("imtl_g", "IMTLG", {}, "IMTLGWeighting"),
    ("aligned_mtl", "AlignedMTL", {}, "AlignedMTLWeighting"),
    ("fairgrad", "FairGrad", {"alpha": 2.0}, "FairGradWeighting"),
    ("dwa", "DWA", {}, None),
    ("rlw", "RLW", {}, None),
    ("famo", "FAMO", {}, None),
    ("ferero", "FERERO", {}, None),
    ("som", "SumOfMinimum", {}, None),
    ("most", "MosT", {}, None),
)
TJD_OPTIONS = {"CAGradWeighting": {"c": 0.5}, "FairGradWeighting": {"alpha": 2.0}}


def build(module: str, cls: str, options: dict):
    return getattr(importlib.import_module(f"paretoray.algorithms.{module}"), cls)(**options)


def inputs(p: int, m: int, device, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    J = torch.randn(p, m, 64, generator=g, dtype=torch.float64)
    values = torch.rand(p, m, generator=g, dtype=torch.float64) + 0.1
    prefs = torch.rand(p, m, generator=g, dtype=torch.float64) + 0.05
    prefs = prefs / prefs.sum(-1, keepdim=True)
    return values.to(device), prefs.to(device), (J @ J.mT).to(device)


def timed(fn, reps: int, device) -> float:
    fn()
    out = []
    for _ in range(reps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def torchjd_loop(name: str | None, gram, reps: int) -> float | None:
    if name is None:
        return None
    try:
        agg = importlib.import_module("torchjd.aggregation")
        w = getattr(agg, name)(**TJD_OPTIONS.get(name, {}))
    except Exception:  # TorchJD or its solver extras not installed
        return None
    G = gram[: min(gram.shape[0], 50)].cpu()

    def loop():
        for i in range(G.shape[0]):
            w(G[i])

    return timed(loop, max(1, reps // 3), torch.device("cpu")) * gram.shape[0] / G.shape[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--m", type=int, default=3)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    device = torch.device(args.device)
    print(f"device={device} m={args.m} torch={torch.__version__}")
    extra = (" max diff vs CPU |", "--:|") if args.check else ("", "")
    print(f"| weighting | P | batched ms | TorchJD loop ms | ratio |{extra[0]}")
    print(f"|---|--:|--:|--:|--:|{extra[1]}")
    for module, cls, options, tjd in METHODS:
        for p in args.sizes:
            values, prefs, gram = inputs(p, args.m, device)
            w = build(module, cls, options)
            t = timed(lambda w=w, v=values, r=prefs, g=gram: w(v, r, gram=g), args.reps, device)
            base = torchjd_loop(tjd, gram, args.reps) if device.type == "cpu" else None
            ratio = f"{base / t:.0f}x" if base else "-"
            row = (f"| {module} | {p} | {1e3 * t:.2f} | "
                   f"{'-' if base is None else f'{1e3 * base:.1f}'} | {ratio} |")
            if args.check:
                a = build(module, cls, options)(values, prefs, gram=gram).cpu()
                b = build(module, cls, options)(values.cpu(), prefs.cpu(), gram=gram.cpu())
                row += f" {(a - b).abs().max().item():.1e} |"
            print(row, flush=True)


if __name__ == "__main__":
    main()
