"""Tiles of a high-resolution image: tissue filter, grid, aggregation, stitching.

Databiox images are 2100x1574 and BreakHis 700x460 pixels; resized whole to 224 px they
lose the nuclear detail a grade depends on. In tile mode a model classifies tiles of
``TileSpec.size`` pixels cut at ``TileSpec.scale`` of the native resolution; training
draws random tissue tiles from each image, and an image's prediction aggregates the
predictions of its tissue tiles (mean probability, or majority vote). A Grad-CAM for the
whole image is stitched from the tiles' maps.

Numpy only (no TensorFlow): the training pipeline calls it through ``tf.numpy_function``
and the edge predictor calls it directly, so both cut the same tiles.

Example:
    >>> spec = TileSpec(size=224, min_tissue=0.5)
    >>> image = np.full((460, 700, 3), 180, np.uint8)
    >>> padded, positions = tile_layout(image, spec)
    >>> extract_tiles(padded, positions, spec.size).shape  # 3 rows x 4 columns, the last flush
    (12, 224, 224, 3)
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bcnet_tf.settings import setting

#: A pixel is tissue when its optical density summed over R, G, B reaches this
#: (white glass 0; a pale grey-pink of about 225, 210, 220 already passes).
TISSUE_DENSITY = 0.3
#: Padding colour: an image smaller than a tile is padded with glass.
BACKGROUND = 255
#: ``attention`` needs an attention-MIL head (whole-slide mode only).
AGGREGATIONS = ("mean", "majority", "top_k", "attention")


class TissueWarning(UserWarning):
    """An image has no tile with enough tissue; its most tissue-rich tile is used."""


@dataclass(frozen=True)
class TileSpec:
    """How images are cut into tiles (``bcnet-tf train --tile-size 224 ...``).

    Example:
        >>> TileSpec(size=224, scale=0.5).scaled_size(460, 700)
        (230, 350)
    """

    size: int = setting(224, "tile side in pixels (the model's input size)")
    scale: float = setting(
        1.0,
        "resize factor applied to the whole image before tiling (1.0: native resolution; "
        "0.5 halves it, so a tile covers twice the tissue)",
    )
    mpp: float | None = setting(
        None,
        "whole-slide mode: tiles are read from pyramidal slides at this resolution in "
        "micrometres per pixel, e.g. 0.5 (none: ordinary images, decoded whole)",
        flag="mpp",
    )
    target_magnification: float | None = setting(
        None,
        "whole-slide mode, instead of --mpp: tiles are read at this objective "
        "magnification, e.g. 20 (each slide's micrometres per pixel at full resolution "
        "times its recorded objective power, openslide.objective-power, divided by this)",
        flag="target-magnification",
    )
    slide_mpp: float | None = setting(
        None,
        "whole-slide mode: micrometres per pixel of a slide's full resolution, used for "
        "slides whose file does not record it (none: every slide must record it)",
    )
    stride: int = setting(0, "grid step in pixels when predicting (0: the tile side, no overlap)")
    min_tissue: float = setting(0.5, "least share of tissue pixels a tile needs")
    per_image: int = setting(8, "random tissue tiles drawn from each image per training epoch")
    aggregate: str = setting(
        "mean",
        "how an image's prediction combines its tiles' predictions: their mean, majority "
        "vote, the mean of each class's top-k tile probabilities, or an attention-MIL head "
        "trained on slide labels (whole-slide mode)",
        AGGREGATIONS,
    )
    top_k: int = setting(8, "top_k aggregation: tiles averaged per class")

    def __post_init__(self) -> None:
        if self.size < 8 or self.scale <= 0 or self.stride < 0 or self.per_image < 1:
            raise ValueError(f"invalid tile settings: {self}")
        resolutions = (self.mpp, self.target_magnification, self.slide_mpp)
        if self.top_k < 1 or any(v is not None and v <= 0 for v in resolutions):
            raise ValueError(f"invalid tile settings: {self}")
        if self.mpp is not None and self.target_magnification is not None:
            raise ValueError("give mpp or target_magnification, not both")
        if self.aggregate == "attention" and not self.whole_slide:
            raise ValueError("aggregate 'attention' needs whole-slide mode (set mpp)")
        if not 0.0 <= self.min_tissue <= 1.0:
            raise ValueError(f"min_tissue must lie in [0, 1], not {self.min_tissue}")
        if self.aggregate not in AGGREGATIONS:
            raise ValueError(f"aggregate must be one of {AGGREGATIONS}, not {self.aggregate!r}")

    @property
    def whole_slide(self) -> bool:
        """Whole-slide mode: tiles are read from slides at a target resolution.

        Example:
            >>> TileSpec(target_magnification=20).whole_slide, TileSpec().whole_slide
            (True, False)
        """
        return self.mpp is not None or self.target_magnification is not None

    @property
    def resolution_flag(self) -> str:
        """The flag that set whole-slide mode, e.g. ``--mpp 0.5`` (empty when off)."""
        if self.mpp is not None:
            return f"--mpp {self.mpp}"
        if self.target_magnification is not None:
            return f"--target-magnification {self.target_magnification}"
        return ""

    @property
    def step(self) -> int:
        return self.stride or self.size

    def scaled_size(self, height: int, width: int) -> tuple[int, int]:
        """The size an image of ``height`` x ``width`` is resized to before tiling."""
        return max(1, round(height * self.scale)), max(1, round(width * self.scale))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TileSpec:
        return cls(**data)


def tissue_mask(image: np.ndarray) -> np.ndarray:
    """``True`` where a pixel is tissue (optical density over R, G, B >= 0.3).

    Example:
        >>> tissue_mask(np.array([[[255, 255, 255], [200, 120, 180]]], np.uint8)).tolist()
        [[False, True]]
    """
    density = -np.log((image.astype(np.float32) + 1.0) / 256.0)
    return density.sum(axis=-1) >= TISSUE_DENSITY


def _starts(length: int, size: int, step: int) -> np.ndarray:
    """Grid starts along one axis, the last tile flush with the edge."""
    starts = list(range(0, length - size + 1, step))
    if starts[-1] != length - size:
        starts.append(length - size)
    return np.array(starts)


def pad_to_tile(image: np.ndarray, size: int) -> np.ndarray:
    """Pad an image smaller than ``size`` on a side with glass (white), bottom/right."""
    height, width = image.shape[:2]
    pad = ((0, max(0, size - height)), (0, max(0, size - width)), (0, 0))
    return np.pad(image, pad, constant_values=BACKGROUND) if any(p[1] for p in pad) else image


def tile_layout(image: np.ndarray, spec: TileSpec) -> tuple[np.ndarray, np.ndarray]:
    """The image padded to at least one tile, and the ``(n, 2)`` ``int32`` top-left
    corners (row, column) of its grid tiles holding at least ``spec.min_tissue`` tissue.

    With no such tile, the tile with the most tissue is used, with a
    :class:`TissueWarning`: an image always gives at least one tile.
    """
    image = pad_to_tile(np.asarray(image, np.uint8), spec.size)
    mask = tissue_mask(image).astype(np.float64)
    integral = np.pad(mask.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    rows = _starts(image.shape[0], spec.size, spec.step)
    cols = _starts(image.shape[1], spec.size, spec.step)
    grid = np.stack(np.meshgrid(rows, cols, indexing="ij"), -1).reshape(-1, 2)
    y, x, s = grid[:, 0], grid[:, 1], spec.size
    tissue = integral[y + s, x + s] - integral[y, x + s] - integral[y + s, x] + integral[y, x]
    fractions = tissue / (s * s)
    keep = fractions >= spec.min_tissue
    if not keep.any():
        warnings.warn(
            f"an image has no {s}-pixel tile with {spec.min_tissue:.0%} tissue; its most "
            "tissue-rich tile is used. Fix: lower min_tissue if your images are pale.",
            TissueWarning,
            stacklevel=2,
        )
        keep = np.arange(len(grid)) == np.argmax(fractions)
    return image, grid[keep].astype(np.int32)


def extract_tiles(image: np.ndarray, positions: np.ndarray, size: int) -> np.ndarray:
    """``(n, size, size, 3)`` tiles at the given top-left corners."""
    return np.stack([image[y : y + size, x : x + size] for y, x in positions])


def aggregate(tile_probabilities: np.ndarray, method: str = "mean", top_k: int = 8) -> np.ndarray:
    """An image's class probabilities from its tiles': their mean, the share of tiles
    voting for each class (``"majority"``), or each class's mean over its ``top_k``
    most probable tiles, normalised to sum to one (``"top_k"``: a class that a small
    region shows strongly is not outvoted by the many tiles that do not show it).

    Example:
        >>> aggregate(np.array([[0.9, 0.1], [0.4, 0.6], [0.8, 0.2]]), "majority").tolist()
        [0.6666666666666666, 0.3333333333333333]
        >>> aggregate(np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]]), "top_k", 1).round(2).tolist()
        [0.56, 0.44]
    """
    tile_probabilities = np.asarray(tile_probabilities, np.float64)
    if method == "mean":
        return tile_probabilities.mean(axis=0)
    if method == "top_k":
        k = min(top_k, len(tile_probabilities))
        highest = np.sort(tile_probabilities, axis=0)[-k:].mean(axis=0)
        return highest / highest.sum()
    if method == "majority":
        votes = np.bincount(
            tile_probabilities.argmax(axis=1), minlength=tile_probabilities.shape[1]
        )
        return votes / votes.sum()
    raise ValueError(f"aggregate must be one of {AGGREGATIONS[:3]}, not {method!r}")


def stitch(
    maps: np.ndarray, positions: np.ndarray, shape: tuple[int, int], size: int
) -> np.ndarray:
    """One ``shape`` map from per-tile ``(n, size, size)`` maps: overlaps averaged,
    zero where no tile was cut (background)."""
    total = np.zeros(shape, np.float64)
    count = np.zeros(shape, np.float64)
    for tile_map, (y, x) in zip(maps, positions, strict=True):
        total[y : y + size, x : x + size] += tile_map
        count[y : y + size, x : x + size] += 1
    return np.divide(total, count, out=np.zeros_like(total), where=count > 0)
