"""Prediction with a Keras model through one traced graph, with optional test-time
augmentation (TTA).

TTA averages the probabilities of the image and its flips and 90-degree rotations
(the dihedral views; rotations only for square inputs). Histopathology tiles have no
canonical orientation, so each view is as valid as the original. Ultrasound and
mammograms do (skin on top, shadows below): there the views are not label-preserving
and TTA can hurt there, so leave it off for them.

Example:
    >>> probabilities = predict_pixels(model, pixels, tta=True)  # doctest: +SKIP
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

_INFERENCE: weakref.WeakKeyDictionary[keras.Model, Callable[[tf.Tensor], tf.Tensor]] = (
    weakref.WeakKeyDictionary()
)


def inference_function(model: keras.Model) -> Callable[[tf.Tensor], tf.Tensor]:
    """``model(x, training=False)`` as one graph traced once per model for any batch
    size, kept while the model lives. Calling a model eagerly runs op by op; this
    graph is traced once and reused for every batch.

    Example:
        >>> probabilities = inference_function(model)(images)  # doctest: +SKIP
    """
    if model not in _INFERENCE:
        owner = weakref.ref(model)  # the cache must not keep the model alive
        spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)
        _INFERENCE[model] = tf.function(
            lambda images: owner()(images, training=False), input_signature=[spec]
        )
    return _INFERENCE[model]


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


def predict_pixels(
    model: keras.Model, images: tf.Tensor | np.ndarray, tta: bool = False
) -> np.ndarray:
    """Probabilities (float64) for one batch of raw pixels, TTA-averaged if asked.

    Example:
        >>> predict_pixels(model, load_files(["scan.png"], 224), tta=True)  # doctest: +SKIP
    """
    images = tf.convert_to_tensor(images, tf.float32)
    views = tta_views(images) if tta else [images]
    forward = inference_function(model)
    outputs = [forward(view).numpy() for view in views]
    return np.mean(outputs, axis=0).astype(np.float64)
