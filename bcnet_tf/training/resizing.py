"""Progressive resizing (fastai, timm): the first epochs train at a smaller input, the
rest at the full size.

A Keras functional model has a fixed input, so each size is its own model: the run
builds the model at the next size and copies the weights into it layer by layer
(:func:`transfer_weights`). That works for models whose weights do not depend on the
input size: convolutions followed by global pooling, as every built-in model is. The
plan (:mod:`bcnet_tf.training.plans`) gives each phase its size and continues the
learning-rate schedule across the change.
"""

from __future__ import annotations

import keras

from bcnet_tf.errors import BcnetError
from bcnet_tf.settings import ImageSize
from bcnet_tf.training.config import TrainConfig


def start_size(config: TrainConfig, size: ImageSize) -> ImageSize:
    """The input of the first ``progressive_resize`` epochs: ``config.resize_start``,
    or half of each side of ``size`` rounded to a multiple of 8 (at least 8).

    Example:
        >>> start_size(TrainConfig(), ImageSize(224, 100))
        ImageSize(height=112, width=48)
        >>> start_size(TrainConfig(resize_start=96), ImageSize(224, 224))
        ImageSize(height=96, width=96)
    """
    if config.resize_start is not None:
        small = config.resize_start
        if small.height > size.height or small.width > size.width or small == size:
            raise BcnetError(
                f"resize_start ({small}) must be smaller than the input ({size}). Fix: "
                "a smaller --resize-start, or none (half the side)."
            )
        return small
    return ImageSize(*(max(8, round(side / 16) * 8) for side in size))


def input_size(model: keras.Model) -> ImageSize:
    """The ``(height, width)`` of ``model``'s image input."""
    _, height, width, _ = model.input_shape
    return ImageSize(height, width)


def transfer_weights(source: keras.Model, target: keras.Model) -> keras.Model:
    """Copy ``source``'s weights and trainable flags into ``target`` (the same model
    built for another input size), layer by layer; returns ``target``.

    Raises:
        BcnetError: a layer whose weights depend on the input size (say, a ``Dense``
            after ``Flatten``).

    Example:
        >>> def model(side):
        ...     inputs = keras.Input((side, side, 3))
        ...     features = keras.layers.Conv2D(4, 3, name="conv")(inputs)
        ...     return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(features))
        >>> small, full = model(16), model(32)
        >>> kernel = transfer_weights(small, full).get_layer("conv").get_weights()[0]
        >>> bool((kernel == small.get_layer("conv").get_weights()[0]).all())
        True
    """
    for old, new in zip(source.layers, target.layers, strict=True):
        weights = old.get_weights()
        shapes = [w.shape for w in weights], [tuple(w.shape) for w in new.weights]
        if shapes[0] != shapes[1]:
            raise BcnetError(
                f"progressive resizing needs a model whose weights do not depend on the "
                f"input size (convolutions, then global pooling); {source.name}'s layer "
                f"{old.name!r} holds {shapes[0]} at {input_size(source)} px but "
                f"{shapes[1]} at {input_size(target)} px. Fix: --progressive-resize 0."
            )
        new.set_weights(weights)
        new.trainable = old.trainable
    return target
