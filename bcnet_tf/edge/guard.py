"""The input guard: is an image like the images the model was trained on?

Two stages, both numpy. First the cheap image checks
(:func:`bcnet_tf.data.checks.check_image`: blank, saturated, too small, wrong colour
mode). Then a feature-space score: the Mahalanobis distance of the model's pooled
backbone features to the nearest class mean, under one covariance shared by the
classes and shrunk towards a multiple of the identity (Lee et al. 2018, "A simple
unified framework for detecting out-of-distribution samples and adversarial attacks";
Ledoit and Wolf 2004 for the shrinkage). The export fits it on the training part
(:mod:`bcnet_tf.export.guard`) and sets, per model file, the threshold that accepts the
chosen share of held-out in-distribution images.

The covariance is stored as its leading eigenvectors and eigenvalues plus one
``floor`` eigenvalue for every other direction; with at most ``max_components``
directions kept, this is exactly the shrunk covariance whenever the training part spans
no more directions than that.

Example:
    >>> import numpy as np
    >>> guard = FeatureGuard(np.zeros((1, 2)), np.eye(2)[:, :1], np.array([4.0]), 1.0)
    >>> guard.score(np.array([[2.0, 0.0], [0.0, 2.0]])).round(3).tolist()
    [1.0, 2.0]
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bcnet_tf.data.checks import check_image

GUARD_FILE = "guard.npz"
#: What a rejected image is told, whichever stage rejected it.
REJECTED = "this image does not look like the images this model was trained on"
NO_GUARD = "no guard in this bundle"
GUARD_OFF = "guard switched off"


@dataclass(frozen=True)
class Verdict:
    """One image's guard result: ``in_distribution`` is ``None`` when nothing was
    checked (``reason`` says why), else ``reason`` says why the image was rejected."""

    in_distribution: bool | None
    score: float | None = None
    threshold: float | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "in_distribution": self.in_distribution,
            "score": self.score,
            "threshold": self.threshold,
            "reason": self.reason,
        }

    @property
    def message(self) -> str:
        """One line for a person: the class can be shown, or why it should not be."""
        if self.in_distribution is None:
            return f"not checked: {self.reason}"
        if self.in_distribution:
            return f"in distribution (score {self.score:.3g} <= {self.threshold:.3g})"
        detail = self.reason or f"score {self.score:.3g} > threshold {self.threshold:.3g}"
        return f"REJECTED: {REJECTED} ({detail})"


@dataclass
class FeatureGuard:
    """Class means and a shrunk shared covariance of pooled features; :meth:`score`
    is the Mahalanobis distance to the nearest class mean.

    Attributes:
        means: ``(classes, features)`` class means.
        basis: ``(features, k)`` orthonormal eigenvectors of the covariance.
        eigenvalues: ``(k,)`` their eigenvalues.
        floor: the eigenvalue of every direction outside ``basis``.
    """

    means: np.ndarray
    basis: np.ndarray
    eigenvalues: np.ndarray
    floor: float

    def __post_init__(self) -> None:
        # float64 copies and the means' projections, computed once: a score is then
        # one vector-matrix product per image
        self._means = np.asarray(self.means, np.float64)
        self._basis = np.asarray(self.basis, np.float64)
        self._projected_means = self._means @ self._basis
        self._mean_norms = (self._means**2).sum(axis=1)

    def score(self, features: np.ndarray) -> np.ndarray:
        """Distance of each row of ``features`` ``(n, features)`` to the nearest class
        mean, in units of the covariance (float64)."""
        features = np.asarray(features, np.float64)
        inside = (features @ self._basis)[:, None, :] - self._projected_means[None]
        squared_inside = inside**2
        total = (
            (features**2).sum(axis=1)[:, None]
            - 2 * features @ self._means.T
            + self._mean_norms[None]
        )
        outside = np.maximum(total - squared_inside.sum(-1), 0)
        squared = (squared_inside / self.eigenvalues).sum(-1) + outside / self.floor
        return np.sqrt(squared.min(axis=1))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the parameters as a float32 ``.npz`` (``path`` must end in ``.npz``)."""
        np.savez(
            path,
            means=self.means.astype(np.float32),
            basis=self.basis.astype(np.float32),
            eigenvalues=self.eigenvalues.astype(np.float64),
            floor=np.float64(self.floor),
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FeatureGuard:
        with np.load(path) as saved:
            return cls(saved["means"], saved["basis"], saved["eigenvalues"], float(saved["floor"]))


class InputGuard:
    """The guard of one model file of a bundle: image checks, feature score, threshold.

    Args:
        spec: the ``guard`` entry of a bundle's ``spec.json``.
        bundle: the bundle folder (holds :data:`GUARD_FILE`).
        artifact: the model file whose threshold applies (its features are scored).

    Example:
        >>> guard = InputGuard(spec["guard"], "bundle", "model_int8.tflite")  # doctest: +SKIP
        >>> guard.verdict(guard.check(image), features).in_distribution  # doctest: +SKIP
        True
    """

    def __init__(self, spec: dict[str, Any], bundle: str | os.PathLike[str], artifact: str) -> None:
        self.features = FeatureGuard.load(Path(bundle) / spec["file"])
        self.threshold = float(spec["thresholds"][artifact])
        self.min_side = int(spec["checks"]["min_side"])
        self.colour = str(spec["checks"]["colour"])

    def check(self, image: np.ndarray) -> str | None:
        """Why the cheap checks reject a decoded image, or ``None``."""
        return check_image(image, self.min_side, self.colour)

    def verdict(self, failed_check: str | None, features: np.ndarray) -> Verdict:
        """The verdict from a check result and the image's features: ``(1, d)``, or
        ``(tiles, d)`` in tile mode (judged by the median tile score)."""
        score = float(np.median(self.features.score(features)))
        accepted = failed_check is None and score <= self.threshold
        return Verdict(accepted, score, self.threshold, failed_check)
