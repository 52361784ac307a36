"""Batch prediction with optional test-time augmentation (TTA).

TTA averages the probabilities of the image and its flips and 90-degree rotations
(the dihedral views; rotations only for square inputs). Histopathology tiles have no
canonical orientation, so each view is as valid as the original. Ultrasound and
mammograms do (skin on top, shadows below): there the views are not label-preserving
and TTA hurt on BUSI (accuracy 0.813 -> 0.732), so leave it off for them.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm


def tta_views(images: tf.Tensor) -> list[tf.Tensor]:
    """The original batch, its left-right and up-down flips and, when square, its
    90/180/270-degree rotations.

    Example:
        >>> len(tta_views(tf.zeros((2, 8, 8, 3))))
        6
    """
    views = [images, tf.image.flip_left_right(images), tf.image.flip_up_down(images)]
    if images.shape[1] == images.shape[2]:
        views += [tf.image.rot90(images, k) for k in (1, 2, 3)]
    return views


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
    for images, targets in tqdm(dataset, desc="predict", leave=False, unit="batch"):
        probabilities.append(predict_pixels(model, images, tta))
        labels.append(np.argmax(targets, axis=1))
    return np.concatenate(probabilities), np.concatenate(labels)


def predict_pixels(
    model: keras.Model, images: tf.Tensor | np.ndarray, tta: bool = False
) -> np.ndarray:
    """Probabilities (float64) for one batch of raw pixels, TTA-averaged if asked.

    Example:
        >>> predict_pixels(model, load_files(["scan.png"], 224), tta=True)  # doctest: +SKIP
    """
    images = tf.convert_to_tensor(images, tf.float32)
    views = tta_views(images) if tta else [images]
    outputs = [keras.ops.convert_to_numpy(model(view, training=False)) for view in views]
    return np.mean(outputs, axis=0).astype(np.float64)
