"""Channel equalisation before int8 conversion: the same function, easier to quantise.

int8 TFLite quantises each activation tensor with one scale, so a few channels with a
large range leave the others only a handful of levels. ReLU (and the identity) is
positively homogeneous: dividing output channel ``j`` of a conv by ``s_j`` and
multiplying the weights that read channel ``j`` in the next conv by ``s_j`` leaves the
model's outputs unchanged, while the channel's activation range shrinks by ``s_j``
(Nagel et al. 2019, "Data-free quantization through weight equalization and bias
correction"; Xiao et al. 2023, "SmoothQuant"). ``s_j`` balances the channel's measured
activation range against its weight range in the reading layers.

A channel is rescaled only when every path from it reaches conv/dense weights through
channel-wise layers (max pooling, dropout, channel concatenation) and no model output or
protected layer; other models come back unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable

import keras
import numpy as np

from bcnet_tf.models.factory import copy_model

#: Layers whose output channel j depends only on input channel j, positively homogeneous.
_CHANNELWISE = (keras.layers.MaxPooling2D, keras.layers.Dropout)
_HOMOGENEOUS = ("relu", "linear")

Readers = list[tuple[keras.layers.Layer, int]]


def is_weighted(layer: keras.layers.Layer) -> bool:
    """A dense layer or an ungrouped 2-D convolution (kernel ``(..., in, out)``)."""
    if isinstance(layer, keras.layers.Conv2D):
        return layer.groups == 1
    return isinstance(layer, keras.layers.Dense)


def _consumers(model: keras.Model) -> dict[str, list[keras.Operation]]:
    """Each operation's name -> the operations (layers, or ops such as ``x + y``) that
    take its output."""
    consumers: dict[str, list[keras.Operation]] = {op.name: [] for op in model.operations}
    for operation in model.operations:
        for node in operation._inbound_nodes:
            for tensor in node.input_tensors:
                consumers[tensor._keras_history.operation.name].append(operation)
    return consumers


def _readers(
    layer: keras.Operation,
    consumers: dict[str, list[keras.Operation]],
    ends: set[str],
) -> Readers | None:
    """The weighted layers that read ``layer``'s channels, each with the offset of those
    channels in its input; ``None`` when a channel reaches anything else."""
    if layer.name in ends or not consumers[layer.name]:
        return None
    readers: Readers = []
    for consumer in consumers[layer.name]:
        if is_weighted(consumer):
            readers.append((consumer, 0))
            continue
        offset = 0
        if isinstance(consumer, keras.layers.Concatenate) and consumer.axis in (-1, 3):
            inputs = [t._keras_history.operation for t in consumer._inbound_nodes[0].input_tensors]
            offset = sum(int(i.output.shape[-1]) for i in inputs[: inputs.index(layer)])
        elif not isinstance(consumer, _CHANNELWISE):
            return None
        further = _readers(consumer, consumers, ends)
        if further is None:
            return None
        readers += [(reader, start + offset) for reader, start in further]
    return readers


def _channel_maxima(
    model: keras.Model, layers: list[keras.layers.Layer], images: np.ndarray, batch: int = 16
) -> list[np.ndarray]:
    """Each layer's largest activation per channel over ``images``."""
    probe = keras.Model(model.input, {layer.name: layer.output for layer in layers})
    maxima = [np.zeros(int(layer.output.shape[-1])) for layer in layers]
    for start in range(0, len(images), batch):
        outputs = probe.predict_on_batch(images[start : start + batch].astype("float32"))
        for maximum, layer in zip(maxima, layers, strict=True):
            output = np.abs(np.asarray(outputs[layer.name]))
            np.maximum(maximum, output.max(axis=tuple(range(output.ndim - 1))), out=maximum)
    return maxima


def equalize_channels(
    model: keras.Model,
    images: np.ndarray,
    protect: Iterable[str] = (),
    strength: float = 0.75,
) -> tuple[keras.Model, list[str]]:
    """A copy of ``model`` computing the same function with ReLU channels rescaled for
    int8 quantisation, and the names of the layers whose outputs were rescaled
    (``model`` itself and ``[]`` when no channel can be rescaled).

    Args:
        model: a functional Keras model (float32).
        images: calibration images as the model takes them (activation ranges).
        protect: layers whose outputs must keep their values (besides model outputs),
            e.g. the pooled features the input guard reads.
        strength: 1 equalises activation ranges only, 0 weight ranges only; between
            them, the ranges are balanced.

    Example:
        >>> import numpy as np
        >>> inputs = keras.Input((8, 8, 3))
        >>> hidden = keras.layers.Conv2D(4, 1, activation="relu", name="a")(inputs)
        >>> model = keras.Model(inputs, keras.layers.Conv2D(2, 1, name="b")(hidden))
        >>> images = np.random.default_rng(0).uniform(0, 1, (4, 8, 8, 3)).astype("float32")
        >>> equalized, rescaled = equalize_channels(model, images)
        >>> rescaled
        ['a']
        >>> bool(np.allclose(equalized(images), model(images), atol=1e-5))
        True
    """
    consumers = _consumers(model)
    ends = set(protect) | {tensor._keras_history.operation.name for tensor in model.outputs}
    plans = []
    for layer in model.layers:
        if not is_weighted(layer):
            continue
        if keras.activations.serialize(layer.activation) not in _HOMOGENEOUS:
            continue
        readers = _readers(layer, consumers, ends)
        if readers:
            plans.append((layer, readers))
    if not plans:
        return model, []
    maxima = _channel_maxima(model, [layer for layer, _ in plans], images)
    copy = copy_model(model)
    for (original, originals), activation in zip(plans, maxima, strict=True):
        layer = copy.get_layer(original.name)
        readers = [(copy.get_layer(reader.name), start) for reader, start in originals]
        channels = len(activation)
        weight = np.zeros(channels)
        for reader, start in readers:
            kernel = keras.ops.convert_to_numpy(reader.kernel)[..., start : start + channels, :]
            axes = tuple(i for i in range(kernel.ndim) if i != kernel.ndim - 2)
            weight = np.maximum(weight, np.abs(kernel).max(axis=axes))
        usable = (activation > 0) & (weight > 0)
        scale = np.ones(channels)
        scale[usable] = activation[usable] ** strength / weight[usable] ** (1 - strength)
        scale[usable] /= np.exp(np.log(scale[usable]).mean())  # keep the overall size
        layer.kernel.assign(keras.ops.convert_to_numpy(layer.kernel) / scale)
        if layer.use_bias:
            layer.bias.assign(keras.ops.convert_to_numpy(layer.bias) / scale)
        for reader, start in readers:
            kernel = keras.ops.convert_to_numpy(reader.kernel).copy()
            kernel[..., start : start + channels, :] *= scale[:, None]
            reader.kernel.assign(kernel)
    return copy, [layer.name for layer, _ in plans]
