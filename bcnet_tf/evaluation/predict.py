"""Prediction over a ``tf.data`` dataset or a model's records, with optional
test-time augmentation.

The per-batch prediction (one traced graph per model, the TTA views) is
:mod:`bcnet_tf.models.predict`; its names are importable from here too.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from bcnet_tf.console import progress_bar
from bcnet_tf.data.mammo import preprocess_of
from bcnet_tf.data.pipeline import make_dataset, naming_unreadable_images
from bcnet_tf.data.records import ImageRecord
from bcnet_tf.errors import BcnetError
from bcnet_tf.explain.tiled import predict_tiled
from bcnet_tf.models.predict import inference_function, predict_pixels, tta_views
from bcnet_tf.models.saving import ModelInfo
from bcnet_tf.pathology.settings import from_model_extra

__all__ = [
    "inference_function",
    "predict_pixels",
    "predict_probabilities",
    "predict_records",
    "tta_views",
]


def predict_probabilities(
    model: keras.Model, dataset: tf.data.Dataset, *, tta: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities for every batch of ``dataset`` and the one-hot labels' class ids.

    Args:
        model: a model ending in softmax.
        dataset: ``(images, one-hot labels)`` batches from ``make_dataset``.
        tta: average over :func:`tta_views`.

    Example:
        >>> probs, labels = predict_probabilities(model, make_dataset(split.test, names),
        ...                                       tta=True)  # doctest: +SKIP
    """
    probabilities, labels = [], []
    for images, targets in progress_bar(dataset, desc="predict", leave=False, unit="batch"):
        probabilities.append(predict_pixels(model, images, tta))
        labels.append(np.argmax(targets, axis=1))
    return np.concatenate(probabilities), np.concatenate(labels)


def predict_records(
    model: keras.Model,
    info: ModelInfo,
    records: list[ImageRecord],
    *,
    tta: bool = False,
    batch_size: int = 32,
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and class ids of ``records`` as the saved model expects its
    input (size, stain, preprocessing from ``info``); in tile mode each image's tiles
    aggregated.

    Example:
        >>> model, info = load_model("saved_models/run/checkpoints/best.keras")  # doctest: +SKIP
        >>> probabilities, y_true = predict_records(model, info, split.test)     # doctest: +SKIP
    """
    names = list(info.class_names)
    stain, tiles = from_model_extra(info.extra)
    if tiles is not None and tiles.whole_slide:
        raise BcnetError(
            f"{info.architecture} reads whole-slide images ({tiles.resolution_flag}). Fix: "
            "evaluate it with bcnet-tf evaluate, which predicts slide by slide."
        )
    if tiles is not None:
        predictions = [
            predict_tiled(model, r.path, tiles, stain, tta=tta, batch_size=batch_size)
            for r in progress_bar(records, desc="predict (tiles)", leave=False, unit="image")
        ]
        truth = [names.index(r.label) for r in records]
        return np.stack([p.probabilities for p in predictions]), np.array(truth)
    dataset = make_dataset(
        records,
        names,
        image_size=info.image_size,
        batch_size=batch_size,
        cache=None,
        stain=stain,
        preprocess=preprocess_of(info.extra),
    )
    with naming_unreadable_images(records):
        return predict_probabilities(model, dataset, tta=tta)
