"""Input-pipeline throughput: bcnet_tf's tf.data pipeline vs the legacy ImageDataGenerator.

The BCNet study's augmentation on both sides: ``ImageDataGenerator(zoom_range=0.2)``
(Keras' legacy generator, shipped in ``keras.src.legacy``; bilinear zoom drawn per axis,
edge pixels repeated) against ``make_dataset(..., augment="bcnet")``, the policy that
reproduces it (``tests/data/test_layers.py`` checks the two transforms agree). Same real
images, resized to 224x224 with an anti-aliased filter on both sides (Pillow bilinear
for the generator, area averaging for bcnet_tf), batch 32, 3 epochs. Time starts before
the dataset folder is scanned, so scanning, decoding and caching all count. Each variant
runs in its own process (tf.data pipelines built in one process skew each other),
``--repeats`` times; the table shows images/s (total images / total seconds over all
repeats) of epoch 1 (decoding: no cache advantage), of the later epochs (bcnet_tf reads
its in-memory cache) and of all epochs together.

Then the cost of the augmentation alone, one 32-image 224x224 batch in a ``tf.function``:
``RandomAffine`` (zoom + horizontal flip, one resampling) against Keras' ``RandomZoom``
followed by ``RandomFlip``, both bilinear with edge fill, timed in turns.

    python -m bench.pipeline         # default data: ../shared/data/busi_256

The last line is ``ratio: X``: bcnet_tf's images/s over all epochs of all repeats
(total images / total time) over the legacy generator's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from bench._worker import describe_machine, latencies_ms, run_worker

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "busi_256"
VARIANTS = ("legacy", "bcnet_tf")
#: Rounds of the augmentation timing; each layer runs 10 times per round.
ROUNDS = 5


def _run_legacy(data: Path, epochs: int, size: int, batch: int) -> tuple[int, list[float]]:
    from keras.src.legacy.preprocessing.image import ImageDataGenerator

    start = time.perf_counter()
    generator = ImageDataGenerator(zoom_range=0.2).flow_from_directory(
        str(data),
        target_size=(size, size),
        batch_size=batch,
        class_mode="categorical",
        interpolation="bilinear",
        seed=0,
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
    from bcnet_tf.data.layouts import discover
    from bcnet_tf.data.pipeline import make_dataset

    start = time.perf_counter()
    index = discover(data)
    dataset = make_dataset(
        index.records,
        index.class_names,
        image_size=size,
        batch_size=batch,
        training=True,
        augment="bcnet",
        seed=0,
    )
    times = []
    for _ in range(epochs):
        for _batch in dataset:
            pass
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
    return len(index.records), times


def _augment_ms(size: int, batch: int) -> dict[str, float]:
    """Median ms per batch of one-resampling ``RandomAffine`` and of chained Keras
    layers (each in a ``tf.function``, as in the pipeline), timed in turns."""
    import keras
    import numpy as np
    import tensorflow as tf

    from bcnet_tf.data.layers import RandomAffine

    layers = {
        "RandomAffine": RandomAffine(
            zoom=(0.2, 0.2), horizontal_flip=True, interpolation="bilinear", fill_mode="nearest"
        ),
        "RandomZoom+RandomFlip": keras.Sequential(
            [
                keras.layers.RandomZoom(0.2, 0.2, fill_mode="nearest", interpolation="bilinear"),
                keras.layers.RandomFlip("horizontal"),
            ]
        ),
    }
    calls = {
        name: tf.function(lambda pixels, layer=layer: layer(pixels, training=True))
        for name, layer in layers.items()
    }
    pixels = np.random.default_rng(0).uniform(0, 255, (batch, size, size, 3))
    return latencies_ms(calls, tf.constant(pixels, "float32"), repeats=10, rounds=ROUNDS)


def _worker(args: argparse.Namespace) -> None:
    if args.worker == "augment":
        print(json.dumps(_augment_ms(args.size, args.batch)))
        return
    run = _run_legacy if args.worker == "legacy" else _run_bcnet
    images, times = run(Path(args.data), args.epochs, args.size, args.batch)
    print(json.dumps({"variant": args.worker, "images": images, "epoch_seconds": times}))


def _rate(results: list[dict], epochs: slice) -> float:
    """Images / seconds over the ``epochs`` of every run, all runs together."""
    images = sum(r["images"] * len(r["epoch_seconds"][epochs]) for r in results)
    return images / sum(sum(r["epoch_seconds"][epochs]) for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker", choices=(*VARIANTS, "augment"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return
    if not Path(args.data).is_dir():
        sys.exit(f"no dataset at {args.data}; pass --data DIR")
    if args.epochs < 2:
        sys.exit("--epochs must be at least 2 (epoch 1 and the later ones are reported apart)")
    print(describe_machine())
    print(
        f"data {args.data}, {args.size}px, batch {args.batch}, {args.epochs} epochs, "
        f"{args.repeats} repeats"
    )
    shape = ("--size", str(args.size), "--batch", str(args.batch))
    runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    for repeat in range(args.repeats):
        for variant in VARIANTS:
            result = run_worker(
                "bench.pipeline",
                *("--worker", variant, "--data", args.data, "--epochs", str(args.epochs)),
                *shape,
            )
            runs[variant].append(result)
            total = result["images"] * args.epochs / sum(result["epoch_seconds"])
            print(f"  repeat {repeat + 1} {variant:9s} {total:7.0f} images/s over all epochs")

    columns = {
        "epoch 1": slice(0, 1),
        f"epochs 2-{args.epochs}": slice(1, None),
        "all": slice(None),
    }
    rates = {v: {c: _rate(runs[v], s) for c, s in columns.items()} for v in VARIANTS}
    print(f"\n{'pipeline':10s} {'images':>6s}" + "".join(f"{c:>11s}" for c in columns))
    for variant in VARIANTS:
        cells = "".join(f"{rates[variant][c]:11.0f}" for c in columns)
        print(f"{variant:10s} {runs[variant][0]['images']:6d}{cells}  images/s, all repeats")
    ratios = {c: rates["bcnet_tf"][c] / rates["legacy"][c] for c in columns}
    print(f"{'ratio':17s}" + "".join(f"{ratios[c]:11.2f}" for c in columns))

    augment = run_worker("bench.pipeline", "--worker", "augment", *shape)
    print(
        f"\naugmentation of one {args.batch}x{args.size}x{args.size} batch (zoom 0.2 + flip, "
        f"median of {ROUNDS} rounds x 10 calls, in turns): "
        + ", ".join(f"{name} {ms:.1f} ms" for name, ms in augment.items())
    )
    print(describe_machine())
    print(f"ratio: {ratios['all']:.2f}")


if __name__ == "__main__":
    main()
