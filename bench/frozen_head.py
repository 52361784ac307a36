"""Frozen-backbone fast path vs a plain ``fit``: speed and accuracy on real features.

The BCNet protocol (frozen backbone + head, ``augment="bcnet"``: random zoom 0.2, Adam
1e-3, 50 epochs, the library defaults) on the 780 BUSI images of
``../shared/data/busi_256``, by default with SqueezeNet and the shared real ImageNet
weights, so that validation accuracy means something. Both sides run through
``bcnet_tf.training.train``, each in its own process, with the same split and seed;
only ``fast_path`` differs, for each of ``--seeds``.

The two sides do not see the same augmentation, and that is the trade-off measured
here: the fast path computes the backbone's features once for ``feature_views`` views
(the plain images and one zoomed view by default) and trains the head on them in turn,
so 50 epochs reuse two views 25 times each; a plain ``fit`` pushes every image through
the backbone every epoch with a fresh random zoom. The bench reports each side's wall
time and final and best validation accuracy (mean and standard deviation over seeds).

    python -m bench.frozen_head [--seeds 0,1,2] [--epochs 50]
                                [--model bcnet_vgg16 --weights none] [--data DIR]

Prints ``ratio: X`` last: the median over seeds of plain wall time / fast-path wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench._worker import describe_machine, run_worker

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DEFAULT_WEIGHTS = SHARED / "weights" / "squeezenet_v1.1_imagenet_notop.h5"
SIDES = {"fast path": "on", "plain fit": "off"}


def _worker(args: argparse.Namespace) -> dict:
    from bcnet_tf.training import train

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as run_dir:
        result = train(
            model=args.model,
            data=args.data,
            weights=None if args.weights == "none" else args.weights,
            epochs=args.epochs,
            augment="bcnet",
            fast_path=args.worker,
            seed=args.seed,
            run_dir=run_dir,
        )
        seconds = time.perf_counter() - start
    accuracies = [row["val_accuracy"] for row in result.history]
    return {
        "seconds": seconds,
        "final": accuracies[-1],
        "best": max(accuracies),
        "policy": result.policy,
    }


def _mean_sd(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {spread:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(SHARED / "data" / "busi_256"))
    parser.add_argument("--model", default="squeezenet", help="a frozen-backbone model")
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS), help="weights file or none")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds")
    parser.add_argument("--worker", choices=tuple(SIDES.values()), help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args)))
        return
    if not Path(args.data).is_dir():
        sys.exit(f"no dataset at {args.data}; pass --data DIR")
    if args.weights not in ("none", "imagenet") and not Path(args.weights).is_file():
        sys.exit(f"no weights file at {args.weights}; pass --weights FILE, imagenet or none")
    seeds = [int(seed) for seed in args.seeds.split(",")]
    print(describe_machine())
    print(
        f"data {args.data}, {args.model} (weights {args.weights}), {args.epochs} epochs, "
        f"augment bcnet, seeds {seeds}"
    )
    common = ["--data", args.data, "--model", args.model, "--weights", args.weights]
    runs: dict[str, list[dict]] = {side: [] for side in SIDES}
    for seed in seeds:
        for side, fast_path in SIDES.items():
            result = run_worker(
                "bench.frozen_head",
                *("--worker", fast_path, "--seed", str(seed), "--epochs", str(args.epochs)),
                *common,
            )
            runs[side].append(result)
            print(
                f"  seed {seed} {side}: {result['seconds']:7.1f} s, val accuracy final "
                f"{result['final']:.3f}, best {result['best']:.3f} ({result['policy']})",
                flush=True,
            )
    print(
        f"\n{'side':10s} {'seconds':>8s}  {'final val accuracy':>18s}  {'best val accuracy':>17s}"
    )
    for side, results in runs.items():
        print(
            f"{side:10s} {statistics.median(r['seconds'] for r in results):8.1f}  "
            f"{_mean_sd([r['final'] for r in results]):>18s}  "
            f"{_mean_sd([r['best'] for r in results]):>17s}"
        )
    gaps = [
        p["final"] - f["final"] for f, p in zip(runs["fast path"], runs["plain fit"], strict=True)
    ]
    print(
        f"trade-off: plain fit - fast path final val accuracy {_mean_sd(gaps)} over "
        f"{len(seeds)} seeds (seconds: median; accuracy: mean ± sd)"
    )
    ratios = [
        p["seconds"] / f["seconds"]
        for f, p in zip(runs["fast path"], runs["plain fit"], strict=True)
    ]
    print(describe_machine())
    print(f"ratio: {statistics.median(ratios):.1f}")


if __name__ == "__main__":
    main()
