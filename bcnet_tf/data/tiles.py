"""Tile mode, one image at a time: the tile source inside the ``tf.data`` graph
(prepared image and tissue-tile corners), random and grid crops, and every tile of
image files in numpy.

Preparing an image (scale, stain normalisation, padding, tissue grid) is
:func:`bcnet_tf.pathology.prepare.prepare_tiles`; this module runs it in the graph and
cuts the tiles.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from bcnet_tf.data.decode import decode_rgb
from bcnet_tf.data.images import decode_image
from bcnet_tf.pathology.prepare import prepare_tiles
from bcnet_tf.pathology.stain import StainNormalizer
from bcnet_tf.pathology.tiles import TileSpec, extract_tiles


def load_tile_source(
    path: tf.Tensor,
    tf_native: tf.Tensor,
    tiles: TileSpec,
    stain: StainNormalizer | None = None,
    frame: tf.Tensor | int = -1,
) -> tuple[tf.Tensor, tf.Tensor]:
    """One image prepared for tiling inside the graph: decoded, then
    :func:`bcnet_tf.pathology.prepare.prepare_tiles` (scaled by ``tiles.scale``,
    stain-normalised, padded to at least one tile) and its tissue tiles' ``(n, 2)``
    top-left corners."""
    padded, corners = tf.numpy_function(
        lambda pixels: prepare_tiles(pixels, tiles, stain)[:2],
        [decode_image(path, tf_native, frame)],
        (tf.uint8, tf.int32),
        stateful=False,
    )
    padded.set_shape([None, None, 3])
    corners.set_shape([None, 2])
    return padded, corners


def crop_tiles(image: tf.Tensor, corners: tf.Tensor, size: int) -> tf.Tensor:
    """The ``size`` x ``size`` tiles of ``image`` at ``(n, 2)`` top-left ``corners``."""
    return tf.map_fn(
        lambda corner: tf.slice(image, [corner[0], corner[1], 0], [size, size, 3]),
        corners,
        fn_output_signature=tf.TensorSpec([size, size, 3], tf.uint8),
    )


def random_tiles(
    image: tf.Tensor, corners: tf.Tensor, tiles: TileSpec, seed: tf.Tensor
) -> tf.Tensor:
    """``tiles.per_image`` random tissue tiles of one prepared image: grid corners drawn
    with replacement, each moved by up to half a grid step (clipped to the image), so
    every epoch sees other crops. ``seed`` is a stateless ``[2]`` seed."""
    seeds = tf.random.split(tf.cast(seed, tf.int64), 2)
    count, step = tiles.per_image, tiles.step
    chosen = tf.random.stateless_uniform([count], seeds[0], 0, tf.shape(corners)[0], dtype=tf.int32)
    jitter = tf.random.stateless_uniform(
        [count, 2], seeds[1], -(step // 2), step // 2 + 1, dtype=tf.int32
    )
    limit = tf.shape(image)[:2] - tiles.size
    moved = tf.clip_by_value(tf.gather(corners, chosen) + jitter, 0, limit)
    return crop_tiles(image, moved, tiles.size)


def load_tiles(
    paths: Sequence[str | os.PathLike[str]], tiles: TileSpec, stain: StainNormalizer | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Every tissue tile of each file, cut as the tile pipeline cuts them: ``uint8``
    ``(tiles, size, size, 3)``, and for each tile the index of its file in ``paths``.

    Example:
        >>> pixels, owners = load_tiles(["slide.png"], TileSpec(size=224))  # doctest: +SKIP
    """
    pixels, owners = [], []
    for i, path in enumerate(paths):
        image, corners, _ = prepare_tiles(decode_rgb(os.fspath(path)), tiles, stain)
        pixels.append(extract_tiles(image, corners, tiles.size))
        owners.append(np.full(len(corners), i))
    return np.concatenate(pixels), np.concatenate(owners)
