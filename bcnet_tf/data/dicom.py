"""DICOM images (mammograms as clinics store them) to display pixels, with pydicom.

Pixels follow the DICOM standard (PS3.4 N.2), in this order:

1. stored values (signed or unsigned, any ``BitsStored``; compressed transfer syntaxes
   through the decoders of the ``bcnet_tf[dicom]`` install);
2. Modality LUT: the Modality LUT Sequence, else ``RescaleSlope`` / ``RescaleIntercept``;
3. VOI LUT: the VOI LUT Sequence, else the first ``WindowCenter`` / ``WindowWidth`` pair
   with its ``VOILUTFunction`` (``LINEAR``, ``LINEAR_EXACT`` or ``SIGMOID``), else the
   default window (:data:`DEFAULT_WINDOW_PERCENTILES`);
4. ``MONOCHROME1`` inverted, so that bright always means dense;
5. scaled to 0..255 over the VOI output range (never the image's own min and max) and
   repeated to RGB. Colour images (RGB, YBR, palette) become 8-bit RGB.

Headers also give each image's patient, study, laterality and view
(:class:`DicomHeader`). Identifying values never leave this module in clear: the
patient and study become pseudonyms (:func:`pseudonym`); names, birth dates and the
other header fields are never read into a record.

Example:
    >>> read_dicom("LCC.dcm").rgb.shape              # doctest: +SKIP
    (4084, 3328, 3)
    >>> read_dicom_header("LCC.dcm").laterality      # doctest: +SKIP
    'L'
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bcnet_tf.errors import BcnetError, ImageDecodeError, missing_extra_hint

#: File name endings of DICOM files; files without an extension are DICOM when they
#: carry the ``DICM`` preamble (:func:`has_dicom_preamble`).
DICOM_EXTENSIONS = frozenset({".dcm", ".dicom", ".dic"})
#: Where no VOI LUT or window is given: the window spans these percentiles of the
#: image's tissue values (pixels other than padding and the image's lowest and highest
#: value, i.e. air and saturated markers), sampled on every 4th pixel of every 4th row.
DEFAULT_WINDOW_PERCENTILES = (0.5, 99.5)
_SAMPLE_STRIDE = 4
_PSEUDONYM_PREFIX = b"bcnet_tf.dicom/1:"


class PatientIdWarning(UserWarning):
    """A DICOM file has no PatientID: its study stands in for the patient."""


@dataclass(frozen=True)
class DicomHeader:
    """What bcnet_tf reads from a DICOM header (no pixels).

    Attributes:
        patient: pseudonym of the PatientID, else of the StudyInstanceUID, else ``None``.
        patient_from: ``"PatientID"``, ``"StudyInstanceUID"`` or ``None``.
        study: pseudonym of the StudyInstanceUID, or ``None``.
        laterality: ``"L"`` or ``"R"`` (ImageLaterality, else Laterality), or ``None``.
        view: ViewPosition, e.g. ``"CC"`` or ``"MLO"``, or ``None``.
        photometric: PhotometricInterpretation, e.g. ``"MONOCHROME1"``.
        bits_stored: BitsStored; ``signed``: PixelRepresentation is 1.
        transfer_syntax: the transfer syntax's name, e.g. ``"JPEG-LS Lossless Image
            Compression"``.
        frames: NumberOfFrames (1 when absent).
        width, height: Columns and Rows.
        windowed: the file gives a VOI LUT or window (else the default window applies).
        has_patient_name: a PatientName is present (possible PHI in the dataset).
    """

    patient: str | None
    patient_from: str | None
    study: str | None
    laterality: str | None
    view: str | None
    photometric: str
    bits_stored: int
    signed: bool
    transfer_syntax: str
    frames: int
    width: int
    height: int
    windowed: bool
    has_patient_name: bool


@dataclass(frozen=True)
class DicomImage:
    """A decoded DICOM frame: ``rgb`` (``uint8`` ``(h, w, 3)``) and its header."""

    rgb: np.ndarray
    header: DicomHeader


def has_dicom_preamble(path: str | os.PathLike[str]) -> bool:
    """True when the file holds ``DICM`` at byte 128 (DICOM Part 10 files).

    Example:
        >>> has_dicom_preamble("IM000001")  # doctest: +SKIP
        True
    """
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def is_dicom(path: str | os.PathLike[str]) -> bool:
    """A DICOM file: a DICOM extension, or no extension and the ``DICM`` preamble.

    Example:
        >>> is_dicom("scan.png")
        False
    """
    suffix = Path(path).suffix.lower()
    return suffix in DICOM_EXTENSIONS or (not suffix and has_dicom_preamble(path))


def pseudonym(value: str) -> str:
    """A stable stand-in for an identifying header value: 16 hex digits of its SHA-256.

    Equal values give equal pseudonyms (so splits group by them); the value itself is
    not written anywhere. Short numeric ids can be found again by trying every value,
    so treat run folders of confidential data as confidential.

    Example:
        >>> pseudonym("P_00001") == pseudonym("P_00001"), len(pseudonym("P_00001"))
        (True, 16)
    """
    return hashlib.sha256(_PSEUDONYM_PREFIX + value.encode()).hexdigest()[:16]


def _pydicom() -> Any:
    try:
        import pydicom
    except ModuleNotFoundError as error:
        raise BcnetError(missing_extra_hint(error) or str(error)) from None
    return pydicom


def _read(path: Path, pixels: bool) -> Any:
    pydicom = _pydicom()
    if not path.is_file():
        raise ImageDecodeError(str(path), "the file does not exist")
    if path.stat().st_size == 0:
        raise ImageDecodeError(str(path), "the file is empty (0 bytes)")
    try:
        return pydicom.dcmread(path, stop_before_pixels=not pixels, force=True)
    except (pydicom.errors.InvalidDicomError, OSError, ValueError, EOFError, KeyError) as error:
        raise ImageDecodeError(str(path), f"not a readable DICOM file ({error})") from None


def _text(ds: Any, keyword: str) -> str | None:
    value = str(ds.get(keyword, "") or "").strip()
    return value or None


def _header(path: Path, ds: Any) -> DicomHeader:
    if "Rows" not in ds or "Columns" not in ds:
        raise ImageDecodeError(str(path), "the DICOM file holds no image (no Rows/Columns)")
    patient_id, study = _text(ds, "PatientID"), _text(ds, "StudyInstanceUID")
    patient, patient_from = None, None
    if patient_id:
        patient, patient_from = pseudonym(patient_id), "PatientID"
    elif study:
        patient, patient_from = pseudonym(study), "StudyInstanceUID"
    laterality = (_text(ds, "ImageLaterality") or _text(ds, "Laterality") or "").upper()
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    return DicomHeader(
        patient=patient,
        patient_from=patient_from,
        study=pseudonym(study) if study else None,
        laterality=laterality if laterality in ("L", "R") else None,
        view=(_text(ds, "ViewPosition") or "").upper() or None,
        photometric=_text(ds, "PhotometricInterpretation") or "MONOCHROME2",
        bits_stored=int(ds.get("BitsStored", 8) or 8),
        signed=int(ds.get("PixelRepresentation", 0) or 0) == 1,
        transfer_syntax=syntax.name if syntax is not None else "unknown",
        frames=int(ds.get("NumberOfFrames", 1) or 1),
        width=int(ds.Columns),
        height=int(ds.Rows),
        windowed=bool(ds.get("VOILUTSequence")) or "WindowCenter" in ds,
        has_patient_name=bool(_text(ds, "PatientName")),
    )


def read_dicom_header(path: str | os.PathLike[str]) -> DicomHeader:
    """Read a DICOM header (pixels are not read).

    Raises:
        ImageDecodeError: not a DICOM file, or one without an image.

    Example:
        >>> read_dicom_header("LCC.dcm").view  # doctest: +SKIP
        'CC'
    """
    path = Path(path)
    return _header(path, _read(path, pixels=False))


def _stored_pixels(path: Path, ds: Any, frame: int | None, frames: int) -> np.ndarray:
    if frames > 1 and frame is None:
        raise ImageDecodeError(
            str(path),
            f"the file holds {frames} frames and a model takes one image (choose one in "
            "a CSV manifest's frame column, or export single-frame files)",
        )
    if frame is not None and not 0 <= frame < frames:
        raise ImageDecodeError(str(path), f"frame {frame} does not exist ({frames} frames)")
    if "PixelData" not in ds:
        raise ImageDecodeError(str(path), "the DICOM file holds no pixel data")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns where it then raises
            if frames == 1:
                return ds.pixel_array
            from pydicom.pixels import pixel_array

            return pixel_array(ds, index=frame)
    except (ValueError, EOFError, OSError, KeyError, AttributeError, IndexError) as error:
        return _pixel_failure(path, error)
    except (RuntimeError, NotImplementedError) as error:
        if "plugin" in str(error) or "decod" in str(error).lower():
            raise BcnetError(
                f"cannot decode DICOM {path} ({ds.file_meta.TransferSyntaxUID.name}): no "
                "decoder for it is installed. Fix: pip install 'bcnet_tf[dicom]'"
            ) from None
        return _pixel_failure(path, error)


def _pixel_failure(path: Path, error: Exception) -> np.ndarray:
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    raise ImageDecodeError(str(path), f"the pixel data is cut or damaged ({reason})")


def _window(values: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """PS3.3 C.11.2.1.2 windowing to 0..1 (float32)."""
    if function == "SIGMOID":
        if width <= 0:
            raise ValueError("SIGMOID needs WindowWidth > 0")
        return 1.0 / (1.0 + np.exp(-4.0 * (values - np.float32(center)) / np.float32(width)))
    if function == "LINEAR":
        if width < 1:
            raise ValueError("LINEAR needs WindowWidth >= 1")
        center, width = center - 0.5, width - 1
    elif function == "LINEAR_EXACT":
        if width <= 0:
            raise ValueError("LINEAR_EXACT needs WindowWidth > 0")
    else:
        raise ValueError(f"unsupported VOILUTFunction {function!r}")
    if width == 0:  # LINEAR with width 1: a threshold at the centre
        return (values > center).astype(np.float32)
    scaled = (values - np.float32(center - width / 2)) * np.float32(1 / width)
    return np.clip(scaled, 0.0, 1.0, out=scaled)


def _first(value: Any) -> float:
    """The first of a multi-valued number (WindowCenter/Width may hold several)."""
    return float(np.atleast_1d(np.asarray(value, dtype=np.float64))[0])


def _default_window(values: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    sample = values[::_SAMPLE_STRIDE, ::_SAMPLE_STRIDE]
    if valid is not None:
        sample = sample[valid[::_SAMPLE_STRIDE, ::_SAMPLE_STRIDE]]
    tissue = sample[(sample > sample.min()) & (sample < sample.max())] if sample.size else sample
    if tissue.size == 0:
        tissue = sample
    if tissue.size == 0:
        return np.zeros(values.shape, np.float32)
    low, high = np.percentile(tissue, DEFAULT_WINDOW_PERCENTILES)
    if high <= low:
        return (values > low).astype(np.float32)
    scaled = (values - np.float32(low)) * np.float32(1 / (high - low))
    return np.clip(scaled, 0.0, 1.0, out=scaled)


def _grey_display(ds: Any, stored: np.ndarray) -> np.ndarray:
    """Stored grey values -> display values 0..1, bright = dense (steps 2-4)."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    padding = ds.get("PixelPaddingValue")
    valid = stored != padding if padding is not None else None
    if ds.get("ModalityLUTSequence"):
        modality = apply_modality_lut(stored, ds)
        depth = int(ds.ModalityLUTSequence[0].LUTDescriptor[2])
        modality_is_lut = True
    else:
        slope = float(ds.get("RescaleSlope", 1) or 1)
        intercept = float(ds.get("RescaleIntercept", 0) or 0)
        modality = stored.astype(np.float32)
        if slope != 1 or intercept != 0:
            modality = modality * np.float32(slope) + np.float32(intercept)
        modality_is_lut = False
    if ds.get("VOILUTSequence"):
        integral = modality if modality_is_lut else np.round(modality).astype(np.int64)
        depth = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        display = apply_voi_lut(integral, ds, index=0, prefer_lut=True).astype(np.float32)
        display *= np.float32(1 / (2**depth - 1))
    elif "WindowCenter" in ds and "WindowWidth" in ds:
        function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").upper()
        display = _window(
            modality.astype(np.float32, copy=False),
            _first(ds.WindowCenter),
            _first(ds.WindowWidth),
            function,
        )
    else:
        display = _default_window(modality.astype(np.float32, copy=False), valid)
    if str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        display = np.subtract(1.0, display, out=display)
    if valid is not None:
        display[~valid] = 0.0
    return display


def _colour(ds: Any, stored: np.ndarray, bits: int) -> np.ndarray:
    from pydicom.pixels import apply_color_lut

    if str(ds.PhotometricInterpretation).upper() == "PALETTE COLOR":
        stored = apply_color_lut(stored, ds)
        bits = 16 if stored.dtype == np.uint16 else 8
    if bits <= 8:
        return stored.astype(np.uint8)
    return np.round(stored.astype(np.float32) * (255 / (2**bits - 1))).astype(np.uint8)


def read_dicom(path: str | os.PathLike[str], frame: int | None = None) -> DicomImage:
    """Decode one DICOM frame to display RGB ``uint8`` (see the module docstring).

    Args:
        path: a DICOM file.
        frame: the frame of a multi-frame file (required there, else refused).

    Raises:
        ImageDecodeError: not DICOM, no image, several frames and none chosen, or pixel
            data cut short or damaged.
        BcnetError: pydicom, or a decoder for the file's compression, is not installed.

    Example:
        >>> image = read_dicom("LCC.dcm")  # doctest: +SKIP
        >>> image.rgb.dtype, image.header.photometric  # doctest: +SKIP
        (dtype('uint8'), 'MONOCHROME1')
    """
    path = Path(path)
    ds = _read(path, pixels=True)
    header = _header(path, ds)
    stored = _stored_pixels(path, ds, frame, header.frames)
    if int(ds.get("SamplesPerPixel", 1) or 1) > 1 or "PALETTE" in header.photometric.upper():
        rgb = _colour(ds, stored, header.bits_stored)
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[..., None], 3, axis=-1)
        return DicomImage(rgb, header)
    try:
        display = _grey_display(ds, stored)
    except (ValueError, NotImplementedError, IndexError, TypeError) as error:
        raise ImageDecodeError(str(path), f"invalid grey-level transform ({error})") from None
    grey = np.rint(np.multiply(display, 255, out=display)).astype(np.uint8)
    return DicomImage(np.repeat(grey[..., None], 3, axis=-1), header)
