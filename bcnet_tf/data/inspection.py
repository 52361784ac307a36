"""What ``bcnet-tf inspect`` reports: counts, sizes, skipped files and problems."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from bcnet_tf.data.dicom import DEFAULT_WINDOW_PERCENTILES, is_dicom, read_dicom_header
from bcnet_tf.data.duplicates import NEAR_DUPLICATE_DISTANCE, duplicate_groups, hash_images
from bcnet_tf.data.records import DatasetIndex
from bcnet_tf.errors import ImageDecodeError


@dataclass
class InspectionReport:
    """Everything ``inspect`` found; ``problems`` is empty for a clean dataset."""

    root: str
    layout: str
    num_images: int
    class_counts: dict[str, int]
    patients_per_class: dict[str, int]
    magnification_counts: dict[str, dict[str, int]]
    subtype_counts: dict[str, int]
    size_range: dict[str, list[int]]
    skipped: dict[str, list[str]]
    exact_duplicates: list[list[str]]
    near_duplicates: list[list[str]]
    problems: list[str] = field(default_factory=list)
    dicom: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``bcnet-tf inspect --json``)."""
        return asdict(self)

    def format(self, max_listed: int = 5) -> str:
        """Human-readable report, as ``bcnet-tf inspect`` prints it."""
        lines = [
            f"dataset: {self.root}",
            f"layout: {self.layout} (detected)" if self.layout else "",
            f"images: {self.num_images} in {len(self.class_counts)} classes",
        ]
        width = max(len(name) for name in self.class_counts)
        for name, count in self.class_counts.items():
            extra = []
            if name in self.patients_per_class:
                extra.append(f"{self.patients_per_class[name]} patients")
            if name in self.magnification_counts:
                mags = self.magnification_counts[name]
                extra.append(", ".join(f"{m}: {n}" for m, n in mags.items()))
            suffix = f"  ({'; '.join(extra)})" if extra else ""
            lines.append(f"  {name:<{width}}  {count:>6}{suffix}")
        if self.patients_per_class:
            lines.append(f"patients: {sum(self.patients_per_class.values())}")
        if self.magnification_counts:
            totals: Counter[str] = Counter()
            for mags in self.magnification_counts.values():
                totals.update(mags)
            lines.append("magnifications: " + ", ".join(f"{m}: {n}" for m, n in totals.items()))
        if self.subtype_counts:
            lines.append(
                f"subtypes ({len(self.subtype_counts)}): "
                + ", ".join(f"{name}: {n}" for name, n in self.subtype_counts.items())
            )
        sizes = self.size_range
        lines.append(
            f"image size: width {sizes['width'][0]}-{sizes['width'][1]}, "
            f"height {sizes['height'][0]}-{sizes['height'][1]} px"
        )
        lines += _dicom_lines(self.dicom, max_listed)
        skipped_total = sum(len(paths) for paths in self.skipped.values())
        lines.append(f"skipped files: {skipped_total}")
        for reason, paths in self.skipped.items():
            shown = ", ".join(paths[:max_listed]) + (" ..." if len(paths) > max_listed else "")
            lines.append(f"  {len(paths)} x {reason}: {shown}")
        lines.append(f"problems: {len(self.problems) or 'none'}")
        lines.extend(f"  - {problem}" for problem in self.problems)
        return "\n".join(line for line in lines if line)


def inspect_dataset(
    index: DatasetIndex,
    *,
    check_duplicates: bool = True,
    near_duplicate_distance: int = NEAR_DUPLICATE_DISTANCE,
    progress: bool = True,
) -> InspectionReport:
    """Summarise a dataset and list its problems.

    Decodes every image (so truncated files are found) and, with ``check_duplicates``,
    groups exact and near-duplicate images by hash.

    Example:
        >>> report = inspect_dataset(discover("busi_256"))  # doctest: +SKIP
        >>> print(report.format())                          # doctest: +SKIP
    """
    skipped: dict[str, list[str]] = defaultdict(list)
    problems: list[str] = []
    for item in index.skipped:
        kind, _, detail = item.reason.partition(":")
        skipped[kind].append(index.relative(item.path))
        if detail:  # unreadable files: say why, per file
            problems.append(f"{kind} image {index.relative(item.path)}:{detail}")

    hashes = hash_images(index.records, progress=progress)
    records = []  # the images that decode; an unreadable one is counted as skipped only
    for record, item in zip(index.records, hashes, strict=True):
        if item.error is None:
            records.append(record)
        else:
            skipped["unreadable"].append(index.relative(record))
            problems.append(f"unreadable image {index.relative(record)}: {item.error}")
    patients: dict[str, set[str]] = defaultdict(set)
    magnifications: dict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        if record.patient:
            patients[record.label].add(record.patient)
        if record.magnification:
            magnifications[record.label][record.magnification] += 1
    exact, near = [], []
    if check_duplicates:
        exact = _groups(index, [h.sha256 or id(h) for h in hashes])
        near = _groups(index, duplicate_groups(hashes, near_duplicate_distance))
        near = [group for group in near if group not in exact]
        by_path = {index.relative(r): r.label for r in records}
        for group in exact + near:
            labels = sorted({by_path[path] for path in group})
            if len(labels) > 1:
                problems.append(f"duplicate images with different labels {labels}: {group}")
        if exact:
            problems.append(f"{len(exact)} groups of exact duplicate images")
        if near:
            problems.append(
                f"{len(near)} groups of near-duplicate images (perceptual hash distance "
                f"<= {near_duplicate_distance}, pixels verified); splits keep each group on "
                "one side"
            )
    dicom = _dicom_summary(index)
    if dicom.get("patient_name_files"):
        problems.append(
            f"{len(dicom['patient_name_files'])} DICOM file(s) carry a PatientName (possible "
            "PHI); bcnet_tf never copies it into its outputs, but de-identify the data "
            "before sharing it"
        )
    found = Counter(record.label for record in records)
    counts = {name: found[name] for name in index.class_names}
    problems += [f"class folder '{name}' holds no usable image" for name in index.empty_classes]
    if len(counts) < 2:
        problems.append(f"only one class ({next(iter(counts))}); a classifier needs two or more")
    problems += [
        f"class '{name}' comes from a single patient: its test results cannot generalise"
        for name, ids in sorted(patients.items())
        if len(ids) == 1
    ]
    return InspectionReport(
        root=str(index.root),
        layout=index.layout,
        num_images=len(records),
        class_counts=counts,
        patients_per_class={name: len(ids) for name, ids in sorted(patients.items())},
        magnification_counts={
            name: dict(sorted(c.items(), key=lambda kv: float(kv[0][:-1])))
            for name, c in sorted(magnifications.items())
        },
        subtype_counts=dict(sorted(Counter(r.subtype for r in records if r.subtype).items())),
        size_range={
            "width": [min(r.width for r in records), max(r.width for r in records)],
            "height": [min(r.height for r in records), max(r.height for r in records)],
        },
        skipped=dict(skipped),
        exact_duplicates=exact,
        near_duplicates=near,
        problems=problems,
        dicom=dicom,
    )


def _dicom_summary(index: DatasetIndex) -> dict[str, Any]:
    """What the DICOM headers say, counted (empty when there is no DICOM file)."""
    headers = []
    for record in index.records:
        if is_dicom(record.path):
            try:
                headers.append((record, read_dicom_header(record.path)))
            except ImageDecodeError:
                continue  # listed as unreadable already
    if not headers:
        return {}

    def count(values: list[Any]) -> dict[str, int]:
        return dict(sorted(Counter(str(v) for v in values).items()))

    records = [record for record, _ in headers]
    return {
        "files": len(headers),
        "patients": len({r.patient for r in records if r.patient}),
        "studies": len({r.study for r in records if r.study}),
        "patient_from_study": sum(h.patient_from == "StudyInstanceUID" for _, h in headers),
        "views": count([r.view or "unknown" for r in records]),
        "lateralities": count([r.laterality or "unknown" for r in records]),
        "photometrics": count([h.photometric for _, h in headers]),
        "bits_stored": count([h.bits_stored for _, h in headers]),
        "transfer_syntaxes": count([h.transfer_syntax for _, h in headers]),
        "multi_frame": sum(h.frames > 1 for _, h in headers),
        "default_window": sum(not h.windowed for _, h in headers),
        "patient_name_files": [index.relative(r) for r, h in headers if h.has_patient_name],
    }


def _dicom_lines(dicom: dict[str, Any], max_listed: int) -> list[str]:
    if not dicom:
        return []

    def listed(counts: dict[str, int]) -> str:
        return ", ".join(f"{name}: {n}" for name, n in counts.items())

    low, high = DEFAULT_WINDOW_PERCENTILES
    lines = [
        f"DICOM files: {dicom['files']} ({dicom['patients']} patients, {dicom['studies']} studies)",
        f"  views: {listed(dicom['views'])}",
        f"  lateralities: {listed(dicom['lateralities'])}",
        f"  photometric interpretations: {listed(dicom['photometrics'])}",
        f"  bits stored: {listed(dicom['bits_stored'])}",
        f"  transfer syntaxes: {listed(dicom['transfer_syntaxes'])}",
    ]
    if dicom["patient_from_study"]:
        lines.append(
            f"  {dicom['patient_from_study']} file(s) without PatientID: the study stands "
            "in for the patient"
        )
    if dicom["default_window"]:
        lines.append(
            f"  {dicom['default_window']} file(s) give no VOI LUT or window: the default "
            f"window ({low}-{high} percentiles of the tissue values) applies"
        )
    if dicom["multi_frame"]:
        lines.append(f"  {dicom['multi_frame']} multi-frame file(s): refused, choose a frame")
    names = dicom["patient_name_files"]
    if names:
        shown = ", ".join(names[:max_listed]) + (" ..." if len(names) > max_listed else "")
        lines.append(f"  {len(names)} file(s) carry a PatientName (possible PHI): {shown}")
    return lines


def _groups(index: DatasetIndex, group_ids: list) -> list[list[str]]:
    """Paths of every group id shared by two or more records."""
    members: dict[Any, list[str]] = defaultdict(list)
    for record, group in zip(index.records, group_ids, strict=True):
        members[group].append(index.relative(record))
    return [paths for paths in members.values() if len(paths) > 1]
