"""A Pareto set of two-task digit classifiers: multi_digits with EPO, then the trade-off.

Trains a population of small two-headed conv nets (left digit vs right digit of
MultiMNIST-style images built from scikit-learn's bundled digits, no download) through
the distributed search, each member steered by its own preference, and plots the held-out
left vs right accuracy of every archived model; then reloads one model from its
safetensors checkpoint and checks it on the test split.

    python examples/multi_digits.py [--workers 2] [--population 16] [--steps 400]

(Needs the search to be wired for network problems; the engine and archive parts already
work in-process, see tests/test_engine_networks.py.)
"""

from __future__ import annotations

import argparse

import torch

import paretoray as pr
from paretoray import problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--population", type=int, default=16)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--run-dir", default="runs/example-multi-digits")
    args = parser.parse_args()

    front = pr.search("multi_digits", "epo", population=args.population, steps=args.steps,
                      workers=args.workers, run_dir=args.run_dir, lr=3e-3)
    print(front)
    metrics = front.metrics  # held-out (validation) accuracies of every archived model
    left, right = metrics["left_accuracy"], metrics["right_accuracy"]
    for i in left.argsort():
        print(f"point {int(front.point_ids[i]):5d}  pref {front.preferences[i].round(2)}  "
              f"left acc {left[i]:.3f}  right acc {right[i]:.3f}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.scatter(left, right, c=front.preferences[:, 0], cmap="viridis")
    ax.set_xlabel("left-digit accuracy (validation)")
    ax.set_ylabel("right-digit accuracy (validation)")
    ax.set_title("multi_digits, EPO: the accuracy trade-off")
    fig.tight_layout()
    fig.savefig(f"{args.run_dir}/accuracy_tradeoff.png", dpi=120)
    print(f"wrote {args.run_dir}/accuracy_tradeoff.png")

    # pick the model closest to an equal trade-off and check it on the test split
    i = int(abs(left - right).argmin())
    model = front.load_model(i)
    test = problems.get("multi_digits").data.split("test")
    with torch.no_grad():
        out_left, out_right = model(test["x"])
    print(f"point {int(front.point_ids[i])} on the test split: left acc "
          f"{(out_left.argmax(-1) == test['y_left']).float().mean():.3f}, right acc "
          f"{(out_right.argmax(-1) == test['y_right']).float().mean():.3f}")


if __name__ == "__main__":
    main()
