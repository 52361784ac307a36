"""Tile-mode prediction with a Keras model: one image -> tiles -> one prediction, and
a whole-image Grad-CAM stitched from the tiles.

Example:
    >>> result = predict_tiled(model, "slide.png", TileSpec(size=224))  # doctest: +SKIP
    >>> result.probabilities, len(result.corners)                      # doctest: +SKIP
    (array([0.12, 0.88]), 6)
    >>> heat = tiled_grad_cam(model, result)                           # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import keras
import numpy as np

from bcnet_tf.data.decode import decode_rgb
from bcnet_tf.explain.gradcam import grad_cam
from bcnet_tf.models.predict import predict_pixels
from bcnet_tf.pathology.prepare import prepare_tiles
from bcnet_tf.pathology.stain import StainNormalizer
from bcnet_tf.pathology.tiles import TileSpec, aggregate, extract_tiles, stitch


@dataclass
class TiledPrediction:
    """One image in tile mode.

    Attributes:
        probabilities: the image's class probabilities (aggregated over its tiles).
        tile_probabilities: ``(tiles, classes)``.
        corners: ``(tiles, 2)`` top-left corners in ``image``.
        image: the prepared image (scaled, stain-normalised, padded) the tiles come from.
        height, width: the scaled image's size before padding.
        tiles: the tile spec used.
    """

    probabilities: np.ndarray
    tile_probabilities: np.ndarray
    corners: np.ndarray
    image: np.ndarray
    height: int
    width: int
    tiles: TileSpec

    @property
    def tile_pixels(self) -> np.ndarray:
        return extract_tiles(self.image, self.corners, self.tiles.size)


def predict_tiled(
    model: keras.Model,
    path: str | os.PathLike[str],
    tiles: TileSpec,
    stain: StainNormalizer | None = None,
    *,
    tta: bool = False,
    batch_size: int = 32,
) -> TiledPrediction:
    """Classify one image by its tissue tiles (mean probability or majority vote, as
    ``tiles.aggregate`` says)."""
    image, corners, (height, width) = prepare_tiles(decode_rgb(os.fspath(path)), tiles, stain)
    pixels = extract_tiles(image, corners, tiles.size)
    tile_probabilities = np.concatenate(
        [
            predict_pixels(model, pixels[i : i + batch_size], tta)
            for i in range(0, len(pixels), batch_size)
        ]
    )
    return TiledPrediction(
        aggregate(tile_probabilities, tiles.aggregate, tiles.top_k),
        tile_probabilities,
        corners,
        image,
        height,
        width,
        tiles,
    )


def tiled_grad_cam(
    model: keras.Model, prediction: TiledPrediction, class_index: int | None = None
) -> np.ndarray:
    """A Grad-CAM map over the whole (scaled) image, in [0, 1]: each tile's map for the
    image's class (default: the predicted one), on one shared scale, stitched; zero
    where no tissue tile was cut."""
    target = int(np.argmax(prediction.probabilities)) if class_index is None else class_index
    heat, _ = grad_cam(model, prediction.tile_pixels, target, shared_scale=True)
    whole = stitch(heat, prediction.corners, prediction.image.shape[:2], prediction.tiles.size)
    return whole[: prediction.height, : prediction.width]
