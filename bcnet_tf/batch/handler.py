"""``BundleModelHandler``: a bundle's TFLite model behind Beam's ``RunInference``.

Beam's own TensorFlow handler loads a SavedModel and imports ``tensorflow_hub``, which
does not import under the TensorFlow this library pins. This handler runs the bundle's
TFLite file with the edge :class:`~bcnet_tf.edge.predictor.Predictor` instead, so the
workers never import TensorFlow (they start in seconds and need only
``bcnet_tf[batch]``), run the same verified file as ``bcnet-tf predict``, and give
each image its input-guard verdict from that file's features.

Each example is an image path. Decoding and preprocessing happen in the handler with
the predictor's own code (DICOM, mammography preprocessing, tile mode included); a
file that cannot be read becomes an :class:`Unreadable` result carrying the reason,
so one bad file never fails its batch.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from bcnet_tf.data.decode import decode_with_laterality
from bcnet_tf.edge.predictor import SPEC_FILE, Predictor
from bcnet_tf.errors import BcnetError

CHECKSUMS = "SHA256SUMS"
#: Columns of every prediction row after the class probabilities.
GUARD_COLUMNS = ("in_distribution", "guard_score", "guard_threshold", "guard_reason")
DEAD_LETTER_COLUMNS = ("path", "reason")


@dataclass(frozen=True)
class Unreadable:
    """An input that gave no prediction, and why."""

    reason: str


@dataclass(frozen=True)
class BundleModel:
    """What a batch job runs: a bundle's model file, its SHA-256 (checked against the
    bundle's ``SHA256SUMS``) and its class names.

    Example:
        >>> model = BundleModel.open("saved_models/run-bundle")  # doctest: +SKIP
        >>> model.columns[:3]                                     # doctest: +SKIP
        ('path', 'predicted', 'p_benign')
    """

    bundle: str
    artifact: str
    sha256: str
    class_names: tuple[str, ...]

    @classmethod
    def open(cls, bundle: str | Path, artifact: str | None = None) -> BundleModel:
        """Read the bundle's spec, pick ``artifact`` (default: the recommended file) and
        check its checksum. Raises :class:`BcnetError` for anything that is off."""
        folder = Path(bundle)
        spec_path, sums_path = folder / SPEC_FILE, folder / CHECKSUMS
        if not spec_path.is_file() or not sums_path.is_file():
            raise BcnetError(
                f"{folder} is not a bcnet_tf bundle (no {SPEC_FILE} or {CHECKSUMS}). Fix: "
                "pass the folder `bcnet-tf export` wrote."
            )
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
        name = artifact or spec["recommended"]
        if not name.endswith(".tflite") or name not in spec["artifacts"]:
            files = sorted(a for a in spec["artifacts"] if a.endswith(".tflite"))
            raise BcnetError(f"{name!r} is not a TFLite file of {folder}. Fix: use one of {files}.")
        sums = dict(
            reversed(line.split(maxsplit=1))
            for line in sums_path.read_text(encoding="utf-8").splitlines()
            if line.strip()
        )
        actual = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        if sums.get(name) != actual:
            raise BcnetError(
                f"{folder / name} does not match its checksum in {sums_path}: the bundle was "
                "changed after export. Fix: export the bundle again."
            )
        return cls(str(folder), name, actual, tuple(spec["class_names"]))

    @property
    def columns(self) -> tuple[str, ...]:
        """The prediction table's columns, in order."""
        probabilities = tuple(f"p_{name}" for name in self.class_names)
        return ("path", "predicted", *probabilities, *GUARD_COLUMNS, "artifact", "model_sha256")

    def parquet_schema(self) -> pa.Schema:
        """The Parquet schema of :attr:`columns`."""
        types = {"in_distribution": pa.bool_(), "guard_score": pa.float64()}
        types |= {"guard_threshold": pa.float64()}
        types |= {f"p_{name}": pa.float64() for name in self.class_names}
        return pa.schema([(column, types.get(column, pa.string())) for column in self.columns])

    def row(self, path: str, probabilities: np.ndarray, verdict: Any) -> dict[str, Any]:
        """One image's row (see :attr:`columns`)."""
        return {
            "path": path,
            "predicted": self.class_names[int(np.argmax(probabilities))],
            **{f"p_{n}": float(p) for n, p in zip(self.class_names, probabilities, strict=True)},
            "in_distribution": verdict.in_distribution,
            "guard_score": verdict.score,
            "guard_threshold": verdict.threshold,
            "guard_reason": verdict.reason,
            "artifact": self.artifact,
            "model_sha256": self.sha256,
        }


def csv_line(values: Iterable[Any]) -> str:
    """One CSV line (no newline); ``None`` is an empty field, floats keep every digit.

    Example:
        >>> csv_line(["a, b.png", 0.25, None, True])
        '"a, b.png",0.25,,True'
    """
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(["" if v is None else v for v in values])
    return buffer.getvalue()


class _SharedPredictor:
    """One predictor per worker process, shared by Beam's threads: decoding runs in
    parallel, the interpreter (not thread-safe) one batch at a time."""

    def __init__(self, model: BundleModel, threads: int, guard: bool) -> None:
        self.model = model
        self.predictor = Predictor(model.bundle, model.artifact, threads=threads, guard=guard)
        self.lock = threading.Lock()
        self.predicted = Metrics.counter("bcnet_tf", "predicted")
        self.unreadable = Metrics.counter("bcnet_tf", "unreadable")

    def classify(self, paths: Sequence[str]) -> list[PredictionResult]:
        predictor = self.predictor
        results: dict[str, Any] = {}
        prepared = []
        for path in paths:
            try:
                image, laterality = decode_with_laterality(path)
                prepared.append((path, image, predictor.pixels(image, laterality)))
            except Exception as error:  # whatever fails is this file's: reported, never raised
                results[path] = Unreadable(_reason(error))
        if prepared:
            results |= self._predict(prepared)
        self.predicted.inc(len(prepared))
        self.unreadable.inc(len(paths) - len(prepared))
        return [PredictionResult(path, results[path]) for path in paths]

    def _predict(self, prepared: list[tuple[str, np.ndarray, np.ndarray]]) -> dict[str, Any]:
        """Rows of decoded images ``(path, image, model input)``: one model call."""
        predictor = self.predictor
        with self.lock:
            probabilities, features = predictor.outputs(np.concatenate([p for *_, p in prepared]))
        rows, start = {}, 0
        for path, image, pixels in prepared:
            part = slice(start, start + len(pixels))
            start = part.stop
            verdict = predictor.verdict(image, None if features is None else features[part])
            rows[path] = self.model.row(path, predictor.combine(probabilities[part]), verdict)
        return rows


def _reason(error: Exception) -> str:
    message = str(error) or type(error).__name__
    return message if isinstance(error, BcnetError) else f"{type(error).__name__}: {message}"


class BundleModelHandler(ModelHandler[str, PredictionResult, _SharedPredictor]):
    """Beam model handler: image paths in, one :class:`PredictionResult` per path out,
    whose ``inference`` is the prediction row (:meth:`BundleModel.row`) or an
    :class:`Unreadable`.

    Args:
        model: the bundle's model file (:meth:`BundleModel.open`).
        threads: interpreter threads per worker process.
        guard: run the bundle's input guard.
        batch_size: images per model call.

    Example:
        >>> import apache_beam as beam
        >>> from apache_beam.ml.inference.base import RunInference
        >>> handler = BundleModelHandler(BundleModel.open("bundle"))  # doctest: +SKIP
        >>> paths | RunInference(handler)                             # doctest: +SKIP
    """

    def __init__(
        self, model: BundleModel, *, threads: int = 1, guard: bool = True, batch_size: int = 32
    ) -> None:
        super().__init__(min_batch_size=1, max_batch_size=batch_size)
        self.model = model
        self.threads = threads
        self.guard = guard

    def load_model(self) -> _SharedPredictor:
        return _SharedPredictor(self.model, self.threads, self.guard)

    def run_inference(
        self,
        batch: Sequence[str],
        model: _SharedPredictor,
        inference_args: dict[str, Any] | None = None,
    ) -> Iterable[PredictionResult]:
        return model.classify(batch)

    def get_num_bytes(self, batch: Sequence[str]) -> int:
        return sum(len(path.encode()) for path in batch)

    def get_metrics_namespace(self) -> str:
        return "bcnet_tf"
