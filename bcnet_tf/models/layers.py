"""Custom layers of the model zoo (registered, serialisable, ``keras.ops`` only)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="bcnet_tf")
class ChannelAttention(keras.layers.Layer):
    """Lightweight channel attention of study 004 (Liu & Achutha), squeeze-style.

    Global average pool -> Dense(channels / reduction) -> LeakyReLU -> Dense(channels)
    -> sigmoid -> scale each channel of the input by its weight (Hu et al.'s squeeze
    and excitation, with the study's LeakyReLU).

    Args:
        reduction: channel reduction of the bottleneck (the study gives none; 16 is
            squeeze-and-excitation's default).
        negative_slope: LeakyReLU slope.

    Example:
        >>> tuple(ChannelAttention(reduction=4)(keras.ops.ones((2, 7, 7, 32))).shape)
        (2, 7, 7, 32)
    """

    def __init__(self, reduction: int = 16, negative_slope: float = 0.01, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reduction = reduction
        self.negative_slope = negative_slope

    def build(self, input_shape: tuple) -> None:
        channels = int(input_shape[-1])
        self.squeeze = keras.layers.Dense(
            max(1, channels // self.reduction), name="squeeze", dtype=self.dtype_policy
        )
        self.excite = keras.layers.Dense(channels, name="excite", dtype=self.dtype_policy)
        self.squeeze.build((input_shape[0], channels))
        self.excite.build((input_shape[0], max(1, channels // self.reduction)))

    def call(self, inputs: Any) -> Any:
        pooled = ops.mean(inputs, axis=(1, 2))
        hidden = ops.leaky_relu(self.squeeze(pooled), negative_slope=self.negative_slope)
        weights = ops.sigmoid(self.excite(hidden))
        return inputs * ops.expand_dims(ops.expand_dims(weights, 1), 1)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "reduction": self.reduction,
            "negative_slope": self.negative_slope,
        }
