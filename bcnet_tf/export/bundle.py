"""``export``: a run (or model) -> a verified, self-describing bundle in ``saved_models/``.

A bundle holds::

    model.keras                 the Keras model (its label list inside)
    saved_model/                lean SavedModel (weights stored once)
    model_<quantize>.tflite     float32, float16, dynamic-range, int8
    labels.txt                  one class per line, in output order
    spec.json                   labels, input size and preprocessing, every artifact
                                with its verification, the recommended TFLite file
    metrics.json                the evaluation the model card quotes (when there is one)
    MODEL_CARD.md               intended use, data, metrics with CIs, limitations
    SHA256SUMS                  checksums of every file (``sha256sum -c SHA256SUMS``)

Every artifact is run on held-out images and compared with the Keras model before the
bundle is made final; the bundle is built in a hidden sibling folder and renamed into
place, so a crash or a full disk leaves the previous bundle as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from bcnet_tf import __version__
from bcnet_tf.data.mammo import preprocess_of
from bcnet_tf.data.pipeline import load_files
from bcnet_tf.data.records import ImageRecord
from bcnet_tf.data.tiles import load_tiles
from bcnet_tf.edge.predictor import SPEC_FILE
from bcnet_tf.edge.runtime import TFLiteModel
from bcnet_tf.errors import BcnetError
from bcnet_tf.export.card import model_card
from bcnet_tf.export.convert import (
    QUANTIZATIONS,
    float32_model,
    tflite_model,
    write_saved_model,
)
from bcnet_tf.io import atomic_directory, refuse_inside_dataset
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


def _images(
    source: ModelSource, info: ModelInfo, calibration: int, holdout: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Calibration pixels (training part) and held-out pixels with their label ids."""
    if source.split is not None:
        train, held_out = source.split.train, source.split.test or source.split.val
    else:  # a model file on a dataset: two disjoint random halves
        order = np.random.default_rng(seed).permutation(len(source.records))
        half = len(order) // 2
        held_out = [source.records[i] for i in sorted(order[:half])]
        train = [source.records[i] for i in sorted(order[half:])]
    if not train or not held_out:
        raise BcnetError("export needs training images (calibration) and held-out images.")
    train, held_out = _sample(train, calibration, seed), _sample(held_out, holdout, seed)
    labels = np.array([info.class_names.index(r.label) for r in held_out])
    stain, tiles = from_model_extra(info.extra)
    if tiles is not None:  # the model takes tiles: calibrate and verify on tiles
        calibration_tiles, _ = load_tiles([r.path for r in train], tiles, stain)
        held_out_tiles, owners = load_tiles([r.path for r in held_out], tiles, stain)
        return calibration_tiles[:calibration], held_out_tiles[:holdout], labels[owners][:holdout]
    preprocess = preprocess_of(info.extra)
    return (
        load_files(train, info.image_size, stain, preprocess),
        load_files(held_out, info.image_size, stain, preprocess),
        labels,
    )


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


def _checksums(folder: Path) -> str:
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        lines.append(f"{digest}  {path.relative_to(folder).as_posix()}")
    return "\n".join(lines) + "\n"


def _remove_stale_builds(bundle: Path) -> None:
    """Delete hidden half-built bundles a killed export left beside ``bundle``."""
    for stale in bundle.parent.glob(f".{bundle.name}.*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)


def _recommend(artifacts: dict[str, dict[str, Any]]) -> str:
    for name in ("model_int8.tflite", "model_float16.tflite", "model_float32.tflite"):
        if name in artifacts and artifacts[name]["verification"]["passed"]:
            return name
    tflite = [name for name in artifacts if name.endswith(".tflite")]
    return tflite[0] if tflite else "model.keras"


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
    trust: bool = False,
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
        trust: allow code (Lambda layers) in the model file.

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
    model = float32_model(trained)  # TFLite and edge CPUs: no bfloat16 ops
    name = resolved.run_dir.name if resolved.run_dir else resolved.model_path.stem
    bundle = Path(out) if out else Path("saved_models") / f"{name}-bundle"
    refuse_inside_dataset(bundle, resolved.index.root)
    train_pixels, held_out, labels = _images(resolved, info, calibration, holdout, seed)
    if calibration_images is not None:
        train_pixels = calibration_images
    if "int8" in quantize and "tflite" in formats and len(train_pixels) < min(100, calibration):
        warnings.warn(
            f"int8 calibration on only {len(train_pixels)} images (100+ recommended).",
            stacklevel=2,
        )
    reference = model.predict(held_out.astype(np.float32), batch_size=32, verbose=0)
    as_trained = (
        reference
        if model is trained
        else trained.predict(held_out.astype(np.float32), batch_size=32, verbose=0)
    )
    precision_change = _compare("as trained", as_trained, reference, labels, 1.0)
    _remove_stale_builds(bundle)
    with atomic_directory(bundle) as folder:
        artifacts = _write_artifacts(
            model,
            info,
            folder,
            formats,
            quantize,
            train_pixels,
            int8_io,
            held_out,
            labels,
            reference,
            agreement_threshold,
        )
        spec = _spec(info, artifacts, resolved, agreement_threshold)
        spec["float32_vs_trained_precision"] = precision_change
        (folder / SPEC_FILE).write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
        (folder / "labels.txt").write_text("\n".join(info.class_names) + "\n", encoding="utf-8")
        metrics = _evaluation_metrics(resolved)
        if metrics is not None:
            (folder / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        (folder / "MODEL_CARD.md").write_text(model_card(spec, metrics), encoding="utf-8")
        (folder / "SHA256SUMS").write_text(_checksums(folder), encoding="utf-8")
    return ExportResult(bundle, spec)


def _write_artifacts(
    model: keras.Model,
    info: ModelInfo,
    folder: Path,
    formats: tuple[str, ...],
    quantize: tuple[str, ...],
    calibration: np.ndarray,
    int8_io: bool,
    held_out: np.ndarray,
    labels: np.ndarray,
    reference: np.ndarray,
    threshold: float,
) -> dict[str, dict[str, Any]]:
    """Write and verify each artifact; raise ExportError if a float one disagrees."""
    artifacts: dict[str, dict[str, Any]] = {}
    pixels = held_out.astype(np.float32)

    def record(file: str, kind: str, check_name: str, probabilities: np.ndarray) -> None:
        check = _compare(check_name, probabilities, reference, labels, threshold)
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
        record("model.keras", "keras", "keras", reloaded.predict(pixels, verbose=0))
    saved_model = write_saved_model(model, folder / "saved_model")
    if "savedmodel" in formats:
        loaded = tf.saved_model.load(str(saved_model))  # keep a reference while serving
        record("saved_model", "savedmodel", "savedmodel", loaded.serve(tf.constant(pixels)).numpy())
    if "tflite" in formats:
        for mode in quantize:
            label = "float32" if mode == "none" else mode
            file = f"model_{label}.tflite"
            blob = tflite_model(saved_model, mode, calibration, int8_io and mode == "int8")
            (folder / file).write_bytes(blob)
            record(file, "tflite", label, TFLiteModel(folder / file).predict(held_out))
    if "savedmodel" not in formats:
        shutil.rmtree(saved_model)
    return artifacts


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
    recommended = _recommend(artifacts)
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
