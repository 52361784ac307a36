"""Heat-map overlays as RGB images and PNG files."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from PIL import Image

from bcnet_tf.io import atomic_write_bytes


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Blend a [0, 1] heat map (jet colour map) over a ``uint8`` RGB image.

    Example:
        >>> overlay(np.zeros((4, 4, 3), np.uint8), np.ones((4, 4))).shape
        (4, 4, 3)
    """
    colours = colormaps["jet"](np.clip(heat, 0, 1))[..., :3] * 255
    weight = alpha * np.clip(heat, 0.15, 1)[..., None]  # cold regions keep the image
    blended = (1 - weight) * image.astype(np.float64) + weight * colours
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def save_png(image: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Write a ``uint8`` RGB array as PNG, atomically."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return atomic_write_bytes(path, buffer.getvalue())
