"""Leak-free train/validation/test splits and k-fold cross-validation.

Images of one patient — or copies of one image — on both sides of a split make
test accuracy look better than it is (Spanhol et al. 2016 showed this on BreakHis).
Splits here are therefore *grouped* and *class-stratified* with scikit-learn's
``StratifiedGroupKFold``:

* ``group_by="patient"``    — groups are patient ids (BreakHis, Databiox, CSV);
* ``group_by="duplicates"`` — without patient ids, exact and near-duplicate images
  (perceptual hash) form a group, so copies never straddle parts;
* ``group_by="image"``      — no grouping; only when asked for, with a warning.

A :class:`Split` saves to JSON beside a run and loads back against the dataset.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from bcnet_tf.data.duplicates import duplicate_groups, hash_images
from bcnet_tf.data.records import DatasetIndex, ImageRecord
from bcnet_tf.errors import DatasetError, LeakageError
from bcnet_tf.io import atomic_write_json

PARTS = ("train", "val", "test")
GROUPINGS = ("auto", "patient", "duplicates", "image")
_FORMAT = "bcnet_tf.split/1"


class LeakageWarning(UserWarning):
    """An image-level split was asked for: patients or duplicates may straddle parts."""


@dataclass
class Split:
    """Records of each part, the group of every record, and how the split was made.

    Example (two images for each of ten patients):
        >>> from pathlib import Path
        >>> records = [ImageRecord(f"/data/{label}/{p}_{i}.png", label, patient=f"{label}{p}")
        ...            for label in ("benign", "malignant") for p in range(5) for i in range(2)]
        >>> index = DatasetIndex(Path("/data"), "folder", records, ["benign", "malignant"])
        >>> split = split_dataset(index, val=0.2, test=0.2, seed=0, progress=False)
        >>> split.group_by, len(split.train), len(split.val), len(split.test)
        ('patient', 12, 4, 4)
        >>> split.save("run/split.json")  # doctest: +SKIP
    """

    parts: dict[str, list[ImageRecord]]
    groups: dict[str, str]  # record path -> group id
    group_by: str
    seed: int
    class_names: list[str]
    settings: dict[str, float] = field(default_factory=dict)

    @property
    def train(self) -> list[ImageRecord]:
        return self.parts.get("train", [])

    @property
    def val(self) -> list[ImageRecord]:
        return self.parts.get("val", [])

    @property
    def test(self) -> list[ImageRecord]:
        return self.parts.get("test", [])

    def check(self) -> None:
        """Raise :class:`LeakageError` if a group (patient, duplicate set) is in two parts.

        Image-level splits are not checked: their leakage was accepted when made.
        """
        if self.group_by == "image":
            return
        seen: dict[str, str] = {}
        for part, records in self.parts.items():
            for record in records:
                group = self.groups[record.path]
                first = seen.setdefault(group, part)
                if first != part:
                    raise LeakageError(
                        f"{self.group_by} group {group!r} is in both '{first}' and '{part}' "
                        f"(e.g. {record.path}). Fix: rebuild the split with split_dataset()."
                    )

    def save(self, path: str | os.PathLike[str], root: str | os.PathLike[str]) -> Path:
        """Write the split as JSON (paths relative to the dataset ``root``), atomically."""
        root = Path(root)

        def entry(record: ImageRecord) -> dict[str, str]:
            relative = Path(record.path).relative_to(root).as_posix()
            return {"path": relative, "label": record.label, "group": self.groups[record.path]}

        return atomic_write_json(
            path,
            {
                "format": _FORMAT,
                "group_by": self.group_by,
                "seed": self.seed,
                "settings": self.settings,
                "class_names": self.class_names,
                "parts": {
                    part: [entry(r) for r in records] for part, records in self.parts.items()
                },
            },
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str], index: DatasetIndex) -> Split:
        """Load a saved split and match it to the records of ``index``.

        Raises:
            DatasetError: the file is not a split, or lists images that are missing
                from the dataset or now carry another label.
            LeakageError: the saved split leaks (it was edited by hand).
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise DatasetError(f"cannot read split file {path}: {error}") from None
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise DatasetError(f"{path} is not a bcnet_tf split file (format {_FORMAT}).")
        by_path = {index.relative(record): record for record in index.records}
        parts: dict[str, list[ImageRecord]] = {}
        groups: dict[str, str] = {}
        for part, entries in data["parts"].items():
            parts[part] = []
            for item in entries:
                record = by_path.get(item["path"])
                if record is None or record.label != item["label"]:
                    problem = "is missing" if record is None else f"is now '{record.label}'"
                    raise DatasetError(
                        f"split {path} lists {item['path']} ({item['label']}), which {problem} "
                        f"in {index.root}. Fix: restore the file, or make a new split."
                    )
                parts[part].append(record)
                groups[record.path] = item["group"]
        split = cls(
            parts,
            groups,
            data["group_by"],
            data["seed"],
            data["class_names"],
            data.get("settings", {}),
        )
        split.check()
        return split


def resolve_grouping(index: DatasetIndex, group_by: str) -> str:
    """``"auto"`` becomes ``"patient"`` when every record has a patient id, else
    ``"duplicates"``; other values are returned as they are."""
    if group_by != "auto":
        return group_by
    return "patient" if index.has_patients() else "duplicates"


def record_groups(index: DatasetIndex, group_by: str = "auto", progress: bool = True) -> list[str]:
    """The group id of each record for ``group_by`` (see the module docstring)."""
    group_by = resolve_grouping(index, group_by)
    if group_by == "patient":
        if not index.has_patients():
            raise DatasetError(
                f"group_by='patient' but {index.root} ({index.layout} layout) has no patient "
                "ids. Fix: add a 'patient' column to a CSV manifest, or use "
                "group_by='duplicates'."
            )
        return [f"patient:{record.patient}" for record in index.records]
    if group_by == "duplicates":
        hashes = hash_images(index.records, progress=progress)
        return [f"dup:{group}" for group in duplicate_groups(hashes)]
    if group_by == "image":
        return [f"image:{i}" for i in range(len(index.records))]
    raise DatasetError(f"group_by must be one of {', '.join(GROUPINGS)}, not {group_by!r}")


def _hold_out(
    labels: np.ndarray, groups: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Positions kept and held out (about ``fraction`` of them), grouped and stratified."""
    n_splits = max(2, round(1 / fraction))
    if len(np.unique(groups)) < n_splits:
        raise DatasetError(
            f"cannot hold out {fraction:.0%} by group: only {len(np.unique(groups))} groups "
            f"(patients or duplicate sets) for {n_splits} folds. Fix: collect more patients, "
            "or lower the validation/test fraction."
        )
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        keep, held = next(folds.split(np.zeros(len(labels)), labels, groups))
    return keep, held


def split_dataset(
    index: DatasetIndex,
    *,
    val: float = 0.15,
    test: float = 0.15,
    seed: int = 0,
    group_by: str = "auto",
    progress: bool = True,
) -> Split:
    """Split ``index`` into train/val/test, grouped and class-stratified.

    Fractions are met as closely as whole groups allow (the held-out part is one fold
    of ``round(1/fraction)`` stratified group folds). ``val=0`` or ``test=0`` omits that
    part.

    Raises:
        DatasetError: fewer than two classes, or too few groups for the fractions.

    Example:
        >>> split = split_dataset(discover("breakhis"), test=0.3, val=0.1, seed=1)  # doctest: +SKIP
        >>> split.check()  # raises LeakageError if a patient were in two parts   # doctest: +SKIP
    """
    if not 0 <= val < 1 or not 0 <= test < 1 or val + test >= 1:
        raise DatasetError(f"val={val} and test={test} must be in [0, 1) and sum below 1.")
    if len(index.class_names) < 2:
        raise DatasetError(
            f"{index.root} has one class ({index.class_names[0]}): a classifier needs two "
            "or more. Fix: check the layout or the label column."
        )
    grouping = resolve_grouping(index, group_by)
    groups = np.array(record_groups(index, grouping, progress))
    labels = np.array(index.label_ids())
    remaining = np.arange(len(labels))
    held: dict[str, np.ndarray] = {}
    for part, fraction in (("test", test), ("val", val)):
        if fraction > 0:
            share = fraction / (len(remaining) / len(labels))
            keep, out = _hold_out(labels[remaining], groups[remaining], share, seed)
            held[part], remaining = remaining[out], remaining[keep]
    positions = {"train": remaining, **held}
    records = index.records
    split = Split(
        parts={p: [records[i] for i in sorted(positions[p])] for p in PARTS if p in positions},
        groups={record.path: str(group) for record, group in zip(records, groups, strict=True)},
        group_by=grouping,
        seed=seed,
        class_names=list(index.class_names),
        settings={"val": val, "test": test},
    )
    if grouping == "image":
        _warn_image_level(index, split)
    split.check()
    return split


def kfold_splits(
    index: DatasetIndex,
    k: int = 5,
    *,
    seed: int = 0,
    group_by: str = "auto",
    val: float = 0.0,
    progress: bool = True,
) -> list[Split]:
    """``k`` grouped, stratified folds: each :class:`Split` has ``train`` and ``test``,
    and with ``val > 0`` also a ``val`` part (about that fraction of the whole dataset,
    held out of the fold's training part, grouped and stratified too), so a fold can
    choose its checkpoint without looking at its test part.

    Example (one image for each of ten patients):
        >>> from pathlib import Path
        >>> records = [ImageRecord(f"/data/{label}/{p}.png", label, patient=f"{label}{p}")
        ...            for label in ("benign", "malignant") for p in range(5)]
        >>> index = DatasetIndex(Path("/data"), "folder", records, ["benign", "malignant"])
        >>> [len(fold.test) for fold in kfold_splits(index, k=5, seed=0, progress=False)]
        [2, 2, 2, 2, 2]
    """
    grouping = resolve_grouping(index, group_by)
    groups = np.array(record_groups(index, grouping, progress))
    labels = np.array(index.label_ids())
    if len(np.unique(groups)) < k:
        raise DatasetError(
            f"{k}-fold needs at least {k} groups; {index.root} has {len(np.unique(groups))}. "
            "Fix: use fewer folds."
        )
    folds = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    group_of = {record.path: str(g) for record, g in zip(index.records, groups, strict=True)}
    splits = []
    for fold, (train, test) in enumerate(folds.split(np.zeros(len(labels)), labels, groups)):
        positions = {"train": train, "test": test}
        if val > 0:
            share = val / (len(train) / len(labels))
            keep, out = _hold_out(labels[train], groups[train], share, seed)
            positions = {"train": train[keep], "val": train[out], "test": test}
        split = Split(
            parts={part: [index.records[i] for i in sorted(at)] for part, at in positions.items()},
            groups=group_of,
            group_by=grouping,
            seed=seed,
            class_names=list(index.class_names),
            settings={"k": k, "fold": fold, "val": val},
        )
        split.check()
        splits.append(split)
    if grouping == "image":
        _warn_image_level(index, splits[0])
    return splits


def _warn_image_level(index: DatasetIndex, split: Split) -> None:
    if index.has_patients():
        part_of = {}
        for part, records in split.parts.items():
            for record in records:
                part_of.setdefault(record.patient, set()).add(part)
        straddling = sum(len(parts) > 1 for parts in part_of.values())
        risk = f"{straddling} of {len(part_of)} patients have images in more than one part"
    else:
        risk = "exact and near-duplicate images can land in both train and test"
    warnings.warn(
        f"image-level split of {index.root}: {risk}, so validation and test accuracy "
        "will be optimistic. Use group_by='patient' or 'duplicates' for reportable results.",
        LeakageWarning,
        stacklevel=3,
    )
