"""Classification metrics of study 004 and the usual ones, from labels and probabilities.

Everything is computed with NumPy from the confusion matrix (and, for ROC-AUC, from
ranks: the Mann-Whitney statistic, ties counted half), cheaply enough for a thousand
bootstrap resamples. Precision, recall and F1 follow scikit-learn's definitions with
``zero_division=0``; G-mean and the index of balanced accuracy (IBA, García et al.
2009) follow imbalanced-learn's (``geometric_mean_score`` and
``make_index_balanced_accuracy(alpha=0.1, squared=True)``). The tests check every
metric against scikit-learn and imbalanced-learn, on asymmetric cases and with ties.

* G-mean: geometric mean of the per-class recalls.
* IBA, binary: ``(1 + alpha * (sensitivity - specificity)) * gmean**2`` with the second
  class as positive; multiclass: the mean of each class's one-vs-rest IBA.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import rankdata

IBA_ALPHA = 0.1

#: The scalar metrics that get bootstrap confidence intervals.
SCALAR_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "macro_precision",
    "macro_recall",
    "macro_specificity",
    "macro_f1",
    "weighted_f1",
    "gmean",
    "iba",
    "roc_auc_macro",
)


def _one_vs_rest(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class sensitivity and specificity from a confusion matrix (rows = truth)."""
    total = matrix.sum()
    true_pos = np.diag(matrix).astype(float)
    actual = matrix.sum(axis=1).astype(float)
    predicted = matrix.sum(axis=0).astype(float)
    true_neg = total - actual - predicted + true_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        sensitivity = np.where(actual > 0, true_pos / actual, 0.0)
        specificity = np.where(total - actual > 0, true_neg / (total - actual), 0.0)
    return sensitivity, specificity


def gmean_and_iba(matrix: np.ndarray, alpha: float = IBA_ALPHA) -> tuple[float, float]:
    """G-mean and squared IBA (imbalanced-learn's definitions) from a confusion matrix.

    Example:
        >>> [round(value, 4) for value in gmean_and_iba(np.array([[3, 1], [1, 1]]))]
        [0.6124, 0.3656]
    """
    sensitivity, specificity = _one_vs_rest(matrix)
    present = matrix.sum(axis=1) > 0
    gmean = float(np.prod(sensitivity[present]) ** (1 / max(present.sum(), 1)))
    if len(matrix) == 2:
        return gmean, float((1 + alpha * (sensitivity[1] - specificity[1])) * gmean**2)
    per_class = (1 + alpha * (sensitivity - specificity)) * sensitivity * specificity
    return gmean, float(per_class[present].mean())


def _roc_auc(y_true: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """One-vs-rest ROC-AUC per class (the Mann-Whitney statistic); NaN for a class
    absent (or alone) in ``y_true``."""
    ranks = rankdata(probabilities, axis=0)  # ties get their average rank
    positives = y_true[:, None] == np.arange(probabilities.shape[1])
    n_pos = positives.sum(axis=0)
    n_neg = len(y_true) - n_pos
    rank_sum = (ranks * positives).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


def _safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, 0 where the denominator is 0 (``zero_division=0``)."""
    return np.divide(numerator, denominator, out=np.zeros(len(numerator)), where=denominator > 0)


def classification_metrics(
    y_true: Sequence[int] | np.ndarray,
    probabilities: np.ndarray,
    class_names: Sequence[str],
) -> dict[str, Any]:
    """Every metric of the evaluation report for one set of predictions.

    Args:
        y_true: true class ids (positions in ``class_names``).
        probabilities: ``(n, n_classes)`` predicted probabilities; the prediction is
            the arg-max.
        class_names: names of the classes, in output order.

    Returns:
        A JSON-ready dict: the :data:`SCALAR_METRICS`, ``per_class`` (precision, recall,
        specificity, F1, ROC-AUC, support per class) and ``confusion_matrix``.

    Example:
        >>> m = classification_metrics([0, 1, 1], np.array([[.9, .1], [.2, .8], [.6, .4]]),
        ...                            ["benign", "malignant"])
        >>> round(m["accuracy"], 3), m["confusion_matrix"]
        (0.667, [[1, 0], [1, 1]])
    """
    y_true = np.asarray(y_true, dtype=int)
    probabilities = np.asarray(probabilities, dtype=float)
    n_classes = len(class_names)
    y_pred = probabilities.argmax(axis=1)
    matrix = np.bincount(y_true * n_classes + y_pred, minlength=n_classes**2).reshape(
        n_classes, n_classes
    )
    true_pos = np.diag(matrix).astype(float)
    support, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
    precision = _safe_ratio(true_pos, predicted)
    recall = _safe_ratio(true_pos, support)
    f1 = _safe_ratio(2 * true_pos, support + predicted)
    _, specificity = _one_vs_rest(matrix)
    auc = _roc_auc(y_true, probabilities)
    gmean, iba = gmean_and_iba(matrix)
    present = support > 0
    weights = support / max(support.sum(), 1)
    return {
        "n": len(y_true),
        "accuracy": float(np.mean(y_pred == y_true)),
        "balanced_accuracy": float(recall[present].mean()),
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "macro_specificity": float(specificity.mean()),
        "macro_f1": float(f1.mean()),
        "weighted_precision": float(weights @ precision),
        "weighted_recall": float(weights @ recall),
        "weighted_f1": float(weights @ f1),
        "gmean": gmean,
        "iba": iba,
        "roc_auc_macro": float(np.nanmean(auc)) if np.isfinite(auc).any() else float("nan"),
        "per_class": {
            name: {
                "precision": float(precision[k]),
                "recall": float(recall[k]),
                "specificity": float(specificity[k]),
                "f1": float(f1[k]),
                "roc_auc": float(auc[k]),
                "support": int(support[k]),
            }
            for k, name in enumerate(class_names)
        },
        "confusion_matrix": matrix.tolist(),
    }


def group_metrics(
    y_true: Sequence[int] | np.ndarray,
    probabilities: np.ndarray,
    groups: Sequence[str],
) -> dict[str, float]:
    """Patient-level accuracy and the patient recognition rate (Spanhol et al. 2016).

    * ``patient_accuracy``: each patient's images' probabilities are averaged; the
      patient counts as right when the arg-max is the patient's (majority) true class.
    * ``patient_recognition_rate``: mean over patients of the share of that patient's
      images classified right.

    Example:
        >>> group_metrics([0, 0, 1], np.array([[.9, .1], [.4, .6], [.3, .7]]), ["a", "a", "b"])
        {'patients': 2, 'patient_accuracy': 1.0, 'patient_recognition_rate': 0.75}
    """
    y_true = np.asarray(y_true, dtype=int)
    probabilities = np.asarray(probabilities, dtype=float)
    groups = np.asarray(groups)
    correct_images = probabilities.argmax(axis=1) == y_true
    patient_right, image_rates = [], []
    for group in np.unique(groups):
        members = groups == group
        truth = np.bincount(y_true[members]).argmax()
        patient_right.append(probabilities[members].mean(axis=0).argmax() == truth)
        image_rates.append(correct_images[members].mean())
    return {
        "patients": len(patient_right),
        "patient_accuracy": float(np.mean(patient_right)),
        "patient_recognition_rate": float(np.mean(image_rates)),
    }
