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


@keras.saving.register_keras_serializable(package="bcnet_tf")
class GatedAttentionPooling(keras.layers.Layer):
    """Gated attention pooling of a bag of instance features (Ilse, Tomczak & Welling,
    "Attention-based Deep Multiple Instance Learning", ICML 2018).

    Each instance ``h_k`` gets a score ``w . (tanh(V h_k) * sigmoid(U h_k))``; the
    weights ``a = softmax(scores)`` over the bag's instances (padding excluded by the
    ``mask``) pool the bag into ``sum_k a_k h_k``. Returns ``(pooled, a)``.

    Args:
        units: width of the attention's hidden layer.

    Example:
        >>> pooled, weights = GatedAttentionPooling(8)(keras.ops.ones((2, 5, 16)))
        >>> tuple(pooled.shape), tuple(weights.shape)
        ((2, 16), (2, 5))
    """

    def __init__(self, units: int = 64, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape: tuple) -> None:
        features = int(input_shape[-1])
        self.tanh_kernel = self.add_weight((features, self.units), name="tanh_kernel")
        self.gate_kernel = self.add_weight((features, self.units), name="gate_kernel")
        self.score_kernel = self.add_weight((self.units, 1), name="score_kernel")

    def call(self, inputs: Any, mask: Any = None) -> tuple[Any, Any]:
        hidden = ops.tanh(inputs @ self.tanh_kernel) * ops.sigmoid(inputs @ self.gate_kernel)
        scores = ops.squeeze(hidden @ self.score_kernel, -1)
        if mask is not None:
            scores = ops.where(ops.cast(mask, "bool"), scores, ops.full_like(scores, -1e9))
        weights = ops.softmax(scores, axis=-1)
        return ops.einsum("bn,bnd->bd", weights, inputs), weights

    def compute_output_shape(self, input_shape: tuple) -> tuple[tuple, tuple]:
        return (input_shape[0], input_shape[-1]), tuple(input_shape[:2])

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        return None

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units}
