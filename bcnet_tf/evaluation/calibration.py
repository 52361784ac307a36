"""Calibration: expected calibration error, reliability bins, temperature scaling.

A model whose 90 %-confident predictions are right 90 % of the time is calibrated.
The expected calibration error (ECE, Guo et al. 2017) is the sample-weighted mean gap
between confidence and accuracy over equal-width confidence bins. Temperature scaling
divides the logits by one scalar fitted on the validation split; it changes the
confidences, never the predicted class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

_EPSILON = 1e-12


@dataclass
class Reliability:
    """Per-bin mean confidence, accuracy and count, and the ECE they give."""

    edges: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    counts: np.ndarray
    ece: float

    def to_json(self) -> dict[str, Any]:
        return {
            "ece": self.ece,
            "bins": len(self.counts),
            "confidence": np.nan_to_num(self.confidence).tolist(),
            "accuracy": np.nan_to_num(self.accuracy).tolist(),
            "counts": self.counts.tolist(),
        }


def reliability(y_true: np.ndarray, probabilities: np.ndarray, bins: int = 15) -> Reliability:
    """Top-label reliability bins and ECE.

    Example:
        >>> reliability(np.array([0, 1]), np.array([[.9, .1], [.8, .2]]), bins=10).ece
        0.45
    """
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(y_true)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore"):
        mean_confidence = np.bincount(which, confidence, bins) / counts
        accuracy = np.bincount(which, correct.astype(float), bins) / counts
    gaps = np.nan_to_num(np.abs(mean_confidence - accuracy))
    ece = float((counts * gaps).sum() / max(counts.sum(), 1))
    return Reliability(edges, mean_confidence, accuracy, counts, ece)


def fit_temperature(y_true: np.ndarray, probabilities: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of ``y_true``.

    Example:
        >>> fit_temperature(val_labels, val_probabilities)  # doctest: +SKIP
        1.7
    """
    logits = np.log(np.clip(probabilities, _EPSILON, 1.0))
    rows = np.arange(len(y_true))

    def nll(temperature: float) -> float:
        return -float(log_softmax(logits / temperature, axis=1)[rows, y_true].mean())

    return float(minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded").x)


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities recalibrated with ``temperature`` (arg-max unchanged)."""
    return softmax(np.log(np.clip(probabilities, _EPSILON, 1.0)) / temperature, axis=1)
