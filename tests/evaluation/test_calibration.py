"""ECE and temperature scaling."""

import numpy as np
import pytest
from scipy.special import softmax

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
