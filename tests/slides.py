"""Small pyramidal tiled TIFF slides built from real BreakHis tissue (tests and bench).

A slide is glass (white) with pieces of BreakHis images pasted where the test says,
optionally a blue and a black pen stroke, written as OpenSlide's generic tiled TIFF:
JPEG tiles, each level a top-level IFD (levels >= 1 with ``subfiletype=1``), X/Y
resolution in pixels per centimetre so OpenSlide reports ``openslide.mpp-x``. With an
objective power, the levels carry Aperio descriptions instead (``AppMag``, ``MPP``), so
OpenSlide reads the file as an SVS and reports ``openslide.objective-power``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

BREAKHIS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "breakhis_samples"
GLASS = 245
BLUE_PEN = (30, 70, 200)
BLACK_PEN = (25, 25, 35)


def breakhis(index: int = 0) -> np.ndarray:
    """The ``index``-th BreakHis sample (sorted by name) as RGB; skips when absent."""
    files = sorted(BREAKHIS.glob("*.png"))
    if not files:
        pytest.skip("../shared/data/breakhis_samples is not present")
    return np.asarray(Image.open(files[index % len(files)]).convert("RGB"))


def tiff_writer() -> tuple[object, object]:
    """``tifffile`` and ``openslide``, skipping the test when either is missing."""
    tifffile = pytest.importorskip("tifffile")
    pytest.importorskip("imagecodecs")  # tifffile's JPEG encoder
    return tifffile, pytest.importorskip("openslide")


def write_pyramid(
    path: Path,
    levels: list[np.ndarray] | Iterator[np.ndarray],
    mpp: float | None = 0.25,
    tile: int = 64,
    objective: float | None = None,
) -> Path:
    """Write the given pyramid levels (level 0 first; each an RGB array, or an iterator
    of tiles with ``shape`` known) as a JPEG-tiled TIFF with ``mpp`` at level 0 (an
    Aperio SVS with ``objective``)."""
    tifffile, _ = tiff_writer()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tifffile.TiffWriter(path, bigtiff=True) as writer:
        for i, level in enumerate(levels):
            options = {}
            if mpp is not None:
                per_cm = 1e4 / (mpp * level_downsample(levels, i))
                options = {"resolution": (per_cm, per_cm), "resolutionunit": "CENTIMETER"}
            if objective is not None:
                options.update(description=_aperio(levels, i, mpp, objective), metadata=None)
            writer.write(
                level,
                tile=(tile, tile),
                compression="jpeg",
                compressionargs={"level": 95},
                photometric="rgb",
                subfiletype=1 if i else 0,
                **options,
            )
    return path


def _aperio(levels: list[np.ndarray], i: int, mpp: float | None, objective: float) -> str:
    """An Aperio ImageDescription: level 0 with its magnification (and resolution)."""
    height, width = levels[i].shape[:2]
    text = f"Aperio Image Library v10.0.0\r\n{width}x{height} JPEG Q=95"
    if i:
        return text
    return text + f"|AppMag = {objective:g}" + (f"|MPP = {mpp}" if mpp is not None else "")


def level_downsample(levels: list[np.ndarray], i: int) -> float:
    return levels[0].shape[1] / levels[i].shape[1]


def pyramid(image: np.ndarray, count: int = 3) -> list[np.ndarray]:
    """``image`` and its halvings (2x2 means), ``count`` levels."""
    levels = [image]
    for _ in range(count - 1):
        previous = levels[-1].astype(np.float32)
        height, width = previous.shape[0] // 2 * 2, previous.shape[1] // 2 * 2
        halved = previous[:height, :width].reshape(height // 2, 2, width // 2, 2, 3).mean((1, 3))
        levels.append(np.round(halved).astype(np.uint8))
    return levels


def slide_image(
    size: tuple[int, int],
    tissue: list[tuple[int, int, int, int]],
    *,
    seed: int = 0,
    pen: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """A ``size`` (height, width) glass image with BreakHis tissue pasted into each
    ``(top, left, height, width)`` box (sample ``seed + i``) and, with ``pen``, a
    blue stroke over that box's upper half and a black one over its lower half."""
    canvas = np.full((*size, 3), GLASS, np.uint8)
    for i, (top, left, height, width) in enumerate(tissue):
        source = breakhis(seed + i)
        reps = (-(-height // source.shape[0]), -(-width // source.shape[1]), 1)
        canvas[top : top + height, left : left + width] = np.tile(source, reps)[:height, :width]
    if pen is not None:
        top, left, height, width = pen
        canvas[top : top + height // 2, left : left + width] = BLUE_PEN
        canvas[top + height // 2 : top + height, left : left + width] = BLACK_PEN
    return canvas


def write_slide(
    path: Path,
    image: np.ndarray,
    mpp: float | None = 0.25,
    levels: int = 3,
    objective: float | None = None,
) -> Path:
    """``image`` as a ``levels``-level pyramidal slide at ``mpp`` µm/px (recording
    ``objective`` as its objective power, when given)."""
    return write_pyramid(path, pyramid(image, levels), mpp, objective=objective)
