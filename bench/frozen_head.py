"""Frozen-backbone fast path vs a plain ``fit``: the BCNet protocol on real images.

BCNet (study 003): VGG16 frozen, GAP + Dense 1024 x2 head, random zoom 0.2, 224 px,
50 epochs, Adam 1e-3, on ``../shared/data/busi_256`` (weights=None: no ImageNet download
here). ``--model squeezenet --weights FILE`` runs the same protocol with real ImageNet
features (the shared SqueezeNet weights), where accuracy means something. Both sides
run through ``bcnet_tf.training.train`` with the library defaults,
each in its own process; only ``fast_path`` differs. The plain side runs
``--plain-epochs`` epochs (default 3) and is extrapolated to 50 from its per-epoch time
(epochs after the first), unless ``--plain-epochs 50`` runs it in full.

    python -m bench.frozen_head [--data DIR] [--plain-epochs 3] [--model M --weights FILE]

Prints ``ratio: X`` (plain wall time / fast-path wall time) last.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench._worker import run_worker

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "busi_256"
EPOCHS = 50


def _worker(data: str, fast_path: str, epochs: int, model: str, weights: str | None) -> dict:
    from bcnet_tf.training import train

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as run_dir:
        result = train(
            model=model,
            data=data,
            weights=weights,
            epochs=epochs,
            augment="bcnet",
            fast_path=fast_path,
            run_dir=run_dir,
        )
        seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "epoch_seconds": [row["epoch_seconds"] for row in result.history],
        "val_accuracy": result.history[-1]["val_accuracy"],
        "policy": result.policy,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--plain-epochs", type=int, default=3)
    parser.add_argument("--model", default="bcnet_vgg16", help="a frozen-backbone model")
    parser.add_argument("--weights", default=None, help="weights file (default: random)")
    parser.add_argument("--worker", choices=("on", "off"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        epochs = EPOCHS if args.worker == "on" else args.plain_epochs
        print(json.dumps(_worker(args.data, args.worker, epochs, args.model, args.weights)))
        return
    common = ["--data", args.data, "--model", args.model]
    if args.weights:
        common += ["--weights", args.weights]
    fast = run_worker("bench.frozen_head", "--worker", "on", *common)
    plain = run_worker(
        "bench.frozen_head", "--worker", "off", *common, "--plain-epochs", str(args.plain_epochs)
    )
    per_epoch = statistics.median(plain["epoch_seconds"][1:] or plain["epoch_seconds"])
    plain_total = plain["seconds"] + (EPOCHS - args.plain_epochs) * per_epoch
    measured = (
        "measured"
        if args.plain_epochs == EPOCHS
        else (
            f"extrapolated from {args.plain_epochs} epochs, {per_epoch:.1f} s/epoch after the first"
        )
    )
    print(
        f"data {args.data}, {args.model} (weights={args.weights}), default size, {EPOCHS} "
        f"epochs, precision {fast['policy']}"
    )
    print(f"fast path : {fast['seconds']:7.1f} s, final val accuracy {fast['val_accuracy']:.3f}")
    print(
        f"plain fit : {plain_total:7.1f} s ({measured}), final val accuracy "
        f"{plain['val_accuracy']:.3f} after {args.plain_epochs} epochs"
    )
    print(f"ratio: {plain_total / fast['seconds']:.1f}")


if __name__ == "__main__":
    main()
