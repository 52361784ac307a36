"""DICOM files the tests write themselves, with pixels they know (pydicom)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.uid import (  # noqa: E402
    DigitalMammographyXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    generate_uid,
)

#: Identifying values every test file carries; no output may contain any of them.
PHI = {
    "PatientName": "Doe^Jane",
    "PatientBirthDate": "19610203",
    "AccessionNumber": "ACC7781234",
    "InstitutionName": "Saint Example Hospital",
    "ReferringPhysicianName": "House^Gregory",
}


def write_dicom(
    path: Path,
    stored: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    bits_stored: int | None = None,
    patient_id: str | None = "MRN-4711",
    study_uid: str | None = None,
    compress: Any = None,
    preamble: bool = True,
    **attributes: Any,
) -> Path:
    """Write ``stored`` (2-D grey, 3-D ``(frames, h, w)`` or ``(h, w, 3)`` RGB) as a
    DICOM mammogram with the given header ``attributes``; returns ``path``."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DigitalMammographyXRayImageStorageForPresentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "MG"
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    if patient_id is not None:
        ds.PatientID = patient_id
    for keyword, value in PHI.items():
        setattr(ds, keyword, value)
    colour = stored.ndim == 3 and stored.shape[-1] == 3 and photometric == "RGB"
    if stored.ndim == 3 and not colour:
        ds.NumberOfFrames = stored.shape[0]
    bits = bits_stored or (8 if stored.dtype.itemsize == 1 else 16)
    ds.set_pixel_data(stored, photometric, bits)
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    if compress is not None:
        ds.compress(compress)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=preamble)
    return path


def breast_phantom(
    height: int = 96,
    width: int = 80,
    seed: int = 0,
    side: str = "L",
    texture: float = 600,
    grain: int = 8,
) -> np.ndarray:
    """A mammogram-like ``uint16`` image (12 bits used): dark air, a half-ellipse breast
    against the chest wall (left for ``side='L'``) with seeded blocky texture
    (``texture`` standard deviation, ``grain`` pixels), and a small bright marker in the
    far corner."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width]
    breast = (rows - height / 2) ** 2 / (0.42 * height) ** 2 + cols**2 / (0.7 * width) ** 2 < 1
    noise = rng.normal(0, 1, (height // grain + 1, width // grain + 1))
    noise = np.kron(noise, np.ones((grain, grain)))[:height, :width]
    image = np.where(breast, 2000 + texture * noise, 60).clip(0, 4095)
    image[2:6, width - 8 : width - 3] = 4095  # a lead marker, away from the breast
    image = image.astype(np.uint16)
    return image if side == "L" else image[:, ::-1].copy()


def transcode_with_gdcm(source: Path, target: Path, syntax: str) -> Path:
    """Re-encode a DICOM file with python-gdcm into the transfer syntax ``syntax`` (a
    ``gdcm.TransferSyntax`` name such as ``"JPEGLosslessProcess14_1"``, JPEG Lossless
    SV1, which no other installed encoder writes); returns ``target``."""
    gdcm = pytest.importorskip("gdcm")
    reader = gdcm.ImageReader()
    reader.SetFileName(str(source))
    assert reader.Read(), source
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(getattr(gdcm.TransferSyntax, syntax)))
    change.SetInput(reader.GetImage())
    assert change.Change(), syntax
    writer = gdcm.ImageWriter()
    writer.SetFileName(str(target))
    writer.SetFile(reader.GetFile())
    writer.SetImage(change.GetOutput())
    assert writer.Write(), target
    return target
