"""Whole-slide images read lazily: a region at a requested resolution, never the slide.

Slides (SVS, NDPI, MRXS, pyramidal tiled TIFF, ...) are 50,000-150,000 pixels on a side,
stored as a pyramid of levels. They are read with OpenSlide (``openslide-python`` and
the ``openslide-bin`` binaries, both pip-installable: ``pip install 'bcnet_tf[slides]'``),
which decodes only the stored tiles a region touches. A region at a target resolution
in micrometres per pixel (µm/px) comes from the nearest level at least as fine, resized
down by area averaging. A target magnification (20x) becomes a resolution through the
slide's recorded objective power (:meth:`SlideInfo.mpp_at`).

Handles are opened on first use in each process (never inherited across a fork) and
kept; OpenSlide handles are thread-safe, so ``tf.data``'s parallel map shares them.
Every failure is one :class:`~bcnet_tf.errors.SlideError` naming the slide and the fix.

Example:
    >>> slide = slide_info("slide.svs")                      # doctest: +SKIP
    >>> slide.mpp, slide.width, slide.height                 # doctest: +SKIP
    (0.2502, 98304, 75776)
    >>> read_tile(slide, 4096, 8192, 224, mpp=0.5).shape     # doctest: +SKIP
    (224, 224, 3)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from bcnet_tf.errors import SlideError, missing_extra_hint
from bcnet_tf.pathology.tiles import BACKGROUND

#: Extensions of the slide formats OpenSlide reads.
SLIDE_EXTENSIONS = frozenset(
    {".svs", ".tif", ".tiff", ".ndpi", ".vms", ".vmu", ".scn", ".mrxs", ".svslide", ".bif"}
)
_HANDLES: dict[tuple[int, str], Any] = {}


def _openslide() -> Any:
    try:
        import openslide
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            f"reading slides needs OpenSlide: {missing_extra_hint(error)}", name=error.name
        ) from None
    return openslide


def open_slide(path: str | os.PathLike[str]) -> Any:
    """This process's OpenSlide handle of ``path``, opened on first use."""
    key = (os.getpid(), os.fspath(path))
    handle = _HANDLES.get(key)
    if handle is None:
        openslide = _openslide()
        try:
            handle = openslide.OpenSlide(key[1])
        except openslide.OpenSlideUnsupportedFormatError:
            raise SlideError(
                key[1],
                "not a slide format OpenSlide reads (or not a pyramidal tiled TIFF)",
                "convert it to a tiled pyramidal TIFF or SVS",
            ) from None
        except (openslide.OpenSlideError, OSError) as error:
            raise SlideError(key[1], f"unreadable ({error})", "replace the file") from None
        _HANDLES[key] = handle
    return handle


@dataclass(frozen=True)
class SlideInfo:
    """A slide's geometry: ``mpp`` is the µm per pixel of level 0 (from the file, else
    the value given for slides that do not record it); levels as OpenSlide reports
    them, ``(width, height)`` and downsample each; ``objective`` the magnification of
    level 0 (``openslide.objective-power``), when the file records it."""

    path: str
    mpp: float
    level_dimensions: tuple[tuple[int, int], ...]
    level_downsamples: tuple[float, ...]
    objective: float | None = None

    @property
    def width(self) -> int:
        return self.level_dimensions[0][0]

    @property
    def height(self) -> int:
        return self.level_dimensions[0][1]

    def level_for(self, downsample: float) -> int:
        """The coarsest level at least as fine as ``downsample`` (level-0 pixels per
        wanted pixel), so that reading it only ever shrinks."""
        fine = [i for i, d in enumerate(self.level_downsamples) if d <= downsample * 1.001]
        return max(fine, key=lambda i: self.level_downsamples[i], default=0)

    def mpp_at(self, magnification: float) -> float:
        """The µm per pixel of this slide seen at ``magnification`` (its level-0
        resolution scaled by its objective power over ``magnification``).

        Example:
            >>> SlideInfo("a.svs", 0.25, ((4096, 4096),), (1.0,), objective=40).mpp_at(20)
            0.5

        Raises:
            SlideError: the slide records no objective power.
        """
        if self.objective is None:
            raise SlideError(
                self.path,
                "it records no objective power (openslide.objective-power), so a target "
                "magnification cannot be converted to a resolution",
                "give the resolution instead, e.g. --mpp 0.5",
            )
        return self.mpp * self.objective / magnification


def slide_info(path: str | os.PathLike[str], mpp: float | None = None) -> SlideInfo:
    """Open ``path`` and describe it; ``mpp`` stands in for slides that do not record
    their resolution (a recorded one wins).

    Raises:
        SlideError: unreadable, or no resolution in the file and none given.
    """
    handle = open_slide(path)
    recorded = handle.properties.get("openslide.mpp-x")
    objective = handle.properties.get("openslide.objective-power")
    if recorded is None and mpp is None:
        raise SlideError(
            os.fspath(path),
            "it records no resolution (no openslide.mpp-x, e.g. a TIFF without X/YResolution)",
            "give its micrometres per pixel at full resolution, e.g. --tile-slide-mpp 0.25",
        )
    return SlideInfo(
        os.fspath(path),
        float(recorded) if recorded is not None else float(mpp),
        tuple(tuple(map(int, d)) for d in handle.level_dimensions),
        tuple(float(d) for d in handle.level_downsamples),
        float(objective) if objective else None,
    )


def _read_rgb(slide: SlideInfo, x: int, y: int, level: int, width: int, height: int) -> Image.Image:
    openslide = _openslide()
    try:
        rgba = open_slide(slide.path).read_region((int(x), int(y)), level, (width, height))
    except openslide.OpenSlideError as error:
        raise SlideError(
            slide.path, f"its pixels cannot be decoded ({error}); truncated?", "replace the file"
        ) from None
    rgb = Image.new("RGB", rgba.size, (BACKGROUND,) * 3)
    rgb.paste(rgba, mask=rgba)  # OpenSlide's alpha is not premultiplied
    return rgb


def read_region(
    slide: SlideInfo, x: int, y: int, level: int, width: int, height: int
) -> np.ndarray:
    """``(height, width, 3)`` ``uint8`` RGB of ``level`` whose top-left is ``(x, y)`` in
    level-0 pixels; outside the slide (transparent) reads as white glass."""
    return np.asarray(_read_rgb(slide, x, y, level, width, height))


def read_tile(slide: SlideInfo, x: int, y: int, size: int, mpp: float) -> np.ndarray:
    """The ``size`` x ``size`` RGB tile at ``mpp`` µm/px whose top-left is ``(x, y)`` in
    level-0 pixels: read from the nearest level at least as fine and shrunk by area
    averaging (Pillow's box filter).

    Example:
        >>> read_tile(slide_info("slide.svs"), 0, 0, 224, mpp=0.5).dtype  # doctest: +SKIP
        dtype('uint8')
    """
    downsample = mpp / slide.mpp
    level = slide.level_for(downsample)
    side = max(1, round(size * downsample / slide.level_downsamples[level]))
    region = _read_rgb(slide, x, y, level, side, side)
    if side != size:
        region = region.resize((size, size), Image.Resampling.BOX)
    return np.asarray(region)


def read_level(slide: SlideInfo, level: int, factor: int, pixels: int = 1 << 22) -> np.ndarray:
    """A whole ``level`` shrunk by the integer ``factor`` (each output pixel the mean of
    a ``factor`` x ``factor`` block, edges padded with glass), read in strips of about
    ``pixels`` level pixels so memory stays bounded whatever the slide's size."""
    width, height = slide.level_dimensions[level]
    downsample = slide.level_downsamples[level]
    out_width, out_height = -(-width // factor), -(-height // factor)
    rows = max(1, pixels // (out_width * factor * factor))
    strips = []
    for top in range(0, out_height, rows):
        count = min(rows, out_height - top)
        pixels = read_region(
            slide, 0, round(top * factor * downsample), level, out_width * factor, count * factor
        )
        blocks = pixels.reshape(count, factor, out_width, factor, 3).mean(axis=(1, 3))
        strips.append(np.round(blocks).astype(np.uint8))
    return np.concatenate(strips)
