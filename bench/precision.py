"""``precision="auto"`` vs float32: train-step speed and accuracy on real images.

For ``resnet18`` (128 px) and ``bcnet_vgg16`` (224 px): images/s of a training step
(batch 32, median of 5 steps, ``bench.models.measure_model``), and the final validation
accuracy of a short run on ``../shared/data/busi_256`` through ``train`` (weights=None,
Adam 1e-3; resnet18 8 epochs, bcnet_vgg16 15 epochs on its fast path). Every
measurement runs in its own process.

    python -m bench.precision [--data DIR]

Prints ``ratio: X`` last: auto train images/s / float32 train images/s, the smaller of
the two models' ratios. ``auto`` is float32 itself, or mixed_bfloat16 only where it
measured faster, so the ratio is 1 or more up to timing noise.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from bench._worker import run_worker

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "busi_256"
RUNS = {"resnet18": 8, "bcnet_vgg16": 15}


def _worker(task: str, model: str, precision: str, data: str) -> dict:
    if task == "speed":
        from bench.models import measure_model

        return measure_model(model, precision)
    from bcnet_tf.training import train

    with tempfile.TemporaryDirectory() as run_dir:
        result = train(
            model=model,
            data=data,
            weights=None,
            epochs=RUNS[model],
            precision=precision,
            run_dir=run_dir,
            augment="bcnet",
        )
    return {"val_accuracy": result.history[-1]["val_accuracy"], "policy": result.policy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(*args.worker, args.data)))
        return
    print(f"{'model':12s} {'precision':26s} {'train img/s':>11s} {'val accuracy':>13s}")
    ratios = []
    for model in RUNS:
        speeds = {}
        for precision in ("float32", "auto"):
            speed = run_worker("bench.precision", "--worker", "speed", model, precision)
            accuracy = run_worker(
                "bench.precision", "--worker", "accuracy", model, precision, "--data", args.data
            )
            speeds[precision] = speed["train"]
            label = f"{precision} ({accuracy['policy']})"
            print(
                f"{model:12s} {label:26s} {speed['train']:11.1f} {accuracy['val_accuracy']:13.3f}",
                flush=True,
            )
        ratios.append(speeds["auto"] / speeds["float32"])
    print(f"ratio: {min(ratios):.2f}")


if __name__ == "__main__":
    main()
