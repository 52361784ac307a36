"""Batch prediction with optional test-time augmentation (TTA).

TTA averages the probabilities of the image and its flips and 90-degree rotations
(the dihedral views; rotations only for square inputs). Tissue and ultrasound have no
canonical orientation, so each view is as valid as the original.
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
        views = tta_views(images) if tta else [images]
        outputs = [model(view, training=False) for view in views]
        probabilities.append(np.mean([keras.ops.convert_to_numpy(o) for o in outputs], axis=0))
        labels.append(np.argmax(targets, axis=1))
    return np.concatenate(probabilities).astype(np.float64), np.concatenate(labels)
