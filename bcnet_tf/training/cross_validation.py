"""``cross_validate``: one resumable run per grouped, stratified fold.

The dataset is cut into ``k`` folds that keep each patient (or set of near-duplicate
images) on one side (:func:`~bcnet_tf.data.splits.kfold_splits`); each fold trains an
ordinary run (:func:`~bcnet_tf.training.engine.train`) whose ``test`` part is the
fold, and whose ``val`` part, held out of the other folds, chooses the checkpoint.
``repeats`` repeats the whole with new fold seeds. The folder holds::

    cv.json                  the protocol: k, repeats, grouping, seeds, fold runs
    repeat<r>-fold<i>/       one run directory per fold (resumed when it exists)

Each fold is resumed where it stopped, so re-running the same command finishes an
interrupted cross-validation. ``group_by="image"`` puts near-duplicates (or one
patient's images) on both sides of a fold: a *leaking* protocol, kept only to measure
how optimistic such published numbers are; it is labelled so wherever it shows.
The pooled out-of-fold report is
:func:`~bcnet_tf.evaluation.cross_validation.cross_validation_report`.

Example:
    >>> result = cross_validate(TrainConfig(model="resnet9", data="busi_256",
    ...                                     image_size=64), k=5)  # doctest: +SKIP
    >>> result.folds[0].as_posix()                                 # doctest: +SKIP
    'saved_models/resnet9-busi_256-cv5/repeat0-fold0'
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bcnet_tf.data.layouts import discover
from bcnet_tf.data.splits import kfold_splits, resolve_grouping
from bcnet_tf.data.synthetic import synthetic_dataset
from bcnet_tf.errors import BcnetError
from bcnet_tf.io import atomic_write_json, refuse_inside_dataset
from bcnet_tf.training.config import TrainConfig
from bcnet_tf.training.engine import train
from bcnet_tf.training.run_dir import RunDir
from bcnet_tf.training.run_setup import default_run_dir

PROTOCOL_FILE = "cv.json"
_FORMAT = "bcnet_tf.cv/1"


def protocol_name(group_by: str, k: int, repeats: int = 1) -> str:
    """How the protocol is named in every output; image-level grouping says it leaks.

    Example:
        >>> protocol_name("duplicates", 5)
        'duplicate-aware 5-fold CV'
        >>> protocol_name("image", 5, repeats=2)
        'image-level 5-fold CV x2 (LEAKING: near-duplicates and patients straddle folds)'
    """
    grouping = {"patient": "patient-wise", "duplicates": "duplicate-aware", "image": "image-level"}
    name = f"{grouping[group_by]} {k}-fold CV" + (f" x{repeats}" if repeats > 1 else "")
    if group_by == "image":
        name += " (LEAKING: near-duplicates and patients straddle folds)"
    return name


@dataclass(frozen=True)
class CrossValidation:
    """The folder of a cross-validation and its protocol (what ``cv.json`` holds).

    ``folds`` are the run directories in order: repeat 0's ``k`` folds, then repeat 1's.
    """

    path: Path
    k: int
    repeats: int
    group_by: str
    seeds: list[int]
    folds: list[Path]
    config: TrainConfig

    @property
    def leaking(self) -> bool:
        """Whether the folds let near-duplicates or patients straddle train and test."""
        return self.group_by == "image"

    @property
    def protocol(self) -> str:
        return protocol_name(self.group_by, self.k, self.repeats)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "protocol": self.protocol,
            "leaking": self.leaking,
            "k": self.k,
            "repeats": self.repeats,
            "group_by": self.group_by,
            "seeds": self.seeds,
            "folds": [fold.name for fold in self.folds],
            "config": self.config.to_json(),
        }

    @classmethod
    def load(cls, path: str | Path) -> CrossValidation:
        """The cross-validation in folder ``path`` (its ``cv.json``)."""
        path = Path(path)
        try:
            data = json.loads((path / PROTOCOL_FILE).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise BcnetError(
                f"{path} is not a cross-validation folder ({PROTOCOL_FILE}: {error}). "
                "Fix: pass the folder that `bcnet-tf cv` wrote."
            ) from None
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise BcnetError(f"{path / PROTOCOL_FILE} is not a bcnet_tf cross-validation file.")
        return cls(
            path,
            data["k"],
            data["repeats"],
            data["group_by"],
            data["seeds"],
            [path / name for name in data["folds"]],
            TrainConfig.from_json(data["config"], str(path / PROTOCOL_FILE)),
        )


def default_cv_dir(config: TrainConfig, k: int, group_by: str) -> Path:
    """``saved_models/<model>-<data name>-cv<k>``, with ``-image-level`` when leaking.

    Example:
        >>> default_cv_dir(TrainConfig(model="resnet9", data="data/busi_256"), 5, "image")
        PosixPath('saved_models/resnet9-busi_256-cv5-image-level')
    """
    suffix = "-image-level" if group_by == "image" else ""
    return Path(f"{default_run_dir(config)}-cv{k}{suffix}")


def cross_validate(
    config: TrainConfig | None = None,
    *,
    k: int = 5,
    repeats: int = 1,
    group_by: str | None = None,
    **settings: Any,
) -> CrossValidation:
    """Train one run per fold of ``repeats`` x ``k``-fold cross-validation; resumable.

    Args:
        config: the settings of every fold's run; keyword ``settings`` override its
            fields. ``config.run_dir`` is the cross-validation folder (default:
            :func:`default_cv_dir`); ``config.val`` the validation fraction held out
            of each fold's training part; ``config.split_seed`` the first fold seed.
        k: folds.
        repeats: repetitions, repeat ``r`` with fold seed ``split_seed + r``.
        group_by: ``patient``, ``duplicates``, ``image`` (leaking) or ``auto``
            (default: ``config.group_by``).

    Raises:
        BcnetError: bad settings or data, or a folder made with another protocol.

    Example:
        >>> cv = cross_validate(model="resnet9", data="busi_256", k=5, repeats=2,
        ...                     weights=None, image_size=64)  # doctest: +SKIP
        >>> len(cv.folds)                                    # doctest: +SKIP
        10
    """
    config = replace(config, **settings) if config is not None else TrainConfig(**settings)
    if k < 2 or repeats < 1:
        raise BcnetError(f"cross-validation needs k >= 2 and repeats >= 1 (k={k}, {repeats}).")
    if config.val <= 0:
        raise BcnetError("each fold needs a validation part to choose its checkpoint: val > 0.")
    index = discover(
        config.data or synthetic_dataset(),
        config.layout,
        label_by=config.label_by,
        magnification=config.magnification,
    )
    grouping = resolve_grouping(index, group_by or config.group_by)
    path = Path(config.run_dir) if config.run_dir else default_cv_dir(config, k, grouping)
    refuse_inside_dataset(path, index.root, flag="--run-dir")
    seeds = [config.split_seed + r for r in range(repeats)]
    folds = [path / f"repeat{r}-fold{i}" for r in range(repeats) for i in range(k)]
    cv = CrossValidation(path, k, repeats, grouping, seeds, folds, replace(config, run_dir=None))
    _load_or_write_protocol(cv)
    for r, seed in enumerate(seeds):
        pending = [fold for fold in folds[r * k : (r + 1) * k] if not RunDir(fold).split.exists()]
        if pending:
            splits = kfold_splits(index, k, seed=seed, group_by=grouping, val=config.val)
            for fold, split in zip(folds[r * k : (r + 1) * k], splits, strict=True):
                if fold in pending:
                    RunDir(fold).write_split(split, index)
        for i, fold in enumerate(folds[r * k : (r + 1) * k]):
            print(f"{cv.protocol}: repeat {r}, fold {i} -> {fold}")
            train(
                config,
                run_dir=str(fold),
                group_by=grouping,
                split_seed=seed,
                test=round(1 / k, 6),
            )
    return cv


def _load_or_write_protocol(cv: CrossValidation) -> None:
    """Write ``cv.json`` in a new folder; refuse a folder made with another protocol."""
    file = cv.path / PROTOCOL_FILE
    if file.exists():
        saved = CrossValidation.load(cv.path)
        if saved.to_json() != cv.to_json():
            raise BcnetError(
                f"{cv.path} holds a cross-validation made with other settings "
                f"({saved.protocol}). Fix: run the same command to resume it, or choose "
                "another --run-dir."
            )
        return
    cv.path.mkdir(parents=True, exist_ok=True)
    atomic_write_json(file, cv.to_json())
