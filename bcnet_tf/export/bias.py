"""Bias correction before int8 conversion: each channel's mean quantisation error removed.

Rounding weights to int8 shifts the mean of a layer's outputs (its inputs, ReLU
outputs, are mostly positive, so weight errors do not average out), and pooling adds
every position's shift of a channel together instead of averaging it away. Bias
correction (Nagel et al. 2019, "Data-free quantization through weight equalization and
bias correction"; Finkelstein et al. 2019, "Fighting quantization bias with bias")
measures, on calibration images, the mean per output channel of (int8 pre-activation -
float pre-activation) and subtracts it from the layer's float bias, so the int8 file's
outputs keep the float means.

The int8 path is simulated in Keras as the TFLite converter quantises: weights per
output channel, symmetric (``[-127, 127]``); every layer output per tensor, asymmetric
(``[0, 255]`` levels over its calibration min/max). Layers are corrected in order of
depth (the most corrected layers on a path from the input), each measured after the
layers before it were corrected, so its correction sees the inputs theirs produce;
correcting every layer from one measurement would count each upstream error again in
every layer below it. Only convolutions and dense layers with a bias are corrected; the
copy's float function differs from the model's by design and is meant for the int8
conversion only.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from bcnet_tf.export.equalize import is_weighted
from bcnet_tf.models.factory import copy_model

Ranges = dict[str, tuple[float, float]]

#: int8 levels of a weight (symmetric) and of an activation (asymmetric).
_WEIGHT_LEVELS = 127
_ACTIVATION_LEVELS = 255


def _corrected(layer: keras.Operation) -> bool:
    """A convolution or dense layer with a bias."""
    return is_weighted(layer) and layer.use_bias


def quantized_kernel(kernel: np.ndarray) -> np.ndarray:
    """``kernel`` rounded to int8 per output channel (last axis), as TFLite stores it.

    Example:
        >>> quantized_kernel(np.array([[1.0, 0.5], [0.3, -0.2]])).round(4).tolist()
        [[1.0, 0.5], [0.2992, -0.2008]]
    """
    scale = np.abs(kernel).max(axis=tuple(range(kernel.ndim - 1))) / _WEIGHT_LEVELS
    scale = np.where(scale > 0, scale, 1.0)
    return np.clip(np.round(kernel / scale), -_WEIGHT_LEVELS, _WEIGHT_LEVELS) * scale


def _fake_quant(tensor: keras.KerasTensor, low: float, high: float) -> keras.KerasTensor:
    """``tensor`` rounded to the 256 levels of a per-tensor int8 range covering
    ``[low, high]`` and 0."""
    low, high = min(low, 0.0), max(high, 0.0)
    if high <= low:
        return tensor
    scale = (high - low) / _ACTIVATION_LEVELS
    zero = round(-low / scale)
    levels = keras.ops.clip(keras.ops.round(tensor / scale) + zero, 0, _ACTIVATION_LEVELS)
    return (levels - zero) * scale


def _traced(
    model: keras.Model, ranges: Ranges | None
) -> tuple[keras.Model, dict[str, keras.layers.Layer]]:
    """A copy of ``model`` whose outputs are each corrected layer's pre-activation
    averaged over positions (``(batch, channels)``), with every layer output
    fake-quantised over ``ranges`` when given; and the copy's corrected layers by name."""
    pre_activations: dict[str, keras.KerasTensor] = {}
    layers: dict[str, keras.layers.Layer] = {}
    activations: dict[str, Callable[[keras.KerasTensor], keras.KerasTensor]] = {}

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        if not _corrected(layer):
            return layer.__class__.from_config(layer.get_config())
        copy = layer.__class__.from_config({**layer.get_config(), "activation": "linear"})
        layers[layer.name], activations[layer.name] = copy, layer.activation
        return copy

    def call(layer: keras.layers.Layer, *args: object, **kwargs: object) -> keras.KerasTensor:
        output = layer(*args, **kwargs)
        if layer.name in layers:
            pre_activations[layer.name] = (
                keras.ops.mean(output, axis=tuple(range(1, output.ndim - 1)))
                if output.ndim > 2
                else output
            )
            output = activations[layer.name](output)
        if ranges is not None and layer.name in ranges:
            output = _fake_quant(output, *ranges[layer.name])
        return output

    copy = keras.models.clone_model(model, clone_function=clone, call_function=call)
    copy.set_weights(model.get_weights())
    if ranges is not None:
        for layer in layers.values():
            kernel = keras.ops.convert_to_numpy(layer.kernel)
            layer.kernel.assign(quantized_kernel(kernel))
    return keras.Model(copy.inputs, pre_activations), layers


def _ranges(model: keras.Model, images: np.ndarray, batch: int) -> Ranges:
    """Each layer's output min and max over ``images``."""
    outputs = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        output = layer.output
        axes = tuple(range(1, output.ndim))
        outputs[layer.name] = (keras.ops.min(output, axis=axes), keras.ops.max(output, axis=axes))
    return _over_images(keras.Model(model.input, outputs), images, batch, reduce=_extremes)


def _extremes(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float]:
    """The least of the minima and the largest of the maxima of ``(min, max)`` parts."""
    lows, highs = zip(*parts, strict=True)
    return float(np.min(np.concatenate(lows))), float(np.max(np.concatenate(highs)))


def _over_images(
    probe: keras.Model,
    images: np.ndarray,
    batch: int,
    reduce: Callable[[list], object] | None = None,
) -> dict[str, object]:
    """``probe``'s outputs on ``images`` in batches, each output's parts reduced by
    ``reduce`` (default: the mean over images)."""
    parts: dict[str, list] = {}
    for start in range(0, len(images), batch):
        outputs = probe.predict_on_batch(images[start : start + batch].astype("float32"))
        for name, value in outputs.items():
            parts.setdefault(name, []).append(keras.tree.map_structure(np.asarray, value))
    if reduce is None:
        return {name: np.concatenate(values).mean(axis=0) for name, values in parts.items()}
    return {name: reduce(values) for name, values in parts.items()}


def _depths(model: keras.Model) -> dict[str, int]:
    """Each operation's name -> the most corrected layers on a path from the input to
    it, itself included."""
    depth: dict[str, int] = {}
    for operation in model.operations:
        inputs = [
            tensor._keras_history.operation.name
            for node in operation._inbound_nodes
            for tensor in node.input_tensors
        ]
        depth[operation.name] = max((depth[name] for name in inputs), default=0) + int(
            _corrected(operation)
        )
    return depth


def correct_biases(
    model: keras.Model, images: np.ndarray, batch: int = 16
) -> tuple[keras.Model, list[str]]:
    """A copy of ``model`` whose conv/dense biases absorb the mean int8 quantisation
    error of each output channel on ``images``, and the names of the corrected layers
    (``model`` itself and ``[]`` when no layer has a bias).

    Args:
        model: a functional Keras model (float32).
        images: calibration images as the model takes them.
        batch: images per forward pass.

    Example:
        >>> inputs = keras.Input((8, 8, 3))
        >>> hidden = keras.layers.Conv2D(4, 1, activation="relu", name="a")(inputs)
        >>> model = keras.Model(inputs, keras.layers.Conv2D(2, 1, name="b")(hidden))
        >>> images = np.random.default_rng(0).uniform(0, 1, (4, 8, 8, 3)).astype("float32")
        >>> corrected, names = correct_biases(model, images)
        >>> names
        ['a', 'b']
    """
    names = [layer.name for layer in model.layers if _corrected(layer)]
    if not names:
        return model, []
    images = np.asarray(images, np.float32)
    reference, _ = _traced(model, None)
    target = _over_images(reference, images, batch)
    simulated, layers = _traced(model, _ranges(model, images, batch))
    depth = _depths(model)
    for level in range(1, max(depth.values()) + 1):
        means = _over_images(simulated, images, batch)
        for name, layer in layers.items():
            if depth[name] == level:
                bias = keras.ops.convert_to_numpy(layer.bias)
                layer.bias.assign(bias - (means[name] - target[name]))
    copy = copy_model(model)
    for name, layer in layers.items():
        copy.get_layer(name).bias.assign(keras.ops.convert_to_numpy(layer.bias))
    return copy, names
