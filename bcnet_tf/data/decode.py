"""Decode any supported image file to RGB ``uint8`` with Pillow, or pydicom for DICOM.

This is the reference decoder: the tf.data pipeline uses TensorFlow's own decoders
for plain PNG/JPEG/BMP (fast, no Python) and this function for everything else —
16-bit PNG and TIFF, PGM/PPM, EXIF-rotated JPEG, DICOM
(:func:`bcnet_tf.data.dicom.read_dicom`) — so both paths give the same pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import ImageOps

from bcnet_tf.data.dicom import is_dicom, read_dicom
from bcnet_tf.data.files import open_image


def _high_bit_depth_to_uint8(array: np.ndarray) -> np.ndarray:
    """Stretch a 16-bit or float image to 0..255 using its own min and max.

    Mammograms and other 16-bit images often use 10-14 of their 16 bits; scaling
    by 1/257 (what a plain cast does) would leave them nearly black.
    """
    array = array.astype(np.float64)
    low, high = float(array.min()), float(array.max())
    if high <= low:
        return np.zeros(array.shape, np.uint8)
    return np.round((array - low) * (255.0 / (high - low))).astype(np.uint8)


def decode_with_laterality(
    path: str | Path, frame: int | None = None
) -> tuple[np.ndarray, str | None]:
    """:func:`decode_rgb`, and the breast's laterality (``"L"``/``"R"``) where a DICOM
    header gives it (else ``None``).

    Example:
        >>> pixels, side = decode_with_laterality("RCC.dcm")  # doctest: +SKIP
        >>> side  # doctest: +SKIP
        'R'
    """
    if is_dicom(path):
        image = read_dicom(path, frame)
        return image.rgb, image.header.laterality
    return decode_rgb(path), None


def decode_rgb(path: str | Path, frame: int | None = None) -> np.ndarray:
    """Decode an image file to an ``(height, width, 3)`` RGB ``uint8`` array.

    Handles grey, palette, RGBA (alpha dropped), CMYK, 16-bit and EXIF-rotated images,
    and DICOM (display pixels as :mod:`bcnet_tf.data.dicom` describes; ``frame``: the
    frame of a multi-frame file, ignored for other formats).

    Raises:
        ImageDecodeError: the file is missing, empty, truncated or not an image.

    Example:
        >>> decode_rgb("benign/benign (1).png").shape  # doctest: +SKIP
        (256, 256, 3)
    """
    path = Path(path)
    if is_dicom(path):
        return read_dicom(path, frame).rgb
    with open_image(path, failure="decoding failed") as opened:
        image = ImageOps.exif_transpose(opened)
        if image.mode in {"I;16", "I;16B", "I;16L", "I", "F"}:
            grey = _high_bit_depth_to_uint8(np.asarray(image))
            return np.repeat(grey[..., None], 3, axis=-1)
        if image.mode == "P" and "transparency" in image.info:
            image = image.convert("RGBA")
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
