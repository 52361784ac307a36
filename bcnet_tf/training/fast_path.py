"""Frozen-backbone fast path: compute backbone features once, train only the head.

BCNet trains a Dense head on a frozen VGG16 for 50 epochs; a plain ``fit`` pushes every
image through VGG16 every epoch. Here the pooled backbone features are computed once per
image (plus ``views - 1`` augmented views when augmentation is on; epoch ``e`` trains on
view ``e % views``), then the head trains on them. The head model *shares its layers*
with the full model, so the trained weights are already in the model that is saved.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce

import keras
import numpy as np
import tensorflow as tf

from bcnet_tf.console import progress_bar
from bcnet_tf.models.registry import HEAD_LAYERS


def backbone_is_frozen(model: keras.Model) -> bool:
    """True when no layer before the head has trainable weights."""
    return not any(
        layer.trainable_weights for layer in model.layers if not layer.name.startswith(HEAD_LAYERS)
    )


def head_model(model: keras.Model) -> keras.Model:
    """A model from pooled features to predictions, made of ``model``'s own head layers
    (except the pooling), so training it trains ``model``."""
    pool = model.get_layer("head_pool")
    inputs = keras.Input(pool.output.shape[1:], name="features")
    x = inputs
    for layer in model.layers[model.layers.index(pool) + 1 :]:
        x = layer(x)
    return keras.Model(inputs, x, name=f"{model.name}_head")


def extract_features(
    model: keras.Model,
    images: tf.data.Dataset,
    augment: keras.Layer | None = None,
    description: str = "features",
) -> np.ndarray:
    """Pooled backbone features of every image in ``images`` (batches of pixels, labels
    ignored), optionally augmented first; with a progress bar."""
    extractor = keras.Model(model.input, model.get_layer("head_pool").output)
    pixels = images.element_spec[0]

    # One trace for every batch size (the last batch is usually smaller).
    @tf.function(input_signature=[tf.TensorSpec([None, *pixels.shape[1:]], pixels.dtype)])
    def features(batch: tf.Tensor) -> tf.Tensor:
        if augment is not None:
            batch = augment(batch, training=True)
        return extractor(batch, training=False)

    chunks = [
        features(batch).numpy().astype("float32")
        for batch, _ in progress_bar(images, desc=description, unit="batch")
    ]
    return np.concatenate(chunks)


def feature_epochs(
    views: Sequence[np.ndarray] | np.ndarray,
    targets: np.ndarray,
    start: int,
    end: int,
    batch_size: int,
    seed: int,
) -> tf.data.Dataset:
    """Batches for epochs ``[start, end)``: epoch ``e`` shuffles view ``e % len(views)``
    with a seed derived from ``e``, so a resumed run sees exactly the same batches."""
    epochs = [
        tf.data.Dataset.from_tensor_slices((views[e % len(views)], targets))
        .shuffle(len(targets), seed=seed * 100_003 + e)
        .batch(batch_size)
        for e in range(start, end)
    ]
    return reduce(tf.data.Dataset.concatenate, epochs).prefetch(tf.data.AUTOTUNE)
