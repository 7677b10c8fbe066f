"""Populations of networks on ``multi_digits``: one vmapped program vs a loop of P modules.

For P in {1, 8, 32, 128} members, both sides train the same multi-task nets (same initial
weights, same mini-batches, same weighting math, Adam with the same settings) for the same
number of epochs, in one run:

- **vmapped**: ``paretoray.engine.Engine`` -- parameters stacked with
  ``stack_module_state``, one ``vmap(functional_call)`` forward, ``m`` backward passes for
  the Gram matrix (weightings that need it), one for the direction;
- **loop**: LibMOON's way, one ``nn.Module`` and one optimizer per preference, a Python loop
  over the P modules, each with its own forward, ``m`` backward passes, its own weighting
  call on its `1 x m` row, and its own step.

Reported: training samples/s (member-samples: P x batch x steps / s), the ratio, peak
memory of the training loop (CPU: peak RSS growth of a fresh child process, measured with
``getrusage``; CUDA: ``torch.cuda.max_memory_allocated``) and per member, and the held-out
(validation) hypervolume of the P trained models of each side (reference point: the
problem's ``ref_point``). Each (P, side) runs in its own child process so memory figures
do not leak into each other.

    python benchmarks/networks.py [--sizes 1 8 32 128] [--epochs 6] [--algorithm epo]
                                  [--device cuda] [--out benchmarks/results/networks.md]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch

from paretoray import algorithms, problems
from paretoray.engine import Engine
from paretoray.indicators import hypervolume

PROBLEM_OPTIONS = {"n_train": 512, "n_val": 256, "n_test": 64, "batch_size": 64}
WARMUP = 2  # untimed first steps of each side (they still train)


def _prefs(p: int) -> torch.Tensor:
    w = torch.linspace(0.05, 0.95, p, dtype=torch.float64) if p > 1 else torch.tensor([0.5],
                                                                                      dtype=torch.float64)
    return torch.stack([w, 1 - w], dim=1)


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _current_rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(p: int, side: str, epochs: int, algorithm: str, device: str, lr: float) -> dict:
    """Train one side for ``epochs`` epochs; returns its figures."""
    torch.manual_seed(0)
    prob = problems.get("multi_digits", **PROBLEM_OPTIONS)
    algo = algorithms.get(algorithm)
    prefs = _prefs(p)
    eng = Engine(prob, algo, prefs, lr=lr, seed=0, device=device)
    steps = epochs * (PROBLEM_OPTIONS["n_train"] // PROBLEM_OPTIONS["batch_size"])
    cuda = torch.device(device).type == "cuda"
    if side == "loop":
        start = eng.member_params(torch.arange(p))
        modules = []
        for i in range(p):
            m = prob.build_model({k: v[i] for k, v in start.items()}).to(device).train()
            modules.append(m)
        opts = [torch.optim.Adam(m.parameters(), lr=lr) for m in modules]
        train = prob.data_on("train", device, torch.float32)
        sampler = eng._net.sampler  # the engine's own stream: the very same mini-batches
        loss_fns = prob._loss_fns
        prefs_dev = eng.prefs
    base = _current_rss_mib()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for step in range(steps):
        if step == WARMUP:  # the first steps (vmap tracing, allocator growth) are not timed
            if cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        if side == "vmap":
            eng.step()
        else:
            idx = sampler.next().to(device)
            batch = {k: v.index_select(0, idx) for k, v in train.items()}
            for i, (m, opt) in enumerate(zip(modules, opts, strict=True)):  # LibMOON's loop
                out = m(batch["x"])
                F = torch.stack([fn(out, batch) for fn in loss_fns])
                params = list(m.parameters())
                gram = None
                if algo.needs_gram:
                    J = torch.stack([torch.cat([g.flatten() for g in torch.autograd.grad(
                        F[j], params, retain_graph=True)]) for j in range(len(F))])
                    gram = (J @ J.T).to(torch.float64)[None]
                alpha = algo.weights(F.detach().to(torch.float64)[None],
                                     prefs_dev[i:i + 1], gram=gram)[0]
                opt.zero_grad(set_to_none=True)
                (alpha.detach().to(F.dtype) * F).sum().backward()
                opt.step()
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    memory = (torch.cuda.max_memory_allocated() / 2**20 if cuda
              else max(_rss_mib() - base, 0.0))
    if side == "vmap":
        _, F, _ = eng.evaluate()
    else:
        va = prob.data_on("validation", device, torch.float32)
        with torch.no_grad():
            F = torch.stack([torch.stack([fn(m.eval()(va["x"]), va) for fn in loss_fns])
                             for m in modules])
    F = F.double().cpu()
    return {"P": p, "side": side, "steps": steps, "seconds": seconds,
            "samples_per_s": p * PROBLEM_OPTIONS["batch_size"] * (steps - WARMUP) / seconds,
            "memory_mib": memory,
            "hv": hypervolume(F.numpy(), ref=list(prob.ref_point)),
            "F_mean": F.mean(0).tolist()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 8, 32, 128])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--algorithm", default="epo")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=None)
    parser.add_argument("--child", nargs=2, metavar=("P", "SIDE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        p, side = int(args.child[0]), args.child[1]
        print(json.dumps(child(p, side, args.epochs, args.algorithm, args.device, args.lr)))
        return
    rows = []
    for p in args.sizes:
        res = {}
        for side in ("vmap", "loop"):
            cmd = [sys.executable, os.path.abspath(__file__), "--child", str(p), side,
                   "--epochs", str(args.epochs), "--algorithm", args.algorithm,
                   "--device", args.device, "--lr", str(args.lr)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            res[side] = json.loads(out.strip().splitlines()[-1])
        rows.append(res)
        v, lo = res["vmap"], res["loop"]
        print(f"P={p}: vmap {v['samples_per_s']:.0f} samples/s, loop {lo['samples_per_s']:.0f}"
              f" ({v['samples_per_s'] / lo['samples_per_s']:.1f}x); HV {v['hv']:.4f} vs "
              f"{lo['hv']:.4f}", flush=True)
    mem = "peak CUDA memory" if torch.device(args.device).type == "cuda" else "peak RSS growth"
    lines = [
        f"# Networks: vmapped population vs a loop of P modules (multi_digits, "
        f"{args.algorithm})",
        "",
        f"device={args.device}, torch {torch.__version__}, threads={torch.get_num_threads()} "
        f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}), "
        f"{args.epochs} epochs of {PROBLEM_OPTIONS['n_train']} pairs, batch "
        f"{PROBLEM_OPTIONS['batch_size']}, Adam lr={args.lr}, first {WARMUP} steps untimed; "
        f"memory = {mem} of the training "
        "loop; HV = hypervolume of the P models' validation losses (ref = problem.ref_point).",
        "",
        "| P | vmapped samples/s | loop samples/s | speed-up | vmapped MiB (per member) "
        "| loop MiB (per member) | vmapped HV | loop HV | HV diff |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for res in rows:
        v, lo = res["vmap"], res["loop"]
        p = v["P"]
        diff = (v["hv"] - lo["hv"]) / lo["hv"] * 100 if lo["hv"] else float("nan")
        lines.append(
            f"| {p} | {v['samples_per_s']:.0f} | {lo['samples_per_s']:.0f} | "
            f"{v['samples_per_s'] / lo['samples_per_s']:.1f}x | {v['memory_mib']:.1f} "
            f"({v['memory_mib'] / p:.2f}) | {lo['memory_mib']:.1f} ({lo['memory_mib'] / p:.2f})"
            f" | {v['hv']:.4f} | {lo['hv']:.4f} | {diff:+.2f}% |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
