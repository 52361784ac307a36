"""Run a TFLite model with LiteRT (``ai-edge-litert``): numpy in, probabilities (and
the pooled features a bundle's guard scores) out.

This module and the rest of :mod:`bcnet_tf.edge` never import TensorFlow, so a
point-of-care device needs only ``pip install bcnet_tf[edge]`` (LiteRT, numpy, Pillow).
``tflite-runtime`` is not used: it is abandoned (no numpy 2, no recent op versions).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

#: Output names of a bundle's TFLite files (older files have one unnamed output).
PROBABILITIES, FEATURES = "probabilities", "features"


class TFLiteModel:
    """A ``.tflite`` classifier: float32 or quantised (int8/uint8) input and outputs,
    every output dequantised.

    Args:
        path: the ``.tflite`` file.
        threads: CPU threads for the interpreter (XNNPACK).

    Example:
        >>> model = TFLiteModel("bundle/model_int8.tflite")  # doctest: +SKIP
        >>> model.predict(pixels).shape                      # doctest: +SKIP
        (8, 3)
    """

    def __init__(self, path: str | os.PathLike[str], threads: int = 2) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        self._interpreter = Interpreter(model_path=str(self.path), num_threads=threads)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        signed = self._interpreter.get_signature_list()
        outputs = self._interpreter.get_signature_runner().get_output_details() if signed else {}
        if PROBABILITIES not in outputs:  # one output: the probabilities
            outputs = {PROBABILITIES: self._interpreter.get_output_details()[0]}
        self._outputs = outputs
        self._batch = int(self._input["shape"][0])

    @property
    def input_dtype(self) -> np.dtype:
        return np.dtype(self._input["dtype"])

    @property
    def has_features(self) -> bool:
        """True when the file also outputs the pooled features (bundles with a guard)."""
        return FEATURES in self._outputs

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """Class probabilities for a ``(n, h, w, 3)`` batch of raw RGB pixels (0..255)."""
        return self.run(pixels)[PROBABILITIES]

    def run(self, pixels: np.ndarray) -> dict[str, np.ndarray]:
        """Every output for a batch of raw RGB pixels, by name (:data:`PROBABILITIES`,
        and :data:`FEATURES` when the file has them), as float32."""
        if len(pixels) != self._batch:
            self._interpreter.resize_tensor_input(
                self._input["index"], [len(pixels), *pixels.shape[1:]]
            )
            self._interpreter.allocate_tensors()
            self._batch = len(pixels)
        self._interpreter.set_tensor(self._input["index"], self._quantise(pixels))
        self._interpreter.invoke()
        return {name: self._dequantise(details) for name, details in self._outputs.items()}

    def _dequantise(self, details: dict) -> np.ndarray:
        output = self._interpreter.get_tensor(details["index"])
        if output.dtype == np.float32:
            return output.copy()
        scale, zero_point = details["quantization"]
        return (output.astype(np.float32) - zero_point) * scale

    def _quantise(self, pixels: np.ndarray) -> np.ndarray:
        dtype = self.input_dtype
        if dtype == np.float32:
            return pixels.astype(np.float32)
        scale, zero_point = self._input["quantization"]
        limits = np.iinfo(dtype)
        values = np.round(pixels.astype(np.float32) / scale + zero_point)
        return np.clip(values, limits.min, limits.max).astype(dtype)
