"""Which files in a dataset folder are samples, and what each one is.

Real medical-image folders hold more than samples: BUSI ships a segmentation mask
beside every ultrasound image, archives carry ``__MACOSX`` copies and thumbnails,
and people leave CSVs and notes. :func:`skip_reason` decides by rule, from the
path alone, which files are not samples; :func:`probe_image` reads a candidate's
header to learn its format and size without decoding pixels.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from bcnet_tf.data.dicom import DICOM_EXTENSIONS, DicomHeader, has_dicom_preamble, read_dicom_header
from bcnet_tf.errors import ImageDecodeError, SlideError
from bcnet_tf.pathology.slides import SLIDE_EXTENSIONS, open_slide

#: Extensions of the image formats used in this field: Pillow decodes all of them but
#: DICOM (:mod:`bcnet_tf.data.dicom`); extension-less DICOM files count too.
IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm", ".ppm", ".pnm", ".gif"}
    | DICOM_EXTENSIONS
)
#: Formats TensorFlow's own decoders read correctly (the pipeline's fast path).
TF_NATIVE_FORMATS = frozenset({"PNG", "JPEG", "BMP", "GIF"})

_JUNK_NAMES = frozenset({"thumbs.db", "desktop.ini", ".ds_store"})
_JUNK_DIRS = frozenset({"__macosx"})
_MASK_DIRS = frozenset({"mask", "masks", "segmentation", "segmentations", "annotations", "gt"})
_THUMB_DIRS = frozenset({"thumb", "thumbs", "thumbnail", "thumbnails"})
# "benign (1)_mask.png", "img_mask_1.png", "case3-seg.png", "x_label.png", "x_gt.tif"
_MASK_STEM = re.compile(
    r"[ _\-.](mask|seg|segmentation|label|labels|annotation|gt)([ _\-.]?\d+)?$", re.IGNORECASE
)
_THUMB_STEM = re.compile(r"([ _\-.](thumb|thumbnail|preview)$)|(^thumb(nail)?[ _\-.])", re.I)
BOMB_ADVICE = (
    "Tile or downscale the image, or raise PIL.Image.MAX_IMAGE_PIXELS if you trust the file"
)
#: Images smaller than this on either side are treated as thumbnails, not samples.
MIN_SAMPLE_SIDE = 32


@dataclass(frozen=True)
class SkippedFile:
    """A file found in the dataset folder that did not become a sample."""

    path: str
    reason: str


@dataclass(frozen=True)
class ImageInfo:
    """What an image header says: ``format`` as Pillow names it (``"DICOM"`` for DICOM),
    ``mode`` (a DICOM file's photometric interpretation), size, whether TensorFlow's
    decoder can read it as is (``tf_native``), and a DICOM file's ``dicom`` header."""

    format: str
    mode: str
    width: int
    height: int
    tf_native: bool
    dicom: DicomHeader | None = None


def skip_reason(
    relative_path: Path, root: Path | None = None, *, slides: bool = False
) -> str | None:
    """Why a file is not a sample, judged from its path, or ``None`` if it may be one.

    With ``root`` (the folder ``relative_path`` is relative to), a file without an
    extension is a candidate when it starts like a DICOM file. With ``slides``, the
    samples are whole-slide images (``SLIDE_EXTENSIONS``: SVS, NDPI, MRXS, TIFF, ...).

    Example:
        >>> skip_reason(Path("benign/benign (1)_mask.png"))
        'segmentation mask (file name)'
        >>> skip_reason(Path("benign/benign (1).png")) is None
        True
        >>> skip_reason(Path("tumour/case 1.ndpi"), slides=True) is None
        True
    """
    parts = [part.lower() for part in relative_path.parts]
    name = parts[-1]
    if any(part.startswith(".") for part in parts) or name in _JUNK_NAMES:
        return "hidden or system file"
    if _JUNK_DIRS.intersection(parts[:-1]):
        return "archive metadata folder (__MACOSX)"
    if slides:
        if relative_path.suffix.lower() not in SLIDE_EXTENSIONS:
            return f"not a slide file (extension '{relative_path.suffix or 'none'}')"
    elif relative_path.suffix.lower() not in IMAGE_EXTENSIONS and not (
        not relative_path.suffix and root is not None and has_dicom_preamble(root / relative_path)
    ):
        return f"not an image file (extension '{relative_path.suffix or 'none'}')"
    if _MASK_DIRS.intersection(parts[:-1]) or _MASK_STEM.search(relative_path.stem):
        where = "folder" if _MASK_DIRS.intersection(parts[:-1]) else "file name"
        return f"segmentation mask ({where})"
    if _THUMB_DIRS.intersection(parts[:-1]) or _THUMB_STEM.search(relative_path.stem):
        return "thumbnail (name)"
    return None


@contextmanager
def open_image(path: Path, failure: str) -> Iterator[Image.Image]:
    """Open an image with Pillow, turning every way it can fail into one
    :class:`ImageDecodeError` that names the file (``failure`` labels decoding errors).

    Pillow's decompression-bomb warning (images over ``PIL.Image.MAX_IMAGE_PIXELS``)
    is treated as an error.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                yield image
    except FileNotFoundError:
        raise ImageDecodeError(str(path), "the file does not exist") from None
    except UnidentifiedImageError:
        raise ImageDecodeError(str(path), "not a recognised image format") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageDecodeError(str(path), f"{error} {BOMB_ADVICE}") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageDecodeError(str(path), f"{failure} ({error})") from None


def probe_image(path: Path) -> ImageInfo:
    """Read an image header (no pixel decoding) and describe the image.

    Raises:
        ImageDecodeError: the file is empty, not an image, or too large to decode safely.

    Example:
        >>> probe_image(Path("benign/benign (1).png"))  # doctest: +SKIP
        ImageInfo(format='PNG', mode='RGB', width=256, height=256, tf_native=True)
    """
    if path.stat().st_size == 0:
        raise ImageDecodeError(str(path), "the file is empty (0 bytes)")
    if path.suffix.lower() in DICOM_EXTENSIONS or has_dicom_preamble(path):
        header = read_dicom_header(path)
        return ImageInfo("DICOM", header.photometric, header.width, header.height, False, header)
    with open_image(path, failure="unreadable header") as image:
        width, height = image.size
        fmt = image.format or "unknown"
        mode = image.mode
        orientation = image.getexif().get(0x0112, 1) if fmt == "JPEG" else 1
    tf_native = (
        fmt in TF_NATIVE_FORMATS
        and mode not in {"I;16", "I;16B", "I;16L", "I", "F"}
        and orientation in (1, None)
    )
    return ImageInfo(fmt, mode, width, height, tf_native)


def probe_slide(path: Path) -> ImageInfo:
    """A whole-slide image's full-resolution size, read by OpenSlide (no pixels).

    Raises:
        ImageDecodeError: OpenSlide cannot open the file.
    """
    try:
        width, height = open_slide(path).dimensions
    except SlideError as error:
        raise ImageDecodeError(str(path), error.reason) from None
    return ImageInfo("slide", "RGBA", int(width), int(height), False)
