"""``Predictor``: a bundle's TFLite model on image files, without TensorFlow.

Preprocessing repeats the training pipeline's without TensorFlow: decode to RGB (the
same decoder as training, DICOM included), the model's preprocessing policy if any
(:mod:`bcnet_tf.data.mammo`), then the pipeline's resize done in numpy
(:func:`bcnet_tf.pathology.prepare.resize_rgb`), then the stain normaliser the model
was trained with, if any. The model itself normalises the pixels. A tile-mode bundle
classifies each image's tissue tiles (:func:`bcnet_tf.pathology.prepare.prepare_tiles`,
as training and evaluation cut them) and aggregates them.

Every image also gets the bundle's input-guard verdict (:mod:`bcnet_tf.edge.guard`):
the cheap checks on the decoded image, then the score of the model file's own
features against that file's threshold.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bcnet_tf.data.decode import decode_with_laterality
from bcnet_tf.data.mammo import prepared_pixels, preprocess_of
from bcnet_tf.edge.guard import GUARD_OFF, NO_GUARD, InputGuard, Verdict
from bcnet_tf.edge.runtime import FEATURES, PROBABILITIES, TFLiteModel
from bcnet_tf.errors import BcnetError
from bcnet_tf.pathology.prepare import prepare_tiles, resize_rgb
from bcnet_tf.pathology.settings import from_model_extra
from bcnet_tf.pathology.tiles import aggregate, extract_tiles

SPEC_FILE = "spec.json"


def dihedral_views(pixels: np.ndarray) -> list[np.ndarray]:
    """The batch, its flips and (square inputs) its 90/180/270-degree rotations: the
    test-time augmentation of ``bcnet_tf.evaluation.predict.tta_views``."""
    views = [pixels, pixels[:, :, ::-1], pixels[:, ::-1]]
    if pixels.shape[1] == pixels.shape[2]:
        views += [np.rot90(pixels, k, axes=(1, 2)) for k in (1, 2, 3)]
    return views


@dataclass
class Prediction:
    """One image's result: the top classes with probabilities, all probabilities, and
    the input guard's verdict (``guard.in_distribution`` is ``False`` for an image
    unlike the training images: its classes should not be shown as an answer)."""

    path: str
    top: list[tuple[str, float]]
    probabilities: dict[str, float]
    guard: Verdict = field(default_factory=lambda: Verdict(None, reason=NO_GUARD))

    @property
    def in_distribution(self) -> bool | None:
        return self.guard.in_distribution

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "in_distribution": self.guard.in_distribution,
            "top": self.top,
            "probabilities": self.probabilities,
            "guard": self.guard.to_json(),
        }


def rank_classes(
    paths: list[str | os.PathLike[str]],
    probabilities: np.ndarray,
    class_names: list[str],
    k: int = 3,
    verdicts: list[Verdict] | None = None,
) -> list[Prediction]:
    """:class:`Prediction` objects from a probability matrix, best ``k`` classes first
    (with each image's guard verdict, when given)."""
    verdicts = verdicts or [Verdict(None, reason=NO_GUARD)] * len(paths)
    results = []
    for path, probs, verdict in zip(paths, probabilities, verdicts, strict=True):
        order = np.argsort(-probs)[:k]
        results.append(
            Prediction(
                os.fspath(path),
                [(class_names[i], float(probs[i])) for i in order],
                {name: float(p) for name, p in zip(class_names, probs, strict=True)},
                verdict,
            )
        )
    return results


class Predictor:
    """Classify image files with a bundle's TFLite model.

    Args:
        bundle: a folder written by ``bcnet-tf export``.
        artifact: a ``.tflite`` file name in the bundle; default: the recommended one.
        threads: interpreter threads.
        guard: run the bundle's input guard (``False`` for research use only).

    Example:
        >>> predictor = Predictor("saved_models/resnet18-busi_256-bundle")  # doctest: +SKIP
        >>> predictor.predict(["scan.png"], top_k=2)[0].top                  # doctest: +SKIP
        [('malignant', 0.91), ('benign', 0.08)]
    """

    def __init__(
        self,
        bundle: str | os.PathLike[str],
        artifact: str | None = None,
        threads: int = 2,
        guard: bool = True,
    ) -> None:
        self.bundle = Path(bundle)
        spec_path = self.bundle / SPEC_FILE
        if not spec_path.is_file():
            raise BcnetError(
                f"{self.bundle} is not a bcnet_tf bundle (no {SPEC_FILE}). Fix: pass the "
                "folder `bcnet-tf export` wrote."
            )
        self.spec = json.loads(spec_path.read_text(encoding="utf-8"))
        self.class_names: list[str] = self.spec["class_names"]
        self.image_size = tuple(self.spec["image_size"])
        name = artifact or self.spec["recommended"]
        if name not in self.spec["artifacts"]:
            raise BcnetError(
                f"{name!r} is not in the bundle; it has {sorted(self.spec['artifacts'])}."
            )
        self.artifact = name
        self.model = TFLiteModel(self.bundle / name, threads=threads)
        self.stain, self.tiles = from_model_extra(self.spec.get("extra", {}))
        self.preprocess = preprocess_of(self.spec.get("extra", {}))
        guarded = "guard" in self.spec and self.model.has_features
        self.guard = (
            InputGuard(self.spec["guard"], self.bundle, name) if guard and guarded else None
        )
        self.unguarded = Verdict(None, reason=NO_GUARD if not guarded else GUARD_OFF)

    def pixels(self, image: np.ndarray, laterality: str | None = None) -> np.ndarray:
        """The model's input for one decoded RGB image: ``(1, h, w, 3)`` prepared (the
        bundle's preprocessing; ``laterality`` ``"L"``/``"R"`` where known), resized
        (and stain-normalised); for a tile-mode bundle, its tissue tiles
        ``(n, s, s, 3)``."""
        if self.tiles is None:
            prepared = prepared_pixels(image, self.image_size, self.preprocess, laterality)
            resized = resize_rgb(prepared, self.image_size)
            return (self.stain(resized) if self.stain else resized)[None]
        padded, corners, _ = prepare_tiles(image, self.tiles, self.stain)
        return extract_tiles(padded, corners, self.tiles.size)

    def load(self, paths: list[str | os.PathLike[str]]) -> np.ndarray:
        """Decode and prepare whole-image files: ``uint8`` ``(n, h, w, 3)``."""
        if self.tiles is not None:
            raise BcnetError(
                f"{self.bundle} is a tile-mode bundle: each image gives several tiles. "
                "Fix: use predict(paths), or pixels(image) for one decoded image."
            )
        return np.concatenate([self.pixels(*decode_with_laterality(os.fspath(p))) for p in paths])

    def probabilities(self, pixels: np.ndarray, tta: bool = False) -> np.ndarray:
        """Class probabilities of a pixel batch, averaged over the TTA views if asked."""
        return self.outputs(pixels, tta)[0]

    def outputs(
        self, pixels: np.ndarray, tta: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Class probabilities of a pixel batch (averaged over the TTA views if asked),
        and the pooled features of the plain view (``None`` if the file has none)."""
        plain = self.model.run(np.ascontiguousarray(pixels))
        views = dihedral_views(pixels)[1:] if tta else []
        probabilities = [plain[PROBABILITIES]]
        probabilities += [self.model.predict(np.ascontiguousarray(v)) for v in views]
        return np.mean(probabilities, axis=0), plain.get(FEATURES)

    def verdict(self, image: np.ndarray, features: np.ndarray | None) -> Verdict:
        """The input guard's verdict on one decoded RGB image, from the ``features``
        :meth:`outputs` gave for its :meth:`pixels`."""
        if self.guard is None:
            return self.unguarded
        return self.guard.verdict(self.guard.check(image), features)

    def judge(
        self, image: np.ndarray, tta: bool = False, laterality: str | None = None
    ) -> tuple[np.ndarray, Verdict]:
        """One decoded RGB image's class probabilities and guard verdict."""
        probabilities, features = self.outputs(self.pixels(image, laterality), tta)
        return self.combine(probabilities), self.verdict(image, features)

    def combine(self, probabilities: np.ndarray) -> np.ndarray:
        """One image's class probabilities from those of its :meth:`pixels` batch (the
        tiles aggregated in tile mode)."""
        if self.tiles is None:
            return probabilities[0]
        return aggregate(probabilities, self.tiles.aggregate, self.tiles.top_k)

    def predict(
        self, paths: list[str | os.PathLike[str]], *, top_k: int = 3, tta: bool = False
    ) -> list[Prediction]:
        """Top-``k`` classes of each image file, and its guard verdict."""
        judged = [
            self.judge(image, tta, laterality)
            for image, laterality in (decode_with_laterality(os.fspath(p)) for p in paths)
        ]
        probabilities = np.stack([probabilities for probabilities, _ in judged])
        verdicts = [verdict for _, verdict in judged]
        return rank_classes(paths, probabilities, self.class_names, top_k, verdicts)
