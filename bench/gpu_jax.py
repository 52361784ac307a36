"""The zoo's models on a GPU without TensorFlow: Keras 3 on the JAX backend.

bcnet_tf's model code (``bcnet_tf.models``, the preprocessing layers) is pure Keras, so it
runs on any Keras backend. Where a GPU machine has JAX but no TensorFlow, this checks the
GPU-only part of the design: every zoo model trains a few steps under float32,
mixed_float16 (with loss scaling) and mixed_bfloat16 with a finite loss and a float32
softmax, and the augmentation layers stay finite under mixed_float16; with training and
prediction images/s (batch 64, median of 10 steps after 3 warm-up steps; JAX always
compiles with XLA).

    KERAS_BACKEND=jax python -m bench.gpu_jax    # needs jax[cuda] and keras==3.15.1

It measures the models, not bcnet_tf's TensorFlow training engine (tf.data, callbacks).
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras
import numpy as np

from bcnet_tf.data.layers import RandomAffine, RandomStainJitter
from bcnet_tf.models import build_model, get_spec, list_models
from bench.models import conv_compute_dtype, images_per_second

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")


def check_model(name: str, policy: str, batch: int = 64) -> dict:
    keras.config.set_dtype_policy(policy)
    size = get_spec(name).default_size
    model = build_model(name, 3)  # default size and freezing
    pixels = np.random.default_rng(0).uniform(0, 255, (batch, size, size, 3)).astype("float32")
    targets = keras.utils.to_categorical(np.arange(batch) % 3, 3)
    optimizer = keras.optimizers.Adam(1e-4)
    if policy == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer, "categorical_crossentropy")
    losses = [float(model.train_on_batch(pixels, targets)) for _ in range(3)]
    output = model.predict_on_batch(pixels)
    row = {
        "model": name,
        "policy": policy,
        "conv_dtype": conv_compute_dtype(model),
        "output_dtype": str(output.dtype),
        "finite": bool(np.isfinite(losses).all() and np.isfinite(output).all()),
        "train": images_per_second(lambda: model.train_on_batch(pixels, targets), batch, 10),
        "predict": images_per_second(lambda: model.predict_on_batch(pixels), batch, 10),
    }
    keras.backend.clear_session()
    return row


def check_layers() -> list[dict]:
    pixels = np.random.default_rng(0).uniform(0, 255, (8, 64, 64, 3)).astype("float32")
    rows = []
    for layer in (RandomAffine(rotation=0.5, zoom=0.1, seed=0), RandomStainJitter(seed=0)):
        for policy in ("float32", "mixed_float16"):
            clone = type(layer).from_config({**layer.get_config(), "dtype": policy})
            output = keras.ops.convert_to_numpy(clone(pixels, training=True))
            rows.append(
                {
                    "layer": type(layer).__name__,
                    "policy": policy,
                    "finite": bool(np.isfinite(output).all()),
                }
            )
    return rows


def main() -> None:
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}")
    for name in list_models():
        for policy in POLICIES:
            print(json.dumps(check_model(name, policy)), flush=True)
    for row in check_layers():
        print(json.dumps(row))


if __name__ == "__main__":
    main()
