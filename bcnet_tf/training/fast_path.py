"""Frozen-backbone fast path: compute backbone features once, train only the head.

BCNet trains a Dense head on a frozen VGG16 for 50 epochs; a plain ``fit`` pushes every
image through VGG16 every epoch. Here the pooled backbone features are computed once per
image (plus ``views - 1`` augmented views when augmentation is on; epoch ``e`` trains on
view ``e % views``), then the head trains on them. The head model *shares its layers*
with the full model, so the trained weights are already in the model that is saved.
The features are cached in the run directory, so a resumed run reuses them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import reduce
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from bcnet_tf.console import progress_bar
from bcnet_tf.data.augment import augmentation_policy
from bcnet_tf.data.pipeline import make_dataset
from bcnet_tf.data.splits import Split
from bcnet_tf.models.factory import FEATURE_LAYER
from bcnet_tf.models.registry import HEAD_LAYERS
from bcnet_tf.pathology.stain import StainNormalizer
from bcnet_tf.training.config import TrainConfig


def backbone_is_frozen(model: keras.Model) -> bool:
    """True when no layer before the head has trainable weights."""
    return not any(
        layer.trainable_weights for layer in model.layers if not layer.name.startswith(HEAD_LAYERS)
    )


def head_model(model: keras.Model) -> keras.Model:
    """A model from pooled features to predictions, made of ``model``'s own head layers
    (except the pooling), so training it trains ``model``."""
    pool = model.get_layer(FEATURE_LAYER)
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
    extractor = keras.Model(model.input, model.get_layer(FEATURE_LAYER).output)
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


def cached_features(
    model: keras.Model,
    split: Split,
    names: Sequence[str],
    config: TrainConfig,
    *,
    image_size: int | Sequence[int],
    stain: StainNormalizer | None,
    cache: Path,
    preprocess: str = "none",
) -> tuple[list[np.ndarray], np.ndarray, tf.data.Dataset]:
    """Pooled features of ``split``, computed once and kept in the ``cache`` file:
    ``config.feature_views`` train views (one without augmentation), the train
    targets, and the validation data as batches of features and targets."""
    train_targets = keras.utils.to_categorical(
        [names.index(r.label) for r in split.train], len(names)
    )
    if cache.exists():
        saved = np.load(cache)
        views = [saved[f"view{i}"] for i in range(int(saved["views"]))]
        val_features = saved["val"]
    else:
        plain = make_dataset(
            split.train,
            names,
            image_size=image_size,
            batch_size=config.batch_size,
            stain=stain,
            preprocess=preprocess,
        )
        augment = augmentation_policy(config.augment, config.seed)
        count = config.feature_views if augment is not None else 1
        views = [extract_features(model, plain, description="features, plain view")]
        views += [
            extract_features(model, plain, augment, f"features, augmented view {i}")
            for i in range(1, count)
        ]
        val_images = make_dataset(
            split.val,
            names,
            image_size=image_size,
            batch_size=config.batch_size,
            stain=stain,
            preprocess=preprocess,
        )
        val_features = extract_features(model, val_images, description="features, validation")
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.stem}.tmp.npz")
        np.savez(
            tmp,
            views=len(views),
            val=val_features,
            **{f"view{i}": view for i, view in enumerate(views)},
        )
        os.replace(tmp, cache)
    val_targets = keras.utils.to_categorical([names.index(r.label) for r in split.val], len(names))
    val = tf.data.Dataset.from_tensor_slices((val_features, val_targets)).batch(config.batch_size)
    return views, train_targets, val


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
