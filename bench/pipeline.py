"""Input-pipeline throughput: bcnet_tf's tf.data pipeline vs the legacy ImageDataGenerator.

Same real images, same augmentation (random zoom 0.2 per axis with nearest-neighbour
sampling + horizontal flip: what ``ImageDataGenerator(zoom_range=0.2,
horizontal_flip=True)`` does, the pipeline of the BCNet study), 224x224, batch 32,
3 epochs. Each variant runs in its own process (tf.data pipelines built in one process
skew each other), ``--repeats`` times; the table shows medians. Time starts before the
dataset folder is scanned, so scanning, decoding and caching all count.

    pip install -e .[bench]          # tf-keras, for the legacy generator
    python -m bench.pipeline         # default data: ../shared/data/busi_256

The last line is ``ratio: X`` = median total images/s of bcnet_tf / of the legacy
generator, over all epochs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from bench._worker import run_worker

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "busi_256"
VARIANTS = ("legacy", "bcnet_tf")


def _run_legacy(data: Path, epochs: int, size: int, batch: int) -> tuple[int, list[float]]:
    try:
        from tf_keras.preprocessing.image import ImageDataGenerator
    except ImportError:
        sys.exit("tf-keras is needed for the legacy baseline: pip install -e .[bench]")
    start = time.perf_counter()
    generator = ImageDataGenerator(zoom_range=0.2, horizontal_flip=True).flow_from_directory(
        str(data), target_size=(size, size), batch_size=batch, class_mode="categorical", seed=0
    )
    times = []
    for _ in range(epochs):
        for i in range(len(generator)):
            generator[i]
        generator.on_epoch_end()
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
    return generator.samples, times


def _run_bcnet(data: Path, epochs: int, size: int, batch: int) -> tuple[int, list[float]]:
    from bcnet_tf.data.layers import RandomAffine
    from bcnet_tf.data.layouts import discover
    from bcnet_tf.data.pipeline import make_dataset

    start = time.perf_counter()
    index = discover(data)
    augment = RandomAffine(
        zoom=(0.2, 0.2), horizontal_flip=True, interpolation="nearest", fill_mode="nearest"
    )
    dataset = make_dataset(
        index.records,
        index.class_names,
        image_size=size,
        batch_size=batch,
        training=True,
        augment=augment,
    )
    times = []
    for _ in range(epochs):
        for _batch in dataset:
            pass
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
    return len(index.records), times


def _worker(args: argparse.Namespace) -> None:
    run = _run_legacy if args.worker == "legacy" else _run_bcnet
    images, times = run(Path(args.data), args.epochs, args.size, args.batch)
    print(json.dumps({"variant": args.worker, "images": images, "epoch_seconds": times}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return
    if not Path(args.data).is_dir():
        sys.exit(f"no dataset at {args.data}; pass --data DIR")
    print(
        f"data {args.data}, {args.size}px, batch {args.batch}, {args.epochs} epochs, "
        f"{args.repeats} repeats, {os.cpu_count()} CPUs, {platform.machine()}"
    )
    runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    for repeat in range(args.repeats):
        for variant in VARIANTS:
            result = run_worker(
                "bench.pipeline",
                "--worker",
                variant,
                "--data",
                args.data,
                "--epochs",
                str(args.epochs),
                "--size",
                str(args.size),
                "--batch",
                str(args.batch),
            )
            runs[variant].append(result)
            total = result["images"] * args.epochs / sum(result["epoch_seconds"])
            print(f"  repeat {repeat + 1} {variant:9s} {total:7.0f} images/s over all epochs")

    def median_rate(results: list[dict], epochs: slice) -> float:
        return statistics.median(
            r["images"] * len(r["epoch_seconds"][epochs]) / sum(r["epoch_seconds"][epochs])
            for r in results
        )

    print(
        f"\n{'pipeline':10s} {'images':>6s} {'epoch 1':>9s} {'epochs 2+':>10s} {'all':>8s}"
        "  (images/s, median)"
    )
    totals = {}
    for variant, results in runs.items():
        totals[variant] = median_rate(results, slice(None))
        print(
            f"{variant:10s} {results[0]['images']:6d} {median_rate(results, slice(0, 1)):9.0f} "
            f"{median_rate(results, slice(1, None)):10.0f} {totals[variant]:8.0f}"
        )
    print(f"ratio: {totals['bcnet_tf'] / totals['legacy']:.2f}")


if __name__ == "__main__":
    main()
