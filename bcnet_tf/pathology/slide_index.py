"""A slide's tissue tiles: a tissue mask from a low-resolution level picks the grid.

The mask uses tile mode's optical-density rule (:func:`~bcnet_tf.pathology.tiles.tissue_mask`)
on a level about ``MASK_CELLS`` pixels per tile side, then removes

* **pen marks**: saturated green-to-blue hues (H&E stains are pink to purple) and
  near-black ink, grown by one mask pixel to take their blurred rims;
* **specks**: connected tissue smaller than ``SPECK_FRACTION`` of a tile (dust, debris).

Each grid tile at the target resolution keeps its share of mask tissue; tiles with at
least ``TileSpec.min_tissue`` form the slide's :class:`SlideTiles`, which is computed
once and cached under the user cache (``bcnet_tf.io.cache_dir("slides")``), keyed by the
file's path, size and modification time and the tile settings; never beside the slide.

Example:
    >>> found = slide_tiles("slide.svs", TileSpec(size=224, mpp=0.5))  # doctest: +SKIP
    >>> found.corners[:2], found.fractions[:2]                         # doctest: +SKIP
    (array([[    0, 4480], [    0, 4928]]), array([0.71, 0.98]))
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from bcnet_tf.errors import SlideError
from bcnet_tf.io import atomic_write_bytes, cache_dir
from bcnet_tf.pathology.slides import SlideInfo, read_level, slide_info
from bcnet_tf.pathology.tiles import TileSpec, tissue_mask

#: Mask pixels per tile side.
MASK_CELLS = 16
#: Pen ink: HSV saturation at least this, hue in this range (degrees), or every channel
#: below ``PEN_DARK`` (black ink).
PEN_SATURATION = 0.25
PEN_HUES = (60.0, 250.0)
PEN_DARK = 50
#: Connected tissue smaller than this share of a tile's area is a speck.
SPECK_FRACTION = 0.25
#: Bump when the index's rule changes, so cached indexes are recomputed.
_VERSION = 1


@dataclass(frozen=True)
class SlideTiles:
    """A slide's tissue tiles at the target resolution.

    Attributes:
        slide: the slide's geometry.
        mpp: the µm per pixel tiles are read at (the spec's, or its target
            magnification converted with the slide's objective power).
        corners: ``(n, 2)`` top-left corners (row, column) in level-0 pixels.
        fractions: each tile's tissue share.
        side: a tile's side in level-0 pixels.
        mask_cell: a mask pixel's side in level-0 pixels.
    """

    slide: SlideInfo
    mpp: float
    corners: np.ndarray
    fractions: np.ndarray
    side: int
    mask_cell: float


def pen_mask(image: np.ndarray) -> np.ndarray:
    """``True`` where a pixel is pen ink: green-to-blue and saturated, or near black.

    Example:
        >>> pixels = np.array([[[30, 60, 200], [40, 150, 60], [110, 60, 160], [20, 20, 30]]])
        >>> pen_mask(pixels.astype(np.uint8)).tolist()  # blue, green, haematoxylin, black
        [[True, True, False, True]]
    """
    rgb = image.astype(np.float32)
    high, low = rgb.max(axis=-1), rgb.min(axis=-1)
    chroma = high - low
    saturation = np.divide(chroma, high, out=np.zeros_like(chroma), where=high > 0)
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    safe = np.where(chroma > 0, chroma, 1.0)
    hue = (
        np.select(
            [high == red, high == green],
            [((green - blue) / safe) % 6, (blue - red) / safe + 2],
            (red - green) / safe + 4,
        )
        * 60.0
    )
    coloured = (saturation >= PEN_SATURATION) & (hue >= PEN_HUES[0]) & (hue < PEN_HUES[1])
    return coloured | (high < PEN_DARK)


def clean_tissue(image: np.ndarray, min_area: float) -> np.ndarray:
    """The tissue of a low-resolution RGB image without pen marks and without connected
    pieces smaller than ``min_area`` pixels."""
    pen = ndimage.binary_dilation(pen_mask(image), iterations=1)
    tissue = tissue_mask(image) & ~pen
    labels, count = ndimage.label(tissue)
    if count == 0:
        return tissue
    areas = np.bincount(labels.ravel())
    keep = areas >= min_area
    keep[0] = False
    return keep[labels]


def _starts(length: int, side: int, step: int) -> np.ndarray:
    """Grid starts along one axis, the last tile flush with the edge (one tile at 0
    when the slide is smaller than a tile)."""
    last = max(0, length - side)
    starts = np.arange(0, last + 1, step)
    return starts if starts[-1] == last else np.append(starts, last)


def _cache_file(path: str, spec: TileSpec, slide: SlideInfo, mpp: float) -> Path:
    stat = os.stat(path)
    file = [os.path.abspath(path), stat.st_size, stat.st_mtime_ns, slide.mpp]
    key = json.dumps([_VERSION, *file, spec.size, mpp, spec.step, spec.min_tissue])
    return cache_dir("slides") / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.npz"


def _compute(
    slide: SlideInfo, spec: TileSpec, mpp: float
) -> tuple[np.ndarray, np.ndarray, int, float]:
    downsample = mpp / slide.mpp  # level-0 pixels per tile pixel
    side = max(1, round(spec.size * downsample))
    step = max(1, round(spec.step * downsample))
    level = slide.level_for(side / MASK_CELLS)
    factor = max(1, int(side / MASK_CELLS / slide.level_downsamples[level]))
    cell = factor * slide.level_downsamples[level]
    tissue = clean_tissue(read_level(slide, level, factor), SPECK_FRACTION * (side / cell) ** 2)
    integral = np.pad(tissue.astype(np.float64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    rows = _starts(slide.height, side, step)
    cols = _starts(slide.width, side, step)
    grid = np.stack(np.meshgrid(rows, cols, indexing="ij"), -1).reshape(-1, 2)

    def cells(values: np.ndarray, limit: int) -> np.ndarray:
        return np.clip(np.round(values / cell).astype(int), 0, limit)

    top, left = cells(grid[:, 0], tissue.shape[0]), cells(grid[:, 1], tissue.shape[1])
    bottom = np.maximum(cells(grid[:, 0] + side, tissue.shape[0]), top + 1)
    right = np.maximum(cells(grid[:, 1] + side, tissue.shape[1]), left + 1)
    inside = integral[bottom, right] - integral[top, right]
    inside += integral[top, left] - integral[bottom, left]
    fractions = inside / ((bottom - top) * (right - left))
    keep = fractions >= spec.min_tissue
    return grid[keep].astype(np.int64), fractions[keep], side, cell


def slide_tiles(path: str | os.PathLike[str], spec: TileSpec) -> SlideTiles:
    """The tissue tiles of one slide at ``spec.mpp`` or ``spec.target_magnification``
    (cached; see the module).

    Raises:
        SlideError: unreadable, no resolution (or no objective power for a target
            magnification), or no tile with ``spec.min_tissue``.
    """
    if not spec.whole_slide:
        raise ValueError("slide_tiles needs a whole-slide tile spec (mpp or magnification)")
    path = os.fspath(path)
    slide = slide_info(path, spec.slide_mpp)
    mpp = spec.mpp if spec.mpp is not None else slide.mpp_at(spec.target_magnification)
    cached = _cache_file(path, spec, slide, mpp)
    if cached.exists():
        with np.load(cached) as saved:
            corners, fractions = saved["corners"], saved["fractions"]
            side, cell = int(saved["side"]), float(saved["cell"])
    else:
        corners, fractions, side, cell = _compute(slide, spec, mpp)
        buffer = io.BytesIO()
        np.savez(buffer, corners=corners, fractions=fractions, side=side, cell=cell)
        atomic_write_bytes(cached, buffer.getvalue())
    if len(corners) == 0:
        raise SlideError(
            path,
            f"no {spec.size}-pixel tile at {mpp:g} µm/px holds {spec.min_tissue:.0%} "
            "tissue (a blank or pen-only slide?)",
            "check the slide, or lower --tile-min-tissue",
        )
    return SlideTiles(slide, mpp, corners, fractions, side, cell)
