"""``evaluate``: a run (or a saved model on a dataset) -> metrics.json, pictures, report.

What is evaluated:

* a run directory: its ``best.keras`` on a part of its own saved split (``test`` by
  default), so the test images are the ones training never saw;
* a ``.keras`` file and ``data=DIR``: every image of ``DIR``.

A whole-slide model (``TileSpec.whole_slide``) is evaluated per slide: every tissue tile
classified, the tiles aggregated (mean, top-k mean, or the run's attention-MIL head),
and the report shows heat maps of tile probabilities over the slides' thumbnails.

The label order always comes from the model file; a dataset label the model does not
know is an error, never a silent re-mapping.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from bcnet_tf.console import progress_bar
from bcnet_tf.data.mammo import preprocess_of
from bcnet_tf.data.pipeline import load_files
from bcnet_tf.data.records import DatasetIndex, ImageRecord
from bcnet_tf.data.splits import Split
from bcnet_tf.errors import BcnetError
from bcnet_tf.evaluation import plots
from bcnet_tf.evaluation.bootstrap import bootstrap_intervals
from bcnet_tf.evaluation.calibration import apply_temperature, fit_temperature, reliability
from bcnet_tf.evaluation.metrics import classification_metrics, group_metrics
from bcnet_tf.evaluation.predict import predict_records
from bcnet_tf.evaluation.report import write_report
from bcnet_tf.explain.gradcam import grad_cam
from bcnet_tf.explain.overlay import overlay
from bcnet_tf.explain.slides import SlidePrediction, attention_head, predict_slide, slide_maps
from bcnet_tf.explain.tiled import predict_tiled, tiled_grad_cam
from bcnet_tf.io import atomic_write_json, atomic_write_text, refuse_inside_dataset
from bcnet_tf.models.diagram import model_diagram
from bcnet_tf.models.saving import ModelInfo, load_model
from bcnet_tf.pathology.settings import from_model_extra
from bcnet_tf.training.run_dir import ModelSource, RunDir, resolve_source


@dataclass
class Evaluation:
    """What ``evaluate`` measured; ``summary`` is what ``metrics.json`` holds."""

    out_dir: Path
    class_names: list[str]
    records: list[ImageRecord]
    y_true: np.ndarray
    probabilities: np.ndarray
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, Any]:
        return self.summary["metrics"]


def _check_labels(info: ModelInfo, index: DatasetIndex, records: list[ImageRecord]) -> None:
    unknown = sorted({r.label for r in records} - set(info.class_names))
    if unknown:
        raise BcnetError(
            f"the dataset {index.root} has labels {unknown} that the model does not know "
            f"(it was trained on {list(info.class_names)}). Fix: evaluate on data with the "
            "model's label set (rename the class folders), or train a model on these labels."
        )


def _examples(records: list[ImageRecord], indices: np.ndarray, index: DatasetIndex) -> list[str]:
    return [index.relative(records[i]) for i in indices]


def _pictures(
    evaluation: Evaluation,
    model: keras.Model,
    info: ModelInfo,
    source: ModelSource,
    before: Any,
    after: Any,
    examples: int,
    slides: dict[str, SlidePrediction] | None = None,
) -> dict[str, str]:
    """Write every picture; returns ``{title: file name}`` in report order. ``slides``:
    whole-slide mode's predictions by path."""
    out, names = evaluation.out_dir, evaluation.class_names
    y_true, probabilities, records = evaluation.y_true, evaluation.probabilities, evaluation.records
    files: dict[str, str] = {}

    def save(title: str, name: str, figure: Any) -> None:
        plots.save_figure(figure, out / name)
        files[title] = name

    history = RunDir(source.run_dir).read_history() if source.run_dir else []
    if history:
        save("Training curves", "training_curves.png", plots.training_curves(history))
    matrix = np.array(evaluation.metrics["confusion_matrix"])
    save("Confusion matrix", "confusion_matrix.png", plots.confusion_matrices(matrix, names))
    save("ROC curves", "roc_curves.png", plots.roc_curves(y_true, probabilities, names))
    save("Reliability diagram", "reliability.png", plots.reliability_diagram(before, after))

    losses = -np.log(np.clip(probabilities[np.arange(len(y_true)), y_true], 1e-12, 1))
    worst = np.argsort(-losses)[:examples]
    per_class = [np.flatnonzero(y_true == k)[:1] for k in range(len(names))]
    shown = np.concatenate(per_class).astype(int)
    if slides is not None:  # whole slides: heat maps over thumbnails, no pixels loaded
        chosen = list(dict.fromkeys([*shown.tolist(), *worst.tolist()]))
        maps, titles = _slide_maps([slides[records[i].path] for i in chosen], names)
        labels = _examples(records, np.array(chosen), source.index)
        save(
            "Slide heat maps: each tissue tile's probability of the slide's predicted class "
            "(and attention weights, with an attention-MIL head); one slide per class, then "
            "the top losses",
            "slide_heat_maps.png",
            plots.heat_grid(maps, [f"{a}\n{b}" for a, b in zip(labels, titles, strict=True)]),
        )
        model_diagram(model, out / "model.png")
        files["Model diagram"] = "model.png"
        return files
    stain, _ = from_model_extra(info.extra)
    preprocess = preprocess_of(info.extra)
    worst_images = load_files([records[i] for i in worst], info.image_size, stain, preprocess)
    worst_titles = _examples(records, worst, source.index)
    save(
        "Top losses",
        "top_losses.png",
        plots.top_losses(worst_images, y_true[worst], probabilities[worst], names, worst_titles),
    )
    shown_images = load_files([records[i] for i in shown], info.image_size, stain, preprocess)
    save(
        "Class probabilities per image",
        "probabilities.png",
        plots.probability_bars(
            shown_images, probabilities[shown], names, _examples(records, shown, source.index)
        ),
    )
    explained, heat, classes = _grad_cams(
        model, info, [records[i] for i in np.concatenate([shown, worst])]
    )
    overlays = [overlay(image, h) for image, h in zip(explained, heat, strict=True)]
    titles = [
        f"{title}\nGrad-CAM: {names[c]}"
        for title, c in zip(
            _examples(records, shown, source.index) + worst_titles, classes, strict=True
        )
    ]
    save(
        "Grad-CAM (one image per class, then the top losses)",
        "gradcam.png",
        plots.heat_grid(overlays, titles),
    )
    model_diagram(model, out / "model.png")
    files["Model diagram"] = "model.png"
    return files


def _slide_maps(
    predictions: list[SlidePrediction], names: list[str]
) -> tuple[list[np.ndarray], list[str]]:
    """Heat maps over each slide's thumbnail (:func:`slide_maps`, side by side), and
    what each shows."""
    maps, titles = [], []
    for prediction in predictions:
        target = int(np.argmax(prediction.probabilities))
        maps.append(np.concatenate(slide_maps(prediction, target), axis=1))
        extra = " | attention" if prediction.attention is not None else ""
        titles.append(f"p({names[target]}) per tile{extra}")
    return maps, titles


def _grad_cams(
    model: keras.Model, info: ModelInfo, records: list[ImageRecord]
) -> tuple[list[np.ndarray], list[np.ndarray], list[int]]:
    """Images, Grad-CAM maps and explained classes for the report; in tile mode the
    whole image with its map stitched from the tiles."""
    stain, tiles = from_model_extra(info.extra)
    if tiles is None:
        images = load_files(records, info.image_size, stain, preprocess_of(info.extra))
        heat, classes = grad_cam(model, images)
        return list(images), list(heat), [int(c) for c in classes]
    images, maps, classes = [], [], []
    for record in records:
        prediction = predict_tiled(model, record.path, tiles, stain)
        images.append(prediction.image[: prediction.height, : prediction.width])
        maps.append(tiled_grad_cam(model, prediction))
        classes.append(int(np.argmax(prediction.probabilities)))
    return images, maps, classes


def evaluate(
    source: str | Path,
    *,
    data: str | None = None,
    split: str = "test",
    tta: bool = False,
    temperature: bool = False,
    resamples: int = 1000,
    out: str | None = None,
    examples: int = 8,
    batch_size: int = 32,
    trust: bool = False,
    seed: int = 0,
) -> Evaluation:
    """Evaluate a run or a saved model; write metrics.json, pictures and report.html.

    Args:
        source: a run directory (its ``best.keras`` on its saved split) or a ``.keras``
            file (with ``data``).
        data: dataset folder; for a run, overrides the run's data (same layout).
        split: the run's part to evaluate: ``test``, ``val`` or ``train``.
        tta: average flips and 90-degree rotations (see ``tta_views``).
        temperature: fit temperature scaling on the run's validation part and report
            calibration after it.
        resamples: bootstrap resamples for the 95 % intervals (0: none); see
            :mod:`bcnet_tf.evaluation.bootstrap` for degenerate resamples and refusals.
        out: output folder (default: ``<run>/evaluation-<split>``).
        examples: images in the top-losses grid.
        trust: allow code (Lambda layers) in the model file.

    Example:
        >>> result = evaluate("saved_models/resnet9-busi_256", temperature=True)  # doctest: +SKIP
        >>> result.metrics["balanced_accuracy"]                          # doctest: +SKIP
        0.87
    """
    resolved = resolve_source(Path(source), data, split, out)
    refuse_inside_dataset(resolved.out_dir, resolved.index.root)
    model, info = load_model(resolved.model_path, trust=trust)
    names = list(info.class_names)
    _check_labels(info, resolved.index, resolved.records)

    stain, tiles = from_model_extra(info.extra)
    slides: dict[str, SlidePrediction] | None = None
    if tiles is not None and tiles.whole_slide:
        slides = {}
        mil = attention_head(resolved.model_path, tiles, trust)

    def predict(records: list[ImageRecord]) -> tuple[np.ndarray, np.ndarray]:
        if slides is None:  # images (or their tiles, aggregated)
            return predict_records(model, info, records, tta=tta, batch_size=batch_size)
        for r in progress_bar(records, desc="predict (slides)", leave=False, unit="slide"):
            slides[r.path] = predict_slide(
                model, r.path, tiles, stain, mil=mil, tta=tta, batch_size=batch_size
            )
        truth = np.array([names.index(r.label) for r in records])
        return np.stack([slides[r.path].probabilities for r in records]), truth

    probabilities, y_true = predict(resolved.records)
    groups, unit = _resampling_units(resolved)
    metrics = classification_metrics(y_true, probabilities, names)
    if unit == "patient":
        metrics.update(group_metrics(y_true, probabilities, groups))
    before = reliability(y_true, probabilities)
    calibration: dict[str, Any] = {"before": before.to_json()}
    after = None
    if temperature:
        if resolved.split is None or not resolved.split.val:
            raise BcnetError("temperature scaling needs a run with a validation part.")
        val_probabilities, val_true = predict(resolved.split.val)
        fitted = fit_temperature(val_true, val_probabilities)
        after = reliability(y_true, apply_temperature(probabilities, fitted))
        calibration.update(temperature=fitted, after=after.to_json())
    bootstrap = bootstrap_intervals(
        y_true, probabilities, names, groups, unit=unit, resamples=resamples, seed=seed
    )
    out_dir = resolved.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = {
        "model": str(resolved.model_path),
        "architecture": info.architecture,
        "parameters": int(model.count_params()),
        "image_size": list(info.image_size),
        "data": str(resolved.index.root),
        "layout": resolved.index.layout,
        "split": resolved.part,
        "class_names": names,
        "class_counts": {n: int((y_true == k).sum()) for k, n in enumerate(names)},
        "tta": tta,
        "bootstrap": bootstrap.to_json(),
        "metrics": metrics,
        "intervals": bootstrap.intervals,
        "calibration": calibration,
        "split_summary": _split_summary(resolved.split, names),
        "config": resolved.config.to_json() if resolved.config else None,
    }
    evaluation = Evaluation(out_dir, names, resolved.records, y_true, probabilities, summary)
    _write_predictions(evaluation, resolved.index)
    summary["pictures"] = _pictures(
        evaluation, model, info, resolved, before, after, examples, slides
    )
    summary["model_summary"] = _model_summary(model)
    atomic_write_json(out_dir / "metrics.json", summary)
    write_report(out_dir, summary)
    return evaluation


def _resampling_units(source: ModelSource) -> tuple[list[str] | None, str]:
    """What the bootstrap resamples: patients; else the duplicate groups the split
    kept together (near-copies are not independent); else images."""
    patients = [r.patient for r in source.records]
    if all(patients):
        return patients, "patient"
    if source.split is not None and source.split.group_by == "duplicates":
        return [source.split.groups[r.path] for r in source.records], "duplicate group"
    return None, "image"


def _split_summary(split: Split | None, names: list[str]) -> dict[str, dict[str, int]]:
    if split is None:
        return {}
    return {
        part: {name: sum(r.label == name for r in records) for name in names}
        for part, records in split.parts.items()
    }


def _model_summary(model: keras.Model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda line, **_: lines.append(line), line_length=100)
    return "\n".join(lines)


def _write_predictions(evaluation: Evaluation, index: DatasetIndex) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    names = evaluation.class_names
    writer.writerow(["path", "label", "predicted", *(f"p_{n}" for n in names)])
    for record, truth, probs in zip(
        evaluation.records, evaluation.y_true, evaluation.probabilities, strict=True
    ):
        writer.writerow(
            [index.relative(record), names[truth], names[int(np.argmax(probs))]]
            + [f"{p:.6f}" for p in probs]
        )
    atomic_write_text(evaluation.out_dir / "predictions.csv", buffer.getvalue())
