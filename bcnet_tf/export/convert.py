"""Keras model -> lean SavedModel -> TFLite (float32, float16, dynamic range, int8).

Route: a SavedModel written by ``keras.export.ExportArchive`` *without*
``archive.track(model)``, then ``tf.lite.TFLiteConverter.from_saved_model``.
``model.export`` (which tracks the model) stores every weight twice
(keras-team/keras#23553), and ``from_keras_model`` breaks on some
Keras 3 models.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from bcnet_tf.models.factory import with_features

QUANTIZATIONS = ("none", "float16", "dynamic", "int8")


def _float32_policies(config: Any) -> Any:
    """``config`` with every mixed-precision dtype policy replaced by float32."""
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy":
            return {**config, "config": {**config["config"], "name": "float32"}}
        return {key: _float32_policies(value) for key, value in config.items()}
    if isinstance(config, list):
        return [_float32_policies(item) for item in config]
    return config


def float32_model(model: keras.Model) -> keras.Model:
    """The same model computing in float32 (same weights, same names): ``model`` itself
    when it already does.

    A model trained under ``mixed_bfloat16`` has bfloat16 ops that TFLite cannot
    convert and edge CPUs seldom run fast; deployment uses this copy.

    Example:
        >>> float32_model(model).layers[2].dtype_policy.name  # doctest: +SKIP
        'float32'
    """
    config = model.get_config()
    float32_config = _float32_policies(config)
    if float32_config == config:
        return model
    copy = keras.Model.from_config(float32_config)
    copy.set_weights(model.get_weights())
    return copy


def write_saved_model(model: keras.Model, directory: str | os.PathLike[str]) -> Path:
    """Write ``model`` as a SavedModel with one ``serve`` endpoint (also
    ``serving_default``) taking ``(batch, h, w, 3)`` float32 raw pixels and returning
    ``{"probabilities": ...}``, plus the pooled backbone ``"features"`` the input guard
    scores when the model has them; TFLite files converted from it keep both outputs.

    Example:
        >>> write_saved_model(model, "bundle/saved_model")  # doctest: +SKIP
    """
    dual = with_features(model)
    archive = keras.export.ExportArchive()
    archive.add_endpoint(
        "serve",
        lambda images: (
            dual(images, training=False)
            if dual is not None
            else {"probabilities": model(images, training=False)}
        ),
        input_signature=[keras.InputSpec(shape=(None, *model.input_shape[1:]), dtype="float32")],
    )
    archive.write_out(os.fspath(directory), verbose=False)
    return Path(directory)


def tflite_model(
    saved_model: str | os.PathLike[str],
    quantize: str = "none",
    calibration: np.ndarray | None = None,
    int8_io: bool = False,
) -> bytes:
    """Convert a SavedModel to a TFLite flatbuffer.

    Args:
        saved_model: folder from :func:`write_saved_model`.
        quantize: ``none`` (float32), ``float16`` (weights), ``dynamic`` (int8
            weights, float activations) or ``int8`` (full integer, every op).
        calibration: raw-pixel images for ``int8``'s activation ranges (100+ training
            images).
        int8_io: with ``int8``, take ``uint8`` pixels and return ``uint8``
            probabilities (scale 1/256) instead of float32.

    Example:
        >>> blob = tflite_model("saved_model", "int8", calibration=pixels)  # doctest: +SKIP
    """
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS}, not {quantize!r}")
    converter = tf.lite.TFLiteConverter.from_saved_model(os.fspath(saved_model))
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        if calibration is None or not len(calibration):
            raise ValueError("int8 quantisation needs calibration images")
        images = np.asarray(calibration, np.float32)

        def representative() -> Iterator[list[np.ndarray]]:
            for image in images:
                yield [image[None]]

        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io:
            converter.inference_input_type = tf.uint8
            converter.inference_output_type = tf.uint8
    return converter.convert()
