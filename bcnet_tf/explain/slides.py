"""Slide-level prediction and heat maps: every tissue tile of a slide classified, the
tiles' probabilities aggregated (mean, top-k mean or an attention-MIL head), and a
map of tile probabilities (or attention weights) over the slide's thumbnail.

Tiles are read and classified a batch at a time, so memory does not grow with the
slide's size.

Example:
    >>> result = predict_slide(model, "slide.svs", TileSpec(size=224, mpp=0.5))  # doctest: +SKIP
    >>> result.probabilities, len(result.tiles.corners)                         # doctest: +SKIP
    (array([0.31, 0.69]), 5120)
    >>> picture = slide_heat_map(result, result.tile_probabilities[:, 1])       # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from bcnet_tf.data.slides import tile_reader
from bcnet_tf.errors import BcnetError
from bcnet_tf.explain.overlay import overlay
from bcnet_tf.models.factory import FEATURE_LAYER
from bcnet_tf.models.predict import predict_pixels
from bcnet_tf.models.saving import load_model
from bcnet_tf.pathology.slide_index import SlideTiles, slide_tiles
from bcnet_tf.pathology.slides import read_level
from bcnet_tf.pathology.stain import StainNormalizer
from bcnet_tf.pathology.tiles import TileSpec, aggregate
from bcnet_tf.training.mil import mil_predict
from bcnet_tf.training.run_dir import MIL_FILE

#: Longest side of a heat map's thumbnail, in pixels.
THUMBNAIL_SIDE = 512


@dataclass
class SlidePrediction:
    """One slide, classified from its tissue tiles.

    Attributes:
        probabilities: the slide's class probabilities.
        tile_probabilities: ``(tiles, classes)``, in the order of ``tiles.corners``.
        tiles: the slide's tissue tiles (level-0 corners, side, geometry).
        attention: each tile's attention weight (attention-MIL head), else ``None``.
    """

    probabilities: np.ndarray
    tile_probabilities: np.ndarray
    tiles: SlideTiles
    attention: np.ndarray | None = None


def predict_slide(
    model: keras.Model,
    path: str | os.PathLike[str],
    tiles: TileSpec,
    stain: StainNormalizer | None = None,
    *,
    mil: keras.Model | None = None,
    tta: bool = False,
    batch_size: int = 32,
) -> SlidePrediction:
    """Classify every tissue tile of one slide and aggregate them as
    ``tiles.aggregate`` says; ``"attention"`` needs the run's attention-MIL head
    ``mil`` (:mod:`bcnet_tf.training.mil`), fed the tiles' pooled features."""
    found = slide_tiles(path, tiles)
    read = tile_reader([found], tiles, stain)
    features = None
    if mil is not None:
        features = keras.Model(model.input, [model.get_layer(FEATURE_LAYER).output, model.output])
    probabilities, pooled = [], []
    for start in range(0, len(found.corners), batch_size):
        pixels = np.stack([read(0, y, x) for y, x in found.corners[start : start + batch_size]])
        if features is None:
            probabilities.append(predict_pixels(model, pixels, tta))
        else:
            tile_features, tile_probabilities = features.predict_on_batch(pixels.astype("float32"))
            pooled.append(np.asarray(tile_features, np.float32))
            probabilities.append(np.asarray(tile_probabilities, np.float64))
    tile_probabilities = np.concatenate(probabilities)
    if mil is not None:
        slide, attention = mil_predict(mil, np.concatenate(pooled))
        return SlidePrediction(slide, tile_probabilities, found, attention)
    if tiles.aggregate == "attention":
        raise ValueError("attention aggregation needs the run's attention-MIL head (mil=...)")
    slide = aggregate(tile_probabilities, tiles.aggregate, tiles.top_k)
    return SlidePrediction(slide, tile_probabilities, found)


def slide_thumbnail(found: SlideTiles, side: int = THUMBNAIL_SIDE) -> tuple[np.ndarray, float]:
    """The slide shrunk so its longer side is at most about ``side`` pixels (read from
    the coarsest level that is fine enough), and level-0 pixels per thumbnail pixel."""
    slide = found.slide
    wanted = max(slide.width, slide.height) / side
    level = slide.level_for(wanted)
    factor = max(1, int(wanted / slide.level_downsamples[level]))
    return read_level(slide, level, factor), factor * slide.level_downsamples[level]


def slide_heat_map(prediction: SlidePrediction, values: np.ndarray) -> np.ndarray:
    """The slide's thumbnail with one value per tile (in [0, 1], e.g. a class's tile
    probabilities, or attention weights scaled to their maximum) painted over each
    tile's area; overlaps averaged, glass left as it is."""
    found = prediction.tiles
    thumbnail, scale = slide_thumbnail(found)
    total = np.zeros(thumbnail.shape[:2])
    count = np.zeros(thumbnail.shape[:2])
    side = max(1, round(found.side / scale))
    for (row, column), value in zip(found.corners / scale, values, strict=True):
        top, left = round(row), round(column)
        total[top : top + side, left : left + side] += value
        count[top : top + side, left : left + side] += 1
    heat = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    return np.where(count[..., None] > 0, overlay(thumbnail, heat, alpha=0.6), thumbnail)


def slide_maps(prediction: SlidePrediction, target: int | None = None) -> list[np.ndarray]:
    """Heat maps over the slide's thumbnail: the tiles' probability of class ``target``
    (default: the slide's predicted class), then, when the slide has them, the
    attention weights scaled to their maximum."""
    if target is None:
        target = int(np.argmax(prediction.probabilities))
    maps = [slide_heat_map(prediction, prediction.tile_probabilities[:, target])]
    if prediction.attention is not None:
        maps.append(slide_heat_map(prediction, prediction.attention / prediction.attention.max()))
    return maps


def attention_head(
    model_path: str | os.PathLike[str], tiles: TileSpec, trust: bool = False
) -> keras.Model | None:
    """The attention-MIL head beside ``model_path`` when the model aggregates by
    attention (:mod:`bcnet_tf.training.mil`), else ``None``.

    Raises:
        BcnetError: the model aggregates by attention but its head is missing.
    """
    if tiles.aggregate != "attention":
        return None
    path = Path(model_path).parent / MIL_FILE
    if not path.is_file():
        raise BcnetError(
            f"{model_path} aggregates slides by attention, but its attention-MIL head "
            f"{path} is missing. Fix: run the training command again to finish the run."
        )
    return load_model(path, trust=trust)[0]
