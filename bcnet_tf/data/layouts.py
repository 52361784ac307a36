"""Turn a dataset folder (or CSV manifest) into a :class:`DatasetIndex`.

Layouts:

* ``folders``  — ``DIR/<class>/**/image``: the first folder level is the class (in
  whole-slide mode, ``DIR/<class>/**/slide`` with SVS, NDPI, MRXS, TIFF, ... slides).
* ``breakhis`` — labels, subtype, patient and magnification parsed from BreakHis
  names such as ``SOB_B_A-14-22549AB-40-001.png`` (Spanhol et al. 2016), wherever
  the files sit below ``DIR``.
* ``databiox`` — ``DIR/<grade>/<patient>/<magnification>/**/image`` (Databiox archive).
* ``csv``      — a manifest with ``path`` and ``label`` columns (optional ``patient``,
  ``magnification``, ``subtype``, ``laterality``, ``view``, ``study``, and ``frame``:
  which frame of a multi-frame DICOM file is the sample, 0 the first); paths are
  relative to the manifest's folder. CBIS-DDSM's column names are understood too
  (``image file path``, ``pathology``, ``patient_id``, ``left or right breast``,
  ``image view``).

DICOM files (``.dcm``, or no extension and the ``DICM`` preamble) are samples in every
layout; their header gives the patient (pseudonymised PatientID, else the
StudyInstanceUID with a :class:`~bcnet_tf.data.dicom.PatientIdWarning`), study,
laterality and view where the layout or manifest does not. A multi-frame DICOM file
without a chosen frame is skipped (``index.skipped`` says why).
* ``auto``     — picks one of the above and says which in ``DatasetIndex.layout``.

The folder is only ever read.
"""

from __future__ import annotations

import csv
import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bcnet_tf.data.dicom import PatientIdWarning
from bcnet_tf.data.files import (
    MIN_SAMPLE_SIDE,
    SkippedFile,
    probe_image,
    probe_slide,
    skip_reason,
)
from bcnet_tf.data.records import DatasetIndex, ImageRecord
from bcnet_tf.errors import DatasetError, ImageDecodeError

LAYOUTS = ("auto", "folders", "breakhis", "databiox", "csv")
LABEL_BY = ("class", "subtype")

BREAKHIS_SUBTYPES = {
    "A": "adenosis",
    "F": "fibroadenoma",
    "PT": "phyllodes_tumor",
    "TA": "tubular_adenoma",
    "DC": "ductal_carcinoma",
    "LC": "lobular_carcinoma",
    "MC": "mucinous_carcinoma",
    "PC": "papillary_carcinoma",
}
_BREAKHIS_NAME = re.compile(
    r"^SOB_(?P<cls>[BM])_(?P<subtype>A|F|PT|TA|DC|LC|MC|PC)-(?P<year>\d+)-"
    r"(?P<patient>[A-Za-z0-9]+)-(?P<mag>\d+)-(?P<seq>\d+)$"
)
_MAGNIFICATION = re.compile(r"^(?P<value>\d+(\.\d+)?)\s*[xX]$")
PATH_COLUMNS = ("path", "image_path", "filepath", "file", "filename", "image", "image file path")
_LABEL_COLUMNS = ("label", "class", "target", "grade", "pathology", "breast_birads")
_PATIENT_COLUMNS = ("patient", "patient_id", "case", "case_id", "subject")
_FRAME_COLUMNS = ("frame", "frame_index")
#: Optional manifest columns (first name found wins) and the record field they fill.
_OPTIONAL_COLUMNS = {
    "magnification": ("magnification",),
    "subtype": ("subtype",),
    "laterality": ("laterality", "image_laterality", "left or right breast", "side"),
    "view": ("view", "view_position", "image view"),
    "study": ("study", "study_id"),
}
_LATERALITY = {"l": "L", "left": "L", "r": "R", "right": "R"}


@dataclass(frozen=True)
class BreakHisName:
    """The fields of a BreakHis file name."""

    tumor_class: str  # "benign" or "malignant"
    subtype: str  # one of BREAKHIS_SUBTYPES' values
    patient: str  # "<year>-<patient>", e.g. "14-22549AB"
    magnification: str  # "40X", "100X", "200X" or "400X"
    sequence: int


def parse_breakhis_name(file_name: str) -> BreakHisName | None:
    """Parse a BreakHis file name; ``None`` if it does not follow the convention.

    Example:
        >>> parse_breakhis_name("SOB_B_A-14-22549AB-40-001.png")
        BreakHisName(tumor_class='benign', subtype='adenosis', patient='14-22549AB', \
magnification='40X', sequence=1)
    """
    match = _BREAKHIS_NAME.match(Path(file_name).stem)
    if match is None:
        return None
    return BreakHisName(
        tumor_class="benign" if match["cls"] == "B" else "malignant",
        subtype=BREAKHIS_SUBTYPES[match["subtype"]],
        patient=f"{match['year']}-{match['patient']}",
        magnification=f"{int(match['mag'])}X",
        sequence=int(match["seq"]),
    )


def normalise_magnification(text: str) -> str | None:
    """``"10x"`` / ``"10X"`` / ``"10 x"`` -> ``"10X"``; ``None`` if not a magnification."""
    match = _MAGNIFICATION.match(text.strip())
    return f"{match['value']}X" if match else None


def discover(
    root: str | os.PathLike[str],
    layout: str = "auto",
    *,
    label_by: str = "class",
    magnification: str | None = None,
    min_side: int = MIN_SAMPLE_SIDE,
    slides: bool = False,
) -> DatasetIndex:
    """Find every sample under ``root`` and return them as a :class:`DatasetIndex`.

    Args:
        root: dataset folder, or a CSV manifest file.
        layout: one of ``LAYOUTS``; ``"auto"`` detects it.
        label_by: BreakHis only: ``"class"`` (benign/malignant) or ``"subtype"`` (8 types).
        magnification: keep only this magnification (e.g. ``"40X"``) where it is known.
        min_side: images smaller than this on a side are skipped as thumbnails.
        slides: the samples are whole-slide images (SVS, NDPI, MRXS, pyramidal TIFF,
            ...): found by their extensions in a folder (an MRXS slide's data folder is
            not entered), their headers read with OpenSlide, never decoded whole.

    Files that are not samples (masks, thumbnails, hidden files, CSVs, unreadable
    images) are listed in ``index.skipped`` with the reason, never used silently.

    Raises:
        DatasetError: the folder does not exist, holds no usable image, or the layout
            cannot be detected.

    Example:
        >>> index = discover("../shared/data/breakhis_samples")  # doctest: +SKIP
        >>> index.layout, len(index.records)                     # doctest: +SKIP
        ('breakhis', 12)
    """
    root = Path(root).expanduser().resolve()
    if layout not in LAYOUTS:
        raise DatasetError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if label_by not in LABEL_BY:
        raise DatasetError(f"label_by must be one of {LABEL_BY}, not {label_by!r}")
    if not root.exists():
        raise DatasetError(f"dataset path {root} does not exist. Fix: check the path.")
    if root.is_file() or layout == "csv":
        return _from_manifest(root, magnification, min_side, slides)

    candidates, skipped = _walk(root, slides)
    if layout == "auto":
        layout = _detect_layout(root, candidates)
    if layout == "breakhis":
        rows, more_skipped = _breakhis_rows(candidates, label_by)
    elif layout == "databiox":
        rows, more_skipped = _databiox_rows(root, candidates)
    else:
        rows, more_skipped = _folder_rows(root, candidates)
    skipped += more_skipped
    if magnification is not None:
        wanted = normalise_magnification(magnification) or magnification
        rows = [row for row in rows if row.get("magnification") == wanted]
    class_dirs = _class_folders(root) if layout in ("folders", "databiox") else []
    return _build_index(root, layout, rows, skipped, min_side, class_dirs, slides)


def _walk(root: Path, slides: bool = False) -> tuple[list[Path], list[SkippedFile]]:
    """All files below ``root`` that may be samples, and those skipped by rule. With
    ``slides``, an MRXS slide's data folder (``X/`` beside ``X.mrxs``) is not entered."""
    candidates: list[Path] = []
    skipped: list[SkippedFile] = []
    for directory, subdirs, files in os.walk(root):
        if slides:
            mrxs = {Path(name).stem for name in files if Path(name).suffix.lower() == ".mrxs"}
            subdirs[:] = [name for name in subdirs if name not in mrxs]
        subdirs.sort()
        for name in sorted(files):
            path = Path(directory) / name
            reason = skip_reason(path.relative_to(root), root, slides=slides)
            if reason is None:
                candidates.append(path)
            else:
                skipped.append(SkippedFile(str(path), reason))
    return candidates, skipped


def _class_folders(root: Path) -> list[str]:
    return sorted(
        entry.name
        for entry in root.iterdir()
        if entry.is_dir() and skip_reason(Path(entry.name) / "x.png") is None
    )


def _detect_layout(root: Path, candidates: list[Path]) -> str:
    if not candidates:
        raise DatasetError(
            f"no image files found under {root}. Fix: point to the folder that holds "
            "the class folders (or pass a CSV manifest)."
        )
    if sum(parse_breakhis_name(p.name) is not None for p in candidates) > len(candidates) / 2:
        return "breakhis"
    relative = [p.relative_to(root).parts for p in candidates]
    databiox = [
        parts for parts in relative if len(parts) >= 4 and normalise_magnification(parts[2])
    ]
    if len(databiox) > len(candidates) / 2:
        return "databiox"
    if any(len(parts) >= 2 for parts in relative):
        return "folders"
    raise DatasetError(
        f"cannot detect the layout of {root}: images lie directly in it, not in class "
        "folders. Fix: move them into one folder per class, or write a CSV manifest "
        "with 'path' and 'label' columns and pass it instead of the folder."
    )


def _folder_rows(root: Path, candidates: list[Path]) -> tuple[list[dict], list[SkippedFile]]:
    rows, skipped = [], []
    for path in candidates:
        parts = path.relative_to(root).parts
        if len(parts) < 2:
            skipped.append(SkippedFile(str(path), "not inside a class folder"))
        else:
            rows.append({"path": path, "label": parts[0]})
    return rows, skipped


def _breakhis_rows(candidates: list[Path], label_by: str) -> tuple[list[dict], list[SkippedFile]]:
    rows, skipped = [], []
    for path in candidates:
        name = parse_breakhis_name(path.name)
        if name is None:
            skipped.append(SkippedFile(str(path), "name does not follow the BreakHis convention"))
            continue
        rows.append(
            {
                "path": path,
                "label": name.tumor_class if label_by == "class" else name.subtype,
                "patient": name.patient,
                "magnification": name.magnification,
                "subtype": name.subtype,
            }
        )
    return rows, skipped


def _databiox_rows(root: Path, candidates: list[Path]) -> tuple[list[dict], list[SkippedFile]]:
    rows, skipped = [], []
    for path in candidates:
        parts = path.relative_to(root).parts
        magnification = normalise_magnification(parts[2]) if len(parts) >= 4 else None
        if magnification is None:
            skipped.append(
                SkippedFile(str(path), "not at <grade>/<patient>/<magnification>/ depth")
            )
            continue
        rows.append(
            {
                "path": path,
                "label": parts[0],
                "patient": f"{parts[0]}/{parts[1]}",
                "magnification": magnification,
            }
        )
    return rows, skipped


def _from_manifest(
    manifest: Path, magnification: str | None, min_side: int, slides: bool
) -> DatasetIndex:
    if manifest.is_dir():
        found = sorted(manifest.glob("*.csv"))
        if len(found) != 1:
            raise DatasetError(
                f"layout 'csv' needs one manifest; {manifest} holds {len(found)} CSV files. "
                "Fix: pass the manifest file itself."
            )
        manifest = found[0]
    rows = read_manifest(manifest)
    if magnification is not None:
        wanted = normalise_magnification(magnification) or magnification
        rows = [row for row in rows if row.get("magnification") == wanted]
    return _build_index(manifest.parent, "csv", rows, [], min_side, [], slides)


def read_manifest(manifest: Path) -> list[dict]:
    """Read a CSV manifest into row dicts with an absolute ``path``.

    Raises:
        DatasetError: missing columns, empty labels, paths outside the manifest's
            folder (``../`` or absolute), or listed files that do not exist.
    """
    root = manifest.parent.resolve()
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = {name.strip().lower(): name for name in reader.fieldnames or []}
            table = list(reader)
    except (UnicodeDecodeError, csv.Error) as error:
        raise DatasetError(f"cannot read manifest {manifest}: {error}") from None
    path_col = next((columns[c] for c in PATH_COLUMNS if c in columns), None)
    label_col = next((columns[c] for c in _LABEL_COLUMNS if c in columns), None)
    if path_col is None or label_col is None:
        raise DatasetError(
            f"manifest {manifest} needs a path column ({'/'.join(PATH_COLUMNS)}) and a "
            f"label column ({'/'.join(_LABEL_COLUMNS)}); it has {sorted(columns.values())}. "
            "Fix: name the columns in the manifest's first row."
        )
    patient_col = next((columns[c] for c in _PATIENT_COLUMNS if c in columns), None)
    frame_col = next((columns[c] for c in _FRAME_COLUMNS if c in columns), None)
    rows, missing, escaping = [], [], []
    frames: dict[Path, tuple[int, int | None]] = {}  # file -> (first line, its frame)
    for line_number, row in enumerate(table, start=2):
        raw_path = (row.get(path_col) or "").strip()
        label = (row.get(label_col) or "").strip()
        if not raw_path or not label:
            raise DatasetError(
                f"{manifest}, line {line_number}: empty path or label. Fix: fill it or "
                "delete the row."
            )
        path = (root / raw_path).resolve()
        if Path(raw_path).is_absolute() or not path.is_relative_to(root):
            escaping.append(f"line {line_number}: {raw_path}")
            continue
        if not path.is_file():
            missing.append(f"line {line_number}: {raw_path}")
            continue
        entry = {"path": path, "label": label}
        frame = _frame(manifest, line_number, (row.get(frame_col) or "") if frame_col else "")
        first_line, first_frame = frames.setdefault(path, (line_number, frame))
        if frame != first_frame:
            raise DatasetError(
                f"{manifest}, lines {first_line} and {line_number}: {raw_path} is listed "
                f"with frames {first_frame} and {frame}; a file is one sample. Fix: keep one "
                "row per file, or export the frames as single-frame files."
            )
        if frame is not None:
            entry["frame"] = frame
        if patient_col and (row.get(patient_col) or "").strip():
            entry["patient"] = row[patient_col].strip()
        for key, names in _OPTIONAL_COLUMNS.items():
            column = next((columns[c] for c in names if c in columns), "")
            value = (row.get(column) or "").strip()
            if value:
                entry[key] = _manifest_value(key, value)
        rows.append(entry)
    if escaping:
        raise DatasetError(
            f"manifest {manifest} lists absolute paths or paths outside its folder "
            f"({_first(escaping)}). Fix: use paths relative to the manifest's folder, "
            "without '..'."
        )
    if missing:
        raise DatasetError(
            f"manifest {manifest} lists {len(missing)} file(s) that do not exist "
            f"({_first(missing)}). Fix: correct the paths or delete those rows."
        )
    return rows


def _frame(manifest: Path, line_number: int, text: str) -> int | None:
    """A manifest's frame number (``None`` when empty)."""
    text = text.strip()
    if not text:
        return None
    if not text.isdigit():
        raise DatasetError(
            f"{manifest}, line {line_number}: frame {text!r} is not a frame number. Fix: "
            "write 0 for a file's first frame, 1 for the second, ..."
        )
    return int(text)


def _manifest_value(key: str, value: str) -> str:
    if key == "magnification":
        return normalise_magnification(value) or value
    if key == "laterality":
        return _LATERALITY.get(value.lower(), value.upper())
    return value.upper() if key == "view" else value


def _first(items: list[str], limit: int = 5) -> str:
    more = f", and {len(items) - limit} more" if len(items) > limit else ""
    return "; ".join(items[:limit]) + more


def _build_index(
    root: Path,
    layout: str,
    rows: Iterable[dict],
    skipped: list[SkippedFile],
    min_side: int,
    class_dirs: list[str],
    slides: bool = False,
) -> DatasetIndex:
    records: list[ImageRecord] = []
    from_study: list[str] = []
    for row in rows:
        path = Path(row["path"])
        try:
            info = probe_slide(path) if slides else probe_image(path)
        except ImageDecodeError as error:
            skipped.append(SkippedFile(str(path), f"unreadable: {error.reason}"))
            continue
        if min(info.width, info.height) < min_side:
            skipped.append(
                SkippedFile(str(path), f"thumbnail-sized ({info.width}x{info.height} px)")
            )
            continue
        header = info.dicom
        frames, frame = header.frames if header else 1, row.get("frame")
        if frame is None and frames > 1:
            skipped.append(
                SkippedFile(
                    str(path),
                    f"multi-frame: {frames} frames and none chosen (a CSV manifest's frame "
                    "column chooses one)",
                )
            )
            continue
        if frame is not None and frame >= frames:
            skipped.append(
                SkippedFile(str(path), f"no such frame: frame {frame} of {frames} frame(s)")
            )
            continue
        if header is not None and not row.get("patient") and header.patient_from != "PatientID":
            from_study.append(str(path))
        records.append(
            ImageRecord(
                path=str(path),
                label=row["label"],
                patient=row.get("patient") or (header.patient if header else None),
                magnification=row.get("magnification"),
                subtype=row.get("subtype"),
                width=info.width,
                height=info.height,
                tf_native=info.tf_native,
                laterality=row.get("laterality") or (header.laterality if header else None),
                view=row.get("view") or (header.view if header else None),
                study=row.get("study") or (header.study if header else None),
                frame=frame if header else None,
            )
        )
    if from_study:
        warnings.warn(
            f"{len(from_study)} DICOM file(s) have no PatientID (e.g. {from_study[0]}); "
            "their StudyInstanceUID stands in for the patient, so two studies of one "
            "woman may fall on both sides of a split. Fix: add a patient column to a "
            "CSV manifest.",
            PatientIdWarning,
            stacklevel=3,
        )
    if not records:
        raise DatasetError(
            f"no usable image found in {root} (layout {layout}; {len(skipped)} file(s) "
            "skipped). Fix: check the path and layout; `bcnet-tf inspect` lists the "
            "skipped files and why."
        )
    labels = sorted({record.label for record in records})
    empty = sorted(set(class_dirs) - set(labels))
    return DatasetIndex(root, layout, records, labels, skipped, empty)
