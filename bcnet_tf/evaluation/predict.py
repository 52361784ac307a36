"""Prediction over a ``tf.data`` dataset, with optional test-time augmentation.

The per-batch prediction (one traced graph per model, the TTA views) is
:mod:`bcnet_tf.models.predict`; its names are importable from here too.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from bcnet_tf.console import progress_bar
from bcnet_tf.models.predict import inference_function, predict_pixels, tta_views

__all__ = ["inference_function", "predict_pixels", "predict_probabilities", "tta_views"]


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
