"""The evaluation's pictures, as PNG files written atomically.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot state, no GUI backend),
so plotting works headless and in threads.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay

from bcnet_tf.evaluation.calibration import Reliability
from bcnet_tf.io import atomic_write_bytes


def save_figure(figure: Figure, path: str | os.PathLike[str]) -> Path:
    """Render ``figure`` to PNG at ``path`` atomically."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return atomic_write_bytes(path, buffer.getvalue())


def training_curves(history: Sequence[dict[str, float]]) -> Figure:
    """Loss and accuracy per epoch, training and validation (from ``history.csv``)."""
    figure = Figure(figsize=(10, 3.6))
    epochs = [int(row["epoch"]) + 1 for row in history]
    for axis, metric in zip(figure.subplots(1, 2), ("loss", "accuracy"), strict=True):
        for prefix, style in (("", "-o"), ("val_", "-s")):
            if history and f"{prefix}{metric}" in history[0]:
                values = [row[f"{prefix}{metric}"] for row in history]
                label = f"{prefix or 'train_'}{metric}"
                axis.plot(epochs, values, style, markersize=3, label=label)
        axis.set_xlabel("epoch")
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    return figure


def confusion_matrices(matrix: np.ndarray, class_names: Sequence[str]) -> Figure:
    """The confusion matrix as counts and row-normalised (recall on the diagonal)."""
    figure = Figure(figsize=(11, 4.6))
    counts_axis, normalised_axis = figure.subplots(1, 2)
    matrix = np.asarray(matrix)
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
    ConfusionMatrixDisplay(matrix, display_labels=list(class_names)).plot(
        ax=counts_axis, colorbar=False, cmap="Blues", values_format="d"
    )
    ConfusionMatrixDisplay(normalised, display_labels=list(class_names)).plot(
        ax=normalised_axis, colorbar=False, cmap="Blues", values_format=".2f"
    )
    counts_axis.set_title("counts")
    normalised_axis.set_title("row-normalised (recall)")
    for axis in (counts_axis, normalised_axis):
        axis.tick_params(axis="x", labelrotation=30)
    return figure


def roc_curves(y_true: np.ndarray, probabilities: np.ndarray, class_names: Sequence[str]) -> Figure:
    """One-vs-rest ROC curve of every class present in ``y_true``, with its AUC."""
    figure = Figure(figsize=(5.2, 5))
    axis = figure.subplots()
    for k, name in enumerate(class_names):
        positives = y_true == k
        if 0 < positives.sum() < len(y_true):
            RocCurveDisplay.from_predictions(positives, probabilities[:, k], name=name, ax=axis)
    axis.plot([0, 1], [0, 1], ":", color="grey")
    axis.set_title("ROC, one-vs-rest")
    return figure


#: The metrics of the per-fold figure, with their axis labels.
FOLD_METRICS = {
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
    "macro_f1": "macro F1",
    "roc_auc_macro": "ROC-AUC (macro)",
}


def fold_metrics(per_fold: Sequence[dict[str, float]], protocol: str) -> Figure:
    """Each fold's score as a dot (one colour per repeat) beside each metric's mean ± sd
    over the folds; the title names the protocol."""
    figure = Figure(figsize=(8, 4))
    axis = figure.subplots()
    repeats = sorted({int(fold["repeat"]) for fold in per_fold})
    for x, key in enumerate(FOLD_METRICS):
        values = np.array([fold[key] for fold in per_fold], dtype=float)
        for repeat in repeats:
            at = [int(fold["repeat"]) == repeat for fold in per_fold]
            spread = np.linspace(-0.15, 0.15, int(np.sum(at))) if np.sum(at) > 1 else [0.0]
            axis.plot(x - 0.1 + np.asarray(spread), values[at], "o", color=f"C{repeat}", alpha=0.7)
        sd = np.std(values, ddof=1) if len(values) > 1 else 0.0
        axis.errorbar(x + 0.25, values.mean(), yerr=sd, fmt="s", color="black", capsize=5)
        axis.annotate(
            f"{values.mean():.3f} ± {sd:.3f}", (x + 0.32, values.mean()), fontsize=8, va="center"
        )
    axis.set_xticks(range(len(FOLD_METRICS)), list(FOLD_METRICS.values()))
    axis.set_xlim(-0.5, len(FOLD_METRICS) - 0.1)
    axis.set_ylabel("score on the held-out fold")
    axis.grid(axis="y", alpha=0.3)
    axis.set_title(f"{protocol}: folds (dots), mean ± sd (squares)", fontsize=10)
    return figure


def reliability_diagram(before: Reliability, after: Reliability | None = None) -> Figure:
    """Accuracy against confidence per bin; the diagonal is perfect calibration."""
    figure = Figure(figsize=(5.2, 5))
    axis = figure.subplots()
    centres = (before.edges[:-1] + before.edges[1:]) / 2
    width = before.edges[1] - before.edges[0]
    axis.bar(
        centres,
        np.nan_to_num(before.accuracy),
        width=width * 0.9,
        alpha=0.6,
        label=f"model (ECE {before.ece:.3f})",
        edgecolor="black",
    )
    if after is not None:
        axis.plot(
            centres,
            after.accuracy,
            "o-",
            color="darkred",
            label=f"temperature-scaled (ECE {after.ece:.3f})",
        )
    axis.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    axis.set_xlabel("confidence")
    axis.set_ylabel("accuracy")
    axis.set_title("reliability diagram")
    axis.legend(loc="upper left")
    return figure


def _image_grid(count: int, columns: int, cell: float = 2.4) -> tuple[Figure, np.ndarray]:
    rows = max(1, int(np.ceil(count / columns)))
    figure = Figure(figsize=(cell * columns, cell * rows * 1.15))
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    for axis in axes:
        axis.axis("off")
    return figure, axes


def top_losses(
    images: np.ndarray,
    y_true: np.ndarray,
    probabilities: np.ndarray,
    class_names: Sequence[str],
    titles: Sequence[str],
    columns: int = 4,
) -> Figure:
    """fastai's ``plot_top_losses``: the worst images, titled predicted / actual /
    loss / probability of the actual class."""
    figure, axes = _image_grid(len(images), columns)
    for axis, image, truth, probs, title in zip(
        axes, images, y_true, probabilities, titles, strict=False
    ):
        axis.imshow(image)
        predicted = int(np.argmax(probs))
        loss = -np.log(max(probs[truth], 1e-12))
        axis.set_title(
            f"{class_names[predicted]} / {class_names[truth]}\n"
            f"loss {loss:.2f} / p {probs[truth]:.2f}\n{title}",
            fontsize=7,
        )
    figure.suptitle("top losses: predicted / actual / loss / probability of actual")
    return figure


def probability_bars(
    images: np.ndarray,
    probabilities: np.ndarray,
    class_names: Sequence[str],
    titles: Sequence[str],
) -> Figure:
    """Each image beside a bar chart of its class probabilities (study 002)."""
    figure = Figure(figsize=(8, 2.2 * len(images)))
    axes = figure.subplots(len(images), 2, squeeze=False)
    positions = np.arange(len(class_names))
    for (image_axis, bar_axis), image, probs, title in zip(
        axes, images, probabilities, titles, strict=True
    ):
        image_axis.imshow(image)
        image_axis.axis("off")
        image_axis.set_title(title, fontsize=8)
        bar_axis.barh(positions, probs, color="steelblue")
        bar_axis.set_yticks(positions, list(class_names))
        bar_axis.set_xlim(0, 1)
        bar_axis.invert_yaxis()
        bar_axis.set_xlabel("probability")
    return figure


def heat_grid(images: Sequence[np.ndarray], titles: Sequence[str], columns: int = 4) -> Figure:
    """A grid of (overlay) images with titles."""
    figure, axes = _image_grid(len(images), columns)
    for axis, image, title in zip(axes, images, titles, strict=False):
        axis.imshow(image)
        axis.set_title(title, fontsize=7)
    return figure


def guard_scores(scores: dict[str, np.ndarray], threshold: float) -> Figure:
    """The input guard's score distributions, one histogram per group of images
    (in-distribution and out-of-distribution), on a log scale, with the threshold."""
    figure = Figure(figsize=(8, 3.6))
    axis = figure.subplots()
    values = np.concatenate([np.asarray(v, float) for v in scores.values()])
    positive = values[values > 0]
    low, high = (positive.min(), positive.max()) if len(positive) else (1e-3, 1.0)
    bins = np.geomspace(min(low, threshold) / 1.1, max(high, threshold) * 1.1, 40)
    for name, group in scores.items():
        axis.hist(
            np.clip(group, bins[0], None), bins=bins, alpha=0.5, label=f"{name} ({len(group)})"
        )
    axis.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.3g}")
    axis.set_xscale("log")
    axis.set_xlabel("guard score (Mahalanobis distance to the nearest class mean)")
    axis.set_ylabel("images")
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    return figure
