"""Whole-slide mode in ``tf.data``: tissue tiles drawn from each slide, read on demand.

Per epoch, each slide gives ``tiles.per_image`` of its tissue tiles
(:func:`~bcnet_tf.pathology.slide_index.slide_tiles`), drawn with replacement and
moved by up to half a grid step; the draws are seeded by ``(seed, epoch)`` alone, so a
resumed run reads the same tiles. Only coordinates are held in memory; the parallel map
reads each tile from its slide (:func:`~bcnet_tf.pathology.slides.read_tile`) and
stain-normalises it, so memory does not grow with the slides' size.

Example:
    >>> ds = slide_tile_batches(split.train, label_ids, TileSpec(size=224, mpp=0.5),
    ...                         batch_size=32, epochs=range(0, 10), seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce

import numpy as np
import tensorflow as tf

from bcnet_tf.data.records import ImageRecord
from bcnet_tf.pathology.slide_index import SlideTiles, slide_tiles
from bcnet_tf.pathology.slides import read_tile
from bcnet_tf.pathology.stain import StainNormalizer
from bcnet_tf.pathology.tiles import TileSpec


def index_slides(records: Sequence[ImageRecord], tiles: TileSpec) -> list[SlideTiles]:
    """Every record's tissue tiles (computed once per slide, then cached)."""
    return [slide_tiles(record.path, tiles) for record in records]


def draw_tiles(
    found: Sequence[SlideTiles], count: int, rng: np.random.Generator, jitter: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` tiles of each slide: ``(slide indices, level-0 corners)``, shuffled.
    With ``jitter``, each corner moves by up to half a tile (kept on the slide)."""
    owners, corners = [], []
    for i, slide in enumerate(found):
        chosen = slide.corners[rng.integers(0, len(slide.corners), count)]
        if jitter:
            half = slide.side // 2
            chosen = chosen + rng.integers(-half, half + 1, chosen.shape)
            limit = np.maximum(0, [slide.slide.height - slide.side, slide.slide.width - slide.side])
            chosen = np.clip(chosen, 0, limit)
        owners.append(np.full(count, i))
        corners.append(chosen)
    order = rng.permutation(len(found) * count)
    return np.concatenate(owners)[order], np.concatenate(corners)[order]


def tile_reader(found: Sequence[SlideTiles], tiles: TileSpec, stain: StainNormalizer | None):
    """A numpy function ``(slide index, row, column) -> uint8 tile``, each read at
    its slide's tile resolution (:attr:`SlideTiles.mpp`)."""

    def read(owner: np.ndarray, row: np.ndarray, column: np.ndarray) -> np.ndarray:
        slide = found[int(owner)]
        tile = read_tile(slide.slide, int(column), int(row), tiles.size, slide.mpp)
        return stain(tile) if stain is not None else tile

    return read


def sample_tiles(
    records: Sequence[ImageRecord], tiles: TileSpec, per_slide: int, seed: int
) -> list[np.ndarray]:
    """``per_slide`` grid tissue tiles of each slide, e.g. to fit a stain normaliser.

    Example:
        >>> references = sample_tiles(split.train[:16], spec, 4, seed=0)  # doctest: +SKIP
    """
    found = index_slides(records, tiles)
    owners, corners = draw_tiles(found, per_slide, np.random.default_rng(seed), jitter=False)
    read = tile_reader(found, tiles, None)
    return [read(o, y, x) for o, (y, x) in zip(owners, corners, strict=True)]


def slide_tile_batches(
    records: Sequence[ImageRecord],
    label_ids: np.ndarray,
    tiles: TileSpec,
    *,
    batch_size: int,
    epochs: range,
    seed: int,
    stain: StainNormalizer | None = None,
    jitter: bool = True,
) -> tf.data.Dataset:
    """Batches of ``(uint8 tiles, label ids)`` for ``epochs``: each epoch
    ``tiles.per_image`` tiles per slide, drawn as the module says (``jitter`` off:
    grid tiles only, e.g. for validation)."""
    found = index_slides(records, tiles)
    read = tile_reader(found, tiles, stain)
    size = tiles.size

    def load(owner: tf.Tensor, row: tf.Tensor, column: tf.Tensor, label: tf.Tensor):
        pixels = tf.numpy_function(read, [owner, row, column], tf.uint8, stateful=False)
        return tf.ensure_shape(pixels, [size, size, 3]), label

    def epoch(e: int) -> tf.data.Dataset:
        owners, corners = draw_tiles(
            found, tiles.per_image, np.random.default_rng([seed, e]), jitter
        )
        coordinates = (owners, corners[:, 0], corners[:, 1], label_ids[owners])
        ds = tf.data.Dataset.from_tensor_slices(coordinates)
        load_tile = tf.autograph.experimental.do_not_convert(load)
        return ds.map(load_tile, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size)

    return reduce(tf.data.Dataset.concatenate, [epoch(e) for e in epochs])
