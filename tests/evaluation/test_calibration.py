"""ECE, temperature scaling and patient-resampled bootstrap intervals."""

import numpy as np
import pytest
from scipy.special import softmax

from bcnet_tf.evaluation.bootstrap import bootstrap_intervals
from bcnet_tf.evaluation.calibration import apply_temperature, fit_temperature, reliability


def _overconfident(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(logits), reported as softmax(3 * logits)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (n, 3))
    y_true = np.array([rng.choice(3, p=p) for p in softmax(logits, axis=1)])
    return y_true, softmax(3 * logits, axis=1)


def test_ece_of_a_calibrated_model_is_small_and_of_an_overconfident_one_large() -> None:
    y_true, overconfident = _overconfident()
    calibrated = apply_temperature(overconfident, 3.0)
    assert reliability(y_true, calibrated).ece < 0.03
    assert reliability(y_true, overconfident).ece > 0.1


def test_temperature_scaling_recovers_the_temperature_and_keeps_predictions() -> None:
    y_true, overconfident = _overconfident()
    temperature = fit_temperature(y_true, overconfident)
    assert temperature == pytest.approx(3.0, rel=0.1)
    scaled = apply_temperature(overconfident, temperature)
    assert (scaled.argmax(1) == overconfident.argmax(1)).all()
    assert np.allclose(scaled.sum(1), 1)


def test_bootstrap_resamples_patients_not_images() -> None:
    """Two patients, each all right or all wrong: resampling patients gives accuracies
    of 0, 0.5 or 1 only; resampling images would give values in between."""
    y_true = np.array([0] * 10 + [1] * 10)
    probabilities = np.tile([[0.8, 0.2]], (20, 1))  # patient A right, patient B wrong
    patients = ["A"] * 10 + ["B"] * 10
    by_patient = bootstrap_intervals(y_true, probabilities, ["x", "y"], patients, resamples=200)
    assert by_patient["accuracy"] == [0.0, 1.0]
    by_image = bootstrap_intervals(y_true, probabilities, ["x", "y"], None, resamples=200)
    assert 0.2 < by_image["accuracy"][0] < 0.5 < by_image["accuracy"][1] < 0.8


def test_bootstrap_is_seeded_and_covers_the_estimate() -> None:
    rng = np.random.default_rng(1)
    y_true = rng.choice(2, 200)
    probabilities = np.where(rng.random((200, 1)) < 0.8, np.eye(2)[y_true], np.eye(2)[1 - y_true])
    first = bootstrap_intervals(y_true, probabilities * 0.9 + 0.05, ["a", "b"], resamples=300)
    second = bootstrap_intervals(y_true, probabilities * 0.9 + 0.05, ["a", "b"], resamples=300)
    assert first == second
    accuracy = np.mean(probabilities.argmax(1) == y_true)
    low, high = first["accuracy"]
    assert low < accuracy < high and high - low < 0.15
