"""Preparing one decoded image for a model, in numpy: the pipeline's resize, and a
high-resolution image's tile source (scaled, stain-normalised, padded, tissue tiles).

One implementation for every caller: the tile training pipeline runs it through
``tf.numpy_function``, evaluation and explanation call it on decoded files, and the
edge predictor calls it without TensorFlow, so all of them cut the same tiles.

Example:
    >>> image = np.full((460, 700, 3), 180, np.uint8)
    >>> padded, corners, size = prepare_tiles(image, TileSpec(size=224, scale=0.5))
    >>> size, corners.shape
    ((230, 350), (4, 2))
"""

from __future__ import annotations

import numpy as np

from bcnet_tf.pathology.stain import StainNormalizer
from bcnet_tf.pathology.tiles import TileSpec, tile_layout


def _area(pixels: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Shrink ``pixels`` to ``size`` along ``axis`` by area averaging: each output pixel
    is the mean of the input span it covers, partly covered pixels weighted by their
    overlap (every span covers at least one pixel)."""
    pixels = np.moveaxis(pixels, axis, 0)
    length = pixels.shape[0]
    edges = np.arange(size + 1) * length / size  # exact at both ends
    whole = np.floor(edges).astype(int)
    fraction = (edges - whole).reshape(-1, *[1] * (pixels.ndim - 1))
    sums = np.add.reduceat(pixels, whole[:-1], axis=0, dtype=np.float32)
    partial = pixels[np.minimum(whole, length - 1)] * fraction
    return np.moveaxis((sums + partial[1:] - partial[:-1]) * (size / length), 0, axis)


def _bilinear(pixels: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Interpolate ``pixels`` linearly to ``size`` along ``axis`` at half-pixel
    centres, edges clamped."""
    pixels = np.moveaxis(pixels, axis, 0)
    length = pixels.shape[0]
    centres = (np.arange(size) + 0.5) * (length / size) - 0.5
    low = np.floor(centres)
    weight = (centres - low).reshape(-1, *[1] * (pixels.ndim - 1))
    lower = pixels[np.clip(low, 0, length - 1).astype(int)].astype(np.float64)
    upper = pixels[np.clip(low + 1, 0, length - 1).astype(int)].astype(np.float64)
    return np.moveaxis(lower + (upper - lower) * weight, 0, axis)


def resize_rgb(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a ``uint8`` RGB array to ``(height, width)`` as the training pipeline's
    :func:`bcnet_tf.data.images.resize_image` does, in numpy: area averaging when
    neither side grows, else bilinear (``tf.image.resize``'s ``area`` and
    ``bilinear``), then rounding.

    Example:
        >>> resize_rgb(np.zeros((460, 700, 3), np.uint8), (224, 224)).shape
        (224, 224, 3)
    """
    height, width = size
    shrinking = image.shape[0] >= height and image.shape[1] >= width
    resize = _area if shrinking else _bilinear
    resized = resize(resize(image, height, axis=0), width, axis=1)
    return np.clip(np.round(resized), 0, 255).astype(np.uint8)


def prepare_tiles(
    image: np.ndarray, tiles: TileSpec, stain: StainNormalizer | None = None
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """One decoded RGB ``uint8`` image prepared for tiling: scaled by ``tiles.scale``
    (:func:`resize_rgb`), stain-normalised, padded to at least one tile; its tissue
    tiles' ``(n, 2)`` ``int32`` top-left corners
    (:func:`~bcnet_tf.pathology.tiles.tile_layout`); and its size before padding.

    Example:
        >>> padded, corners, (height, width) = prepare_tiles(image, spec)  # doctest: +SKIP
        >>> extract_tiles(padded, corners, spec.size)                     # doctest: +SKIP
    """
    if tiles.scale != 1.0:
        image = resize_rgb(image, tiles.scaled_size(*image.shape[:2]))
    if stain is not None:
        image = stain(image)
    padded, corners = tile_layout(image, tiles)
    return padded, corners, image.shape[:2]
