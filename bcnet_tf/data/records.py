"""The records a dataset folder becomes: one :class:`ImageRecord` per sample."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bcnet_tf.data.files import SkippedFile


@dataclass(frozen=True)
class ImageRecord:
    """One labelled sample.

    Attributes:
        path: absolute path of the image file.
        label: class name.
        patient: patient id where the layout records one (BreakHis, Databiox, CSV), else
            a DICOM file's pseudonymised PatientID (or StudyInstanceUID).
        magnification: e.g. ``"40X"`` for histopathology, else ``None``.
        subtype: tumour subtype where known (BreakHis), else ``None``.
        width, height: image size from the file header.
        tf_native: TensorFlow's decoder reads it correctly (else Pillow or pydicom).
        laterality: ``"L"`` or ``"R"`` (mammography: manifest or DICOM header), else ``None``.
        view: e.g. ``"CC"`` or ``"MLO"`` (mammography), else ``None``.
        study: the study (a DICOM file's pseudonymised StudyInstanceUID), else ``None``.
        frame: the frame of a multi-frame DICOM file that is the sample (a manifest's
            ``frame`` column), else ``None``.
    """

    path: str
    label: str
    patient: str | None = None
    magnification: str | None = None
    subtype: str | None = None
    width: int = 0
    height: int = 0
    tf_native: bool = True
    laterality: str | None = None
    view: str | None = None
    study: str | None = None
    frame: int | None = None


def image_file(item: ImageRecord | str | os.PathLike[str]) -> tuple[str, int | None]:
    """The file and frame of an image given as a record or as a path (no frame).

    Example:
        >>> image_file(ImageRecord("/data/mf.dcm", "benign", frame=2)), image_file("a.png")
        (('/data/mf.dcm', 2), ('a.png', None))
    """
    if isinstance(item, ImageRecord):
        return item.path, item.frame
    return os.fspath(item), None


@dataclass
class DatasetIndex:
    """A discovered dataset: its samples, class names and the files left out.

    Example:
        >>> index = discover("busi_256")  # doctest: +SKIP
        >>> index.class_counts()          # doctest: +SKIP
        {'benign': 437, 'malignant': 210, 'normal': 133}
    """

    root: Path
    layout: str
    records: list[ImageRecord]
    class_names: list[str]
    skipped: list[SkippedFile] = field(default_factory=list)
    empty_classes: list[str] = field(default_factory=list)

    def class_counts(self) -> dict[str, int]:
        """Number of samples per class, in ``class_names`` order."""
        counts = Counter(record.label for record in self.records)
        return {name: counts.get(name, 0) for name in self.class_names}

    def label_ids(self, records: list[ImageRecord] | None = None) -> list[int]:
        """Integer labels (positions in ``class_names``) of ``records`` (default: all)."""
        position = {name: i for i, name in enumerate(self.class_names)}
        return [position[record.label] for record in (self.records if records is None else records)]

    def has_patients(self) -> bool:
        """True when every record carries a patient id."""
        return bool(self.records) and all(record.patient for record in self.records)

    def relative(self, item: ImageRecord | str) -> str:
        """A record's (or a path's) location relative to the dataset root, POSIX style;
        paths outside the root are returned as they are."""
        path = Path(item.path if isinstance(item, ImageRecord) else item)
        return (
            path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else str(path)
        )
