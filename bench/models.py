"""Training and inference throughput of every model in the zoo on this machine.

Each model (the whole zoo by default, MobileNetV3-Small and -Large included) at its
default input size, batch 32, synthetic pixels, its default freezing (BCNet and
SqueezeNet train only their head), under float32 and mixed_bfloat16; each
(model, precision) in its own process. Images/s = batch / median step time over
``--steps`` timed steps after two warm-up steps. Prediction goes through
:func:`bcnet_tf.evaluation.predict.predict_pixels`, the library's own path.

    python -m bench.models [--models resnet18,resnet9] [--steps 5] [--batch 32]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable

from bench._worker import run_worker

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PRECISIONS = ("float32", "mixed_bfloat16")


def images_per_second(step: Callable[[], object], batch: int, steps: int) -> float:
    """``batch`` / median time of ``steps`` calls of ``step`` after two warm-up calls."""
    for _ in range(2):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


def conv_compute_dtype(model) -> str:
    """The compute dtype of ``model``'s first convolution (what a precision policy
    really ran)."""
    import keras

    return next(
        layer.compute_dtype for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
    )


def measure_model(
    name: str,
    precision: str,
    batch: int = 32,
    steps: int = 5,
    size: int | None = None,
    freeze: str | None = None,
    jit_compile: bool | str = "auto",
    threads: tuple[int, int] | None = None,
) -> dict:
    """Train and predict images/s of ``name`` at ``size`` (default: its own) under
    ``precision`` (a policy name or ``auto``), with the model's default freezing unless
    ``freeze`` is given; ``jit_compile`` as Keras' ``compile`` takes it; ``threads``
    (intra-op, inter-op) as TensorFlow's thread pools, default TensorFlow's own choice.
    Call in a fresh process."""
    import keras
    import numpy as np
    import tensorflow as tf

    if threads:  # before anything starts TensorFlow's runtime
        tf.config.threading.set_intra_op_parallelism_threads(threads[0])
        tf.config.threading.set_inter_op_parallelism_threads(threads[1])

    from bcnet_tf.evaluation.predict import predict_pixels
    from bcnet_tf.models import build_model, get_spec
    from bcnet_tf.training.precision import set_precision

    set_precision(precision)
    size = size or get_spec(name).default_size
    model = build_model(name, 3, image_size=size, freeze=freeze)
    conv_dtype = conv_compute_dtype(model)
    images = np.random.default_rng(0).uniform(0, 255, (batch, size, size, 3)).astype("float32")
    labels = keras.utils.to_categorical(np.arange(batch) % 3, 3)
    model.compile(keras.optimizers.Adam(1e-4), "categorical_crossentropy", jit_compile=jit_compile)
    return {
        "model": name,
        "precision": precision,
        "conv_dtype": conv_dtype,
        "size": size,
        "threads": [
            tf.config.threading.get_intra_op_parallelism_threads(),
            tf.config.threading.get_inter_op_parallelism_threads(),
        ],
        "train": images_per_second(lambda: model.train_on_batch(images, labels), batch, steps),
        "predict": images_per_second(lambda: predict_pixels(model, images), batch, steps),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", help="comma-separated names (default: all)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--worker", nargs=2, metavar=("MODEL", "PRECISION"), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--freeze", help=argparse.SUPPRESS)
    parser.add_argument("--jit", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        jit = True if args.jit else "auto"
        row = measure_model(
            *args.worker, args.batch, args.steps, args.size, args.freeze, jit, args.threads
        )
        print(json.dumps(row))
        return
    from bcnet_tf.models import list_models

    names = args.models.split(",") if args.models else list_models()
    print(f"batch {args.batch}, median of {args.steps} steps, {os.cpu_count()} CPUs")
    print(
        f"{'model':20s} {'size':>5s} {'precision':15s} {'conv dtype':10s} "
        f"{'train img/s':>11s} {'predict img/s':>13s}"
    )
    for name in names:
        for precision in PRECISIONS:
            row = run_worker(
                "bench.models",
                "--worker",
                name,
                precision,
                "--batch",
                str(args.batch),
                "--steps",
                str(args.steps),
            )
            print(
                f"{name:20s} {row['size']:5d} {precision:15s} {row['conv_dtype']:10s} "
                f"{row['train']:11.1f} {row['predict']:13.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
