"""``export``: a run (or model) -> a verified, self-describing bundle in ``saved_models/``.

A bundle holds::

    model.keras                 the Keras model (its label list inside)
    saved_model/                lean SavedModel (weights stored once)
    model_<quantize>.tflite     float32, float16, dynamic-range, int8
    guard.npz                   the input guard's class means and covariance
    guard_scores.png            the guard's scores: held-out images against probes
    labels.txt                  one class per line, in output order
    spec.json                   labels, input size and preprocessing, every artifact
                                with its verification, the recommended TFLite file
    metrics.json                the evaluation the model card quotes (when there is one)
    MODEL_CARD.md               intended use, data, metrics with CIs, limitations
    SHA256SUMS                  checksums of every file (``sha256sum -c SHA256SUMS``)

Every artifact is run on held-out images and compared with the Keras model before the
bundle is made final, and gets its own input-guard threshold, set on held-out
in-distribution images (:mod:`bcnet_tf.export.guard`). The bundle is built in a hidden
sibling folder and renamed into place, so a crash or a full disk leaves the previous
bundle as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from bcnet_tf import __version__
from bcnet_tf.data.checks import check_image, colour_mode
from bcnet_tf.data.mammo import preprocess_of
from bcnet_tf.data.pipeline import load_files
from bcnet_tf.data.records import ImageRecord
from bcnet_tf.data.tiles import load_tiles
from bcnet_tf.edge.benchmark import (
    SUMS_FILE,
    BenchmarkSettings,
    apply_benchmark,
    benchmark_bundle,
    bundle_checksums,
    static_recommendation,
)
from bcnet_tf.edge.guard import GUARD_FILE
from bcnet_tf.edge.predictor import SPEC_FILE
from bcnet_tf.edge.runtime import FEATURES, PROBABILITIES, TFLiteModel
from bcnet_tf.errors import BcnetError
from bcnet_tf.evaluation.plots import guard_scores, save_figure
from bcnet_tf.export.activations import spell_out_hard_swish
from bcnet_tf.export.bias import correct_biases
from bcnet_tf.export.card import model_card
from bcnet_tf.export.convert import (
    QUANTIZATIONS,
    float32_model,
    tflite_model,
    write_saved_model,
)
from bcnet_tf.export.equalize import equalize_channels
from bcnet_tf.export.guard import acceptance_threshold, fit_feature_guard
from bcnet_tf.io import atomic_directory, refuse_inside_dataset
from bcnet_tf.models.factory import FEATURE_LAYER, with_features
from bcnet_tf.models.saving import ModelInfo, load_model, save_model
from bcnet_tf.pathology.settings import from_model_extra
from bcnet_tf.training.run_dir import ModelSource, RunDir, resolve_source

FORMATS = ("keras", "savedmodel", "tflite")
BUNDLE_FORMAT = "bcnet_tf.bundle/1"
#: Largest max |probability difference| a float artifact may show against Keras.
FLOAT_TOLERANCE = {"keras": 1e-5, "savedmodel": 1e-4, "float32": 1e-3, "float16": 5e-2}


class ExportError(BcnetError):
    """An artifact failed its verification; no bundle was written."""


@dataclass
class ExportResult:
    """Where the bundle is, what it holds (``spec``), and which TFLite file to ship."""

    bundle: Path
    spec: dict[str, Any]

    @property
    def recommended(self) -> str:
        return self.spec["recommended"]


def _sample(records: list[ImageRecord], count: int, seed: int) -> list[ImageRecord]:
    order = np.random.default_rng(seed).permutation(len(records))[:count]
    return [records[i] for i in sorted(order)]


@dataclass
class _Parts:
    """The records an export draws on: training, held-out (verification) and the part
    that sets the guard's threshold, with the names of the last two."""

    train: list[ImageRecord]
    held_out: list[ImageRecord]
    threshold: list[ImageRecord]
    held_out_name: str
    threshold_name: str


def _parts(source: ModelSource, seed: int) -> _Parts:
    if source.split is not None:
        held_out_name = "test" if source.split.test else "val"
        threshold_name = "val" if source.split.val else held_out_name
        parts = source.split.parts
        train, held_out = source.split.train, parts.get(held_out_name, [])
        threshold = parts.get(threshold_name, [])
    else:  # a model file on a dataset: two disjoint random halves
        order = np.random.default_rng(seed).permutation(len(source.records))
        half = len(order) // 2
        held_out = [source.records[i] for i in sorted(order[:half])]
        train = [source.records[i] for i in sorted(order[half:])]
        threshold, held_out_name, threshold_name = held_out, "held-out half", "held-out half"
    if not train or not held_out:
        raise BcnetError("export needs training images (calibration) and held-out images.")
    return _Parts(train, held_out, threshold, held_out_name, threshold_name)


def _load(
    records: list[ImageRecord], info: ModelInfo, count: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """A seeded sample of ``count`` records as the model takes them (at most ``count``
    tissue tiles for a tile-mode model), and each image's (tile's) label id."""
    records = _sample(records, count, seed)
    labels = np.array([info.class_names.index(r.label) for r in records])
    stain, tiles = from_model_extra(info.extra)
    if tiles is None:
        preprocess = preprocess_of(info.extra)
        return load_files(records, info.image_size, stain, preprocess), labels
    pixels, owners = load_tiles([r.path for r in records], tiles, stain)
    return pixels[:count], labels[owners][:count]


def _probes(held_out: np.ndarray, seed: int, count: int = 16) -> dict[str, np.ndarray]:
    """Images unlike any training image: uniform noise, and held-out images with
    their pixels shuffled (the same colours, no structure)."""
    rng = np.random.default_rng(seed)
    picked = held_out[:count]
    flat = picked.reshape(len(picked), -1, picked.shape[-1])
    shuffled = np.stack([image[rng.permutation(len(image))] for image in flat])
    return {
        "noise": rng.integers(0, 256, picked.shape, dtype=np.uint8),
        "shuffled pixels": shuffled.reshape(picked.shape),
    }


Outputs = dict[str, np.ndarray]


def _batched(run: Callable[[np.ndarray], Outputs], pixels: np.ndarray, size: int = 32) -> Outputs:
    """``run`` on float32 batches of ``size`` images, its named outputs concatenated."""
    chunks = [
        {
            name: np.asarray(value)
            for name, value in run(pixels[i : i + size].astype("float32")).items()
        }
        for i in range(0, len(pixels), size)
    ]
    return {name: np.concatenate([chunk[name] for chunk in chunks]) for name in chunks[0]}


def _keras_run(model: keras.Model) -> Callable[[np.ndarray], Outputs]:
    """Probabilities (and features, when the model has them) of a pixel batch."""
    dual = with_features(model)
    if dual is None:
        return lambda pixels: {PROBABILITIES: model.predict_on_batch(pixels)}
    return dual.predict_on_batch


def _compare(
    name: str,
    probabilities: np.ndarray,
    reference: np.ndarray,
    labels: np.ndarray,
    threshold: float,
) -> dict[str, Any]:
    agreement = float(np.mean(probabilities.argmax(1) == reference.argmax(1)))
    result = {
        "max_abs_diff": float(np.abs(probabilities - reference).max()),
        "top1_agreement": agreement,
        "accuracy": float(np.mean(probabilities.argmax(1) == labels)),
        "accuracy_change": float(
            np.mean(probabilities.argmax(1) == labels) - np.mean(reference.argmax(1) == labels)
        ),
        "images": len(labels),
    }
    tolerance = FLOAT_TOLERANCE.get(name)
    result["passed"] = (
        result["max_abs_diff"] <= tolerance if tolerance is not None else agreement >= threshold
    )
    result["criterion"] = (
        f"max_abs_diff <= {tolerance}"
        if tolerance is not None
        else f"top1_agreement >= {threshold}"
    )
    return result


def _remove_stale_builds(bundle: Path) -> None:
    """Delete hidden half-built bundles a killed export left beside ``bundle``."""
    for stale in bundle.parent.glob(f".{bundle.name}.*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)


def export(
    source: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    data: str | None = None,
    formats: tuple[str, ...] = FORMATS,
    quantize: tuple[str, ...] = QUANTIZATIONS,
    int8_io: bool = False,
    calibration: int = 200,
    holdout: int = 200,
    agreement_threshold: float = 0.98,
    calibration_images: np.ndarray | None = None,
    equalize: bool = True,
    bias_correction: bool = True,
    guard: bool = True,
    guard_acceptance: float = 0.975,
    guard_images: int = 1000,
    trust: bool = False,
    target_benchmark: bool = False,
    benchmark: BenchmarkSettings | None = None,
    seed: int = 0,
) -> ExportResult:
    """Export a run's best model (or a ``.keras`` file, with ``data``) as a verified bundle.

    Args:
        source: a run directory or a bcnet_tf ``.keras`` file.
        out: bundle folder (default ``saved_models/<run or model name>-bundle``).
        data: dataset folder (needed for a ``.keras`` file: calibration and checks).
        formats: any of ``keras``, ``savedmodel``, ``tflite``.
        quantize: TFLite variants: ``none`` (float32), ``float16``, ``dynamic``, ``int8``.
        int8_io: the int8 model takes ``uint8`` pixels and returns ``uint8`` scores.
        calibration: training images for the int8 activation ranges (at least 100).
        holdout: held-out images every artifact is checked on.
        agreement_threshold: least top-1 agreement with Keras for quantised files; an
            int8 file under it is kept but flagged, and float16 is recommended instead.
        calibration_images: use these pixels for int8 calibration instead.
        equalize: convert int8 from a copy of the model with its ReLU channels
            rescaled to even activation ranges (:mod:`bcnet_tf.export.equalize`; the
            same function, less quantisation error).
        bias_correction: convert int8 from a copy of the model whose biases absorb
            each channel's mean int8 error on the calibration images
            (:mod:`bcnet_tf.export.bias`).
        guard: fit the input guard (needs a model with a ``head_pool`` layer, as every
            model of the zoo has).
        guard_acceptance: share of held-out in-distribution images the guard's
            threshold is set to accept (the validation part's, else the held-out one's).
        guard_images: most training images (tiles) the guard is fitted on, and most
            images its threshold is set on.
        trust: allow code (Lambda layers) in the model file.
        target_benchmark: time every TFLite file on this machine and recommend the
            fastest one that passed its verification (else: the first verified file of
            int8, float16, float32).
        benchmark: how the files are timed (threads, calls, rounds).

    Raises:
        ExportError: a float artifact disagrees with the Keras model (nothing written).

    Example:
        >>> result = export("saved_models/resnet18-busi_256")  # doctest: +SKIP
        >>> result.recommended                                  # doctest: +SKIP
        'model_int8.tflite'
    """
    unknown = sorted(set(formats) - set(FORMATS)) + sorted(set(quantize) - set(QUANTIZATIONS))
    if unknown:
        raise BcnetError(
            f"unknown formats/quantizations {unknown}: use {FORMATS} / {QUANTIZATIONS}"
        )
    resolved = resolve_source(Path(source), data, "test", None)
    trained, info = load_model(resolved.model_path, trust=trust)
    _, tiles = from_model_extra(info.extra)
    if tiles is not None and tiles.whole_slide:
        raise BcnetError(
            f"{resolved.model_path} reads whole-slide images ({tiles.resolution_flag}), "
            "which bundles and the edge predictor do not read. Fix: evaluate it with bcnet-tf "
            "evaluate, or train in tile mode on images (no --mpp) to export."
        )
    model = float32_model(trained)  # TFLite and edge CPUs: no bfloat16 ops
    name = resolved.run_dir.name if resolved.run_dir else resolved.model_path.stem
    bundle = Path(out) if out else Path("saved_models") / f"{name}-bundle"
    refuse_inside_dataset(bundle, resolved.index.root)
    parts = _parts(resolved, seed)
    train_pixels, _ = _load(parts.train, info, calibration, seed)
    held_out, labels = _load(parts.held_out, info, holdout, seed)
    if calibration_images is not None:
        train_pixels = calibration_images
    if "int8" in quantize and "tflite" in formats and len(train_pixels) < min(100, calibration):
        warnings.warn(
            f"int8 calibration on only {len(train_pixels)} images (100+ recommended).",
            stacklevel=2,
        )
    guarded = guard and with_features(model) is not None
    groups = {f"held-out ({parts.held_out_name})": held_out}
    if guarded:
        if parts.threshold is not parts.held_out:
            threshold_pixels, _ = _load(parts.threshold, info, guard_images, seed)
            groups[f"threshold ({parts.threshold_name})"] = threshold_pixels
        groups.update(_probes(held_out, seed))
    pixels = np.concatenate(list(groups.values()))
    reference = _batched(_keras_run(model), pixels)
    as_trained = (
        reference[PROBABILITIES][: len(held_out)]
        if model is trained
        else trained.predict(held_out.astype(np.float32), batch_size=32, verbose=0)
    )
    precision_change = _compare(
        "as trained", as_trained, reference[PROBABILITIES][: len(held_out)], labels, 1.0
    )
    _remove_stale_builds(bundle)
    with atomic_directory(bundle) as folder:
        artifacts, outputs = _write_artifacts(
            model,
            info,
            folder,
            formats,
            quantize,
            train_pixels,
            int8_io,
            pixels,
            labels,
            reference,
            agreement_threshold,
            equalize,
            bias_correction,
        )
        spec = _spec(info, artifacts, resolved, agreement_threshold)
        spec["float32_vs_trained_precision"] = precision_change
        if guarded:
            spec["guard"] = _fit_guard(
                folder,
                model,
                info,
                parts,
                groups,
                reference,
                outputs,
                guard_acceptance,
                guard_images,
                seed,
            )
        if target_benchmark:
            (folder / SPEC_FILE).write_text(json.dumps(spec), encoding="utf-8")
            apply_benchmark(spec, benchmark_bundle(folder, benchmark))
        (folder / SPEC_FILE).write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
        (folder / "labels.txt").write_text("\n".join(info.class_names) + "\n", encoding="utf-8")
        metrics = _evaluation_metrics(resolved)
        if metrics is not None:
            (folder / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        (folder / "MODEL_CARD.md").write_text(model_card(spec, metrics), encoding="utf-8")
        (folder / SUMS_FILE).write_text(bundle_checksums(folder), encoding="utf-8")
    return ExportResult(bundle, spec)


def _fit_guard(
    folder: Path,
    model: keras.Model,
    info: ModelInfo,
    parts: _Parts,
    groups: dict[str, np.ndarray],
    reference: Outputs,
    outputs: dict[str, Outputs],
    acceptance: float,
    count: int,
    seed: int,
) -> dict[str, Any]:
    """Fit the guard on training features, write it and its score figure, set each
    artifact's threshold; the ``guard`` entry of ``spec.json``."""
    train_pixels, train_labels = _load(parts.train, info, count, seed)
    train_features = _batched(_keras_run(model), train_pixels)[FEATURES]
    fitted = fit_feature_guard(train_features, train_labels)
    fitted.save(folder / GUARD_FILE)
    min_side = max(1, min(info.image_size) // 4)
    colour = colour_mode(train_pixels)
    pixels = np.concatenate(list(groups.values()))
    failed = np.array([check_image(image, min_side, colour) is not None for image in pixels])
    bounds = np.cumsum([0, *(len(group) for group in groups.values())])
    slices = {name: slice(bounds[i], bounds[i + 1]) for i, name in enumerate(groups)}
    threshold_group = next((n for n in groups if n.startswith("threshold")), next(iter(groups)))

    def judge(features: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        scores = fitted.score(features)
        threshold = acceptance_threshold(scores[slices[threshold_group]], acceptance)
        return scores, threshold, (scores <= threshold) & ~failed

    scores, reference_threshold, reference_accepted = judge(reference[FEATURES])
    figure = guard_scores({n: scores[s] for n, s in slices.items()}, reference_threshold)
    save_figure(figure, folder / "guard_scores.png")
    thresholds, accepted, agreement = {}, {}, {}
    for file, output in outputs.items():
        _, thresholds[file], decisions = judge(output[FEATURES])
        accepted[file] = {n: float(decisions[s].mean()) for n, s in slices.items()}
        agreement[file] = float(np.mean(decisions == reference_accepted))
    return {
        "file": GUARD_FILE,
        "method": "Mahalanobis distance of the pooled features to the nearest class mean, "
        "shared Ledoit-Wolf shrunk covariance",
        "features": FEATURE_LAYER,
        "dimensions": int(fitted.means.shape[1]),
        "components": int(fitted.basis.shape[1]),
        "fitted_on": {"part": "train", "images": len(train_pixels)},
        "threshold_set_on": {
            "part": parts.threshold_name,
            "group": threshold_group,
            "images": len(groups[threshold_group]),
        },
        "acceptance_target": acceptance,
        "checks": {"min_side": min_side, "colour": colour},
        "thresholds": thresholds,
        "accepted": accepted,
        "agreement_with_keras": agreement,
        "figure": "guard_scores.png",
    }


def _write_artifacts(
    model: keras.Model,
    info: ModelInfo,
    folder: Path,
    formats: tuple[str, ...],
    quantize: tuple[str, ...],
    calibration: np.ndarray,
    int8_io: bool,
    pixels: np.ndarray,
    labels: np.ndarray,
    reference: Outputs,
    threshold: float,
    equalize: bool,
    bias_correction: bool,
) -> tuple[dict[str, dict[str, Any]], dict[str, Outputs]]:
    """Write each artifact, run it on ``pixels`` (the held-out images first) and verify
    it; raise ExportError if a float one disagrees. Each artifact's entry, and outputs."""
    artifacts: dict[str, dict[str, Any]] = {}
    outputs: dict[str, Outputs] = {}
    held_out = len(labels)

    def record(file: str, kind: str, check_name: str, run: Callable[[np.ndarray], Outputs]) -> None:
        outputs[file] = _batched(run, pixels)
        check = _compare(
            check_name,
            outputs[file][PROBABILITIES][:held_out],
            reference[PROBABILITIES][:held_out],
            labels,
            threshold,
        )
        path = folder / file
        size = (
            sum(p.stat().st_size for p in path.rglob("*")) if path.is_dir() else path.stat().st_size
        )
        artifacts[file] = {"format": kind, "bytes": size, "verification": check}
        if not check["passed"] and check_name in FLOAT_TOLERANCE:
            raise ExportError(
                f"{file} differs from the Keras model by {check['max_abs_diff']:.2g} "
                f"(allowed {FLOAT_TOLERANCE[check_name]}); the export was not written."
            )

    if "keras" in formats:
        save_model(model, folder / "model.keras", info)
        reloaded, _ = load_model(folder / "model.keras")
        record("model.keras", "keras", "keras", _keras_run(reloaded))
    saved_model = write_saved_model(model, folder / "saved_model")
    if "savedmodel" in formats:
        loaded = tf.saved_model.load(str(saved_model))  # keep a reference while serving
        record("saved_model", "savedmodel", "savedmodel", lambda x: loaded.serve(tf.constant(x)))
    if "tflite" in formats:
        for mode in quantize:
            label = "float32" if mode == "none" else mode
            file = f"model_{label}.tflite"
            blob, steps = None, {}
            if mode == "int8":
                blob, steps = _prepared_int8(model, calibration, int8_io, equalize, bias_correction)
            if blob is None:
                blob = tflite_model(saved_model, mode, calibration, int8_io and mode == "int8")
            (folder / file).write_bytes(blob)
            record(file, "tflite", label, TFLiteModel(folder / file).run)
            artifacts[file].update(steps)
    if "savedmodel" not in formats:
        shutil.rmtree(saved_model)
    return artifacts, outputs


def _prepared_int8(
    model: keras.Model,
    calibration: np.ndarray,
    int8_io: bool,
    equalize: bool,
    bias_correction: bool,
) -> tuple[bytes | None, dict[str, list[str]]]:
    """The int8 flatbuffer of a copy of ``model`` prepared on the calibration images:
    ReLU channels equalised (the pooled features keep their values), then biases
    corrected, then hard-swish spelled out for XNNPACK; and the layers each step
    changed. ``None`` when no step changed any."""
    steps = {"equalized_layers": [], "bias_corrected_layers": [], "spelled_out_layers": []}
    if equalize:
        model, steps["equalized_layers"] = equalize_channels(
            model, calibration, protect=(FEATURE_LAYER,)
        )
    if bias_correction:
        model, steps["bias_corrected_layers"] = correct_biases(model, calibration)
    model, steps["spelled_out_layers"] = spell_out_hard_swish(model)  # last: copies drop it
    if not any(steps.values()):
        return None, steps
    with tempfile.TemporaryDirectory() as scratch:
        saved_model = write_saved_model(model, Path(scratch) / "saved_model")
        return tflite_model(saved_model, "int8", calibration, int8_io), steps


def _evaluation_metrics(source: ModelSource) -> dict[str, Any] | None:
    if source.run_dir is None:
        return None
    path = RunDir(source.run_dir).evaluation("test") / "metrics.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _spec(
    info: ModelInfo,
    artifacts: dict[str, dict[str, Any]],
    source: ModelSource,
    threshold: float,
) -> dict[str, Any]:
    recommended = static_recommendation(artifacts)
    int8 = artifacts.get("model_int8.tflite")
    if int8 is not None and not int8["verification"]["passed"]:
        warnings.warn(
            f"int8 TFLite agrees with the Keras model on only "
            f"{int8['verification']['top1_agreement']:.1%} of held-out images (< {threshold:.0%}): "
            f"it is kept but NOT recommended; ship {recommended} instead.",
            stacklevel=3,
        )
    return {
        "format": BUNDLE_FORMAT,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "bcnet_tf": __version__,
        "tensorflow": tf.__version__,
        "architecture": info.architecture,
        "class_names": list(info.class_names),
        "image_size": list(info.image_size),
        "input": {
            "pixels": "RGB, 0..255, float32 (uint8 for an int8_io model), channels last",
            "resize": "area averaging when shrinking, bilinear when enlarging",
            "normalisation": "inside the model",
            "stain": "extra.stain: normalise each (scaled) image before the model, if present",
            "tiles": "extra.tiles: the model takes tiles; aggregate them per image, if present",
            "preprocess": "extra.preprocess: prepare each image before the resize "
            "(bcnet_tf.data.mammo), if present",
        },
        "extra": info.extra,
        "data": str(source.index.root),
        "recommended": recommended,
        "artifacts": artifacts,
    }
