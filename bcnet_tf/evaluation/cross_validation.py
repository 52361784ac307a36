"""``cross_validation_report``: a cross-validation's folds -> one report.

Each fold's best model predicts the fold it never saw (its ``test`` part), so every
image gets one out-of-fold prediction per repeat. The report gives:

* per fold: the scalar metrics; over the folds, their mean and sample standard
  deviation (the BreakHis protocol's mean ± sd);
* pooled: every out-of-fold prediction together, as one evaluation: metrics with
  bootstrap intervals resampling patients or duplicate groups (with repeats, a group
  carries all its predictions into a resample), the confusion matrix, ROC curves and
  calibration.

It writes ``cv_report.json``, ``out_of_fold.csv``, the figures and ``report.html`` into
``<cv folder>/evaluation``. An image-level (leaking) protocol says so in each.

Example:
    >>> report = cross_validation_report("saved_models/resnet9-busi_256-cv5")  # doctest: +SKIP
    >>> report.summary["folds"]["accuracy"]                                    # doctest: +SKIP
    {'mean': 0.84, 'sd': 0.03}
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bcnet_tf.data.layouts import discover
from bcnet_tf.data.records import DatasetIndex, ImageRecord
from bcnet_tf.data.synthetic import synthetic_dataset
from bcnet_tf.evaluation import plots
from bcnet_tf.evaluation.bootstrap import bootstrap_intervals
from bcnet_tf.evaluation.calibration import reliability
from bcnet_tf.evaluation.metrics import SCALAR_METRICS, classification_metrics, group_metrics
from bcnet_tf.evaluation.predict import predict_records
from bcnet_tf.evaluation.report import write_cv_report
from bcnet_tf.io import atomic_write_json, atomic_write_text, refuse_inside_dataset
from bcnet_tf.models.saving import load_model
from bcnet_tf.training.cross_validation import CrossValidation
from bcnet_tf.training.run_dir import RunDir

#: What the bootstrap resamples for each grouping.
_UNITS = {"patient": "patient", "duplicates": "duplicate group", "image": "image"}


@dataclass
class OutOfFold:
    """Every out-of-fold prediction: row ``i`` is ``records[i]`` predicted by the model
    of fold ``fold[i]`` of repeat ``repeat[i]``."""

    records: list[ImageRecord]
    y_true: np.ndarray
    probabilities: np.ndarray
    repeat: np.ndarray
    fold: np.ndarray
    groups: list[str]
    class_names: list[str]


@dataclass
class CrossValidationReport:
    """What ``cross_validation_report`` measured; ``summary`` is ``cv_report.json``."""

    out_dir: Path
    predictions: OutOfFold
    summary: dict[str, Any]


def out_of_fold_predictions(
    cv: CrossValidation, index: DatasetIndex, *, tta: bool = False, batch_size: int = 32
) -> OutOfFold:
    """Each fold's best model on its own ``test`` part, all folds together.

    Example:
        >>> cv = CrossValidation.load("saved_models/resnet9-busi_256-cv5")  # doctest: +SKIP
        >>> len(out_of_fold_predictions(cv, discover("busi_256")).records)  # doctest: +SKIP
        780
    """
    records: list[ImageRecord] = []
    parts: dict[str, list[Any]] = {"y": [], "p": [], "repeat": [], "fold": [], "groups": []}
    names: list[str] = []
    for position, path in enumerate(cv.folds):
        files = RunDir(path)
        split = files.read_split(index)
        model, info = load_model(files.best)
        names = list(info.class_names)
        probabilities, y_true = predict_records(
            model, info, split.test, tta=tta, batch_size=batch_size
        )
        records += split.test
        parts["y"].append(y_true)
        parts["p"].append(probabilities)
        parts["repeat"].append(np.full(len(y_true), position // cv.k))
        parts["fold"].append(np.full(len(y_true), position % cv.k))
        parts["groups"] += [split.groups[r.path] for r in split.test]
    return OutOfFold(
        records,
        np.concatenate(parts["y"]),
        np.concatenate(parts["p"]),
        np.concatenate(parts["repeat"]),
        np.concatenate(parts["fold"]),
        parts["groups"],
        names,
    )


def fold_statistics(per_fold: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and sample standard deviation (``ddof=1``) of each scalar metric over folds.

    Example:
        >>> fold_statistics([{"accuracy": 0.8}, {"accuracy": 0.9}])["accuracy"]
        {'mean': 0.85, 'sd': 0.0707}
    """
    return {
        name: {
            "mean": round(float(np.mean(values)), 4),
            "sd": round(float(np.std(values, ddof=1)), 4) if len(values) > 1 else 0.0,
        }
        for name in SCALAR_METRICS
        if name in per_fold[0]
        for values in [[fold[name] for fold in per_fold]]
    }


def cross_validation_report(
    source: str | Path,
    *,
    tta: bool = False,
    resamples: int = 1000,
    out: str | Path | None = None,
    batch_size: int = 32,
    seed: int = 0,
) -> CrossValidationReport:
    """Per-fold metrics, mean ± sd, and the pooled out-of-fold evaluation of the
    cross-validation in folder ``source``; writes the report (see the module).

    Args:
        source: a folder that :func:`~bcnet_tf.training.cross_validate` wrote.
        tta: average flips and 90-degree rotations (not for ultrasound or mammograms).
        resamples: bootstrap resamples of the pooled intervals (0: none).
        out: output folder (default: ``<source>/evaluation``).

    Example:
        >>> report = cross_validation_report("saved_models/resnet9-busi_256-cv5")  # doctest: +SKIP
        >>> report.summary["pooled"]["accuracy"], report.summary["intervals"]["accuracy"]
        ... # doctest: +SKIP
        (0.84, [0.81, 0.87])
    """
    cv = CrossValidation.load(source)
    config = cv.config
    index = discover(
        config.data or synthetic_dataset(),
        config.layout,
        label_by=config.label_by,
        magnification=config.magnification,
    )
    out_dir = Path(out) if out else cv.path / "evaluation"
    refuse_inside_dataset(out_dir, index.root)
    oof = out_of_fold_predictions(cv, index, tta=tta, batch_size=batch_size)
    names = oof.class_names
    per_fold = []
    for position in range(len(cv.folds)):
        rows = (oof.repeat == position // cv.k) & (oof.fold == position % cv.k)
        scores = classification_metrics(oof.y_true[rows], oof.probabilities[rows], names)
        per_fold.append(
            {
                "repeat": position // cv.k,
                "fold": position % cv.k,
                "run": cv.folds[position].name,
                **{key: scores[key] for key in ("n", *SCALAR_METRICS)},
            }
        )
    pooled = classification_metrics(oof.y_true, oof.probabilities, names)
    if cv.group_by == "patient":
        pooled.update(group_metrics(oof.y_true, oof.probabilities, oof.groups))
    bootstrap = bootstrap_intervals(
        oof.y_true,
        oof.probabilities,
        names,
        None if cv.leaking else oof.groups,
        unit=_UNITS[cv.group_by],
        resamples=resamples,
        seed=seed,
    )
    calibration = reliability(oof.y_true, oof.probabilities)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {
        **{key: value for key, value in cv.to_json().items() if key != "format"},
        "data": str(index.root),
        "class_names": names,
        "tta": tta,
        "per_fold": per_fold,
        "folds": fold_statistics(per_fold),
        "metrics": pooled,
        "intervals": bootstrap.intervals,
        "bootstrap": bootstrap.to_json(),
        "calibration": {"before": calibration.to_json()},
    }
    _write_predictions(out_dir, oof, index)
    summary["pictures"] = _pictures(out_dir, oof, summary, calibration)
    atomic_write_json(out_dir / "cv_report.json", summary)
    write_cv_report(out_dir, summary)
    return CrossValidationReport(out_dir, oof, summary)


def _pictures(out_dir: Path, oof: OutOfFold, summary: dict[str, Any], calibration) -> dict:
    """Write the figures; returns ``{title: file name}`` in report order."""
    figures = {
        "Metrics per fold, with their mean ± sd": (
            "per_fold.png",
            plots.fold_metrics(summary["per_fold"], summary["protocol"]),
        ),
        "Confusion matrix, out-of-fold predictions pooled": (
            "confusion_matrix.png",
            plots.confusion_matrices(
                np.array(summary["metrics"]["confusion_matrix"]), oof.class_names
            ),
        ),
        "ROC curves, out-of-fold predictions pooled": (
            "roc_curves.png",
            plots.roc_curves(oof.y_true, oof.probabilities, oof.class_names),
        ),
        "Reliability diagram, out-of-fold predictions pooled": (
            "reliability.png",
            plots.reliability_diagram(calibration),
        ),
    }
    for name, figure in figures.values():
        plots.save_figure(figure, out_dir / name)
    return {title: name for title, (name, _) in figures.items()}


def _write_predictions(out_dir: Path, oof: OutOfFold, index: DatasetIndex) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    names = oof.class_names
    writer.writerow(
        ["path", "label", "predicted", "repeat", "fold", "group", *(f"p_{n}" for n in names)]
    )
    for i, record in enumerate(oof.records):
        probabilities = oof.probabilities[i]
        writer.writerow(
            [
                index.relative(record),
                names[oof.y_true[i]],
                names[int(np.argmax(probabilities))],
                int(oof.repeat[i]),
                int(oof.fold[i]),
                oof.groups[i],
                *(f"{p:.6f}" for p in probabilities),
            ]
        )
    atomic_write_text(out_dir / "out_of_fold.csv", buffer.getvalue())
