"""Image files whose decoded pixels the tests know without any decoder.

Each writer saves an array it made itself (a lossless format, or a JPEG of flat 8x8
blocks at quality 100 without chroma subsampling, which decodes within a grey level or
two) and returns the RGB ``uint8`` pixels a correct decoder must give, derived from
that array by the documented rule: grey is repeated on three channels, alpha is
dropped, palettes are looked up, CMYK without black is ``255 - CMY``, EXIF orientation
6 turns the image clockwise, and 16-bit or float images are stretched by their own
minimum and maximum to 0..255.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from tests.conftest import rgb_pattern

#: Native size of every known image: non-square, so a swapped axis cannot pass.
HEIGHT, WIDTH = 40, 56
#: JPEG is lossy: flat blocks come back within this many grey levels.
JPEG_TOLERANCE = 2

Writer = Callable[[Path], np.ndarray]


def _rgb() -> np.ndarray:
    return rgb_pattern(HEIGHT, WIDTH, seed=11)


def _levels() -> np.ndarray:
    """Grey levels ``v`` holding both 0 and 255: a high-bit-depth image ``low + step * v``
    then stretches back to exactly ``v``."""
    levels = np.random.default_rng(12).integers(0, 256, (HEIGHT, WIDTH), dtype=np.uint8)
    levels[0, 0], levels[-1, -1] = 0, 255
    return levels


def _grey3(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[..., None], 3, axis=-1)


def _flat_blocks() -> np.ndarray:
    """Three channels constant over each 8x8 JPEG block."""
    blocks = np.random.default_rng(13).integers(0, 256, (HEIGHT // 8, WIDTH // 8, 3), np.uint8)
    return np.kron(blocks, np.ones((8, 8, 1), np.uint8))


def _palette() -> tuple[np.ndarray, np.ndarray]:
    """``(indices, 16-colour palette)``."""
    rng = np.random.default_rng(14)
    return rng.integers(0, 16, (HEIGHT, WIDTH), dtype=np.uint8), rng.integers(
        0, 256, (16, 3), dtype=np.uint8
    )


def _palette_image(indices: np.ndarray, palette: np.ndarray) -> Image.Image:
    image = Image.fromarray(indices, "P")
    image.putpalette(palette.ravel().tolist())
    return image


def png_rgb(path: Path) -> np.ndarray:
    Image.fromarray(_rgb()).save(path, format="PNG")
    return _rgb()


def png_grey(path: Path) -> np.ndarray:
    Image.fromarray(_levels(), "L").save(path, format="PNG")
    return _grey3(_levels())


def png_palette(path: Path) -> np.ndarray:
    indices, palette = _palette()
    _palette_image(indices, palette).save(path, format="PNG")
    return palette[indices]


def png_palette_transparent(path: Path) -> np.ndarray:
    indices, palette = _palette()
    _palette_image(indices, palette).save(path, format="PNG", transparency=3)
    return palette[indices]


def png_rgba(path: Path) -> np.ndarray:
    alpha = _levels()[..., None]
    Image.fromarray(np.concatenate([_rgb(), alpha], axis=-1), "RGBA").save(path, format="PNG")
    return _rgb()


def png16(path: Path) -> np.ndarray:
    """A 12-bit grey image, as mammograms use (``4 + 16 v``, within 4..4084)."""
    Image.fromarray(4 + 16 * _levels().astype(np.uint16)).save(path, format="PNG")
    return _grey3(_levels())


def bmp(path: Path) -> np.ndarray:
    Image.fromarray(_rgb()).save(path, format="BMP")
    return _rgb()


def tiff(path: Path) -> np.ndarray:
    Image.fromarray(_rgb()).save(path, format="TIFF")
    return _rgb()


def tiff_deflate(path: Path) -> np.ndarray:
    tifffile.imwrite(path, _rgb(), compression="zlib")
    return _rgb()


def tiff16(path: Path) -> np.ndarray:
    """Full 16-bit range (``300 + 200 v``, within 300..51300)."""
    tifffile.imwrite(path, 300 + 200 * _levels().astype(np.uint16))
    return _grey3(_levels())


def tiff_float(path: Path) -> np.ndarray:
    tifffile.imwrite(path, (-1.5 + 0.25 * _levels()).astype(np.float32))
    return _grey3(_levels())


def pgm(path: Path) -> np.ndarray:
    Image.fromarray(_levels(), "L").save(path, format="PPM")
    return _grey3(_levels())


def pgm16(path: Path) -> np.ndarray:
    Image.fromarray(4 + 16 * _levels().astype(np.uint16)).save(path, format="PPM")
    return _grey3(_levels())


def ppm(path: Path) -> np.ndarray:
    Image.fromarray(_rgb()).save(path, format="PPM")
    return _rgb()


def gif(path: Path) -> np.ndarray:
    indices, palette = _palette()
    _palette_image(indices, palette).save(path, format="GIF")
    return palette[indices]


def jpeg(path: Path) -> np.ndarray:
    Image.fromarray(_flat_blocks()).save(path, format="JPEG", quality=100, subsampling=0)
    return _flat_blocks()


def jpeg_cmyk(path: Path) -> np.ndarray:
    """CMYK with no black: the RGB a reader shows is ``255 - CMY`` under any of the
    usual CMYK-to-RGB formulas."""
    cmy = _flat_blocks()
    cmyk = np.concatenate([cmy, np.zeros((HEIGHT, WIDTH, 1), np.uint8)], axis=-1)
    Image.fromarray(cmyk, "CMYK").save(path, format="JPEG", quality=100, subsampling=0)
    return 255 - cmy


def jpeg_exif_rotated(path: Path) -> np.ndarray:
    """Stored ``HEIGHT x WIDTH`` with orientation 6 (rotate 90 degrees clockwise)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(_flat_blocks()).save(path, format="JPEG", quality=100, subsampling=0, exif=exif)
    return np.rot90(_flat_blocks(), k=-1)


#: kind -> (file suffix, writer)
KNOWN: dict[str, tuple[str, Writer]] = {
    "png_rgb": (".png", png_rgb),
    "png_grey": (".png", png_grey),
    "png_palette": (".png", png_palette),
    "png_palette_transparent": (".png", png_palette_transparent),
    "png_rgba": (".png", png_rgba),
    "png16": (".png", png16),
    "bmp": (".bmp", bmp),
    "tiff": (".tif", tiff),
    "tiff_deflate": (".tiff", tiff_deflate),
    "tiff16": (".tif", tiff16),
    "tiff_float": (".tif", tiff_float),
    "pgm": (".pgm", pgm),
    "pgm16": (".pgm", pgm16),
    "ppm": (".ppm", ppm),
    "gif": (".gif", gif),
    "jpeg": (".jpg", jpeg),
    "jpeg_cmyk": (".jpeg", jpeg_cmyk),
    "jpeg_exif_rotated": (".jpg", jpeg_exif_rotated),
}


def write_known(path: Path, kind: str) -> np.ndarray:
    """Write a ``kind`` image at ``path`` (any suffix) and return its known RGB pixels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return KNOWN[kind][1](path)


def tolerance(kind: str) -> int:
    """How far a correct decoder may stray from the known pixels of ``kind``."""
    return JPEG_TOLERANCE if kind.startswith("jpeg") else 0
