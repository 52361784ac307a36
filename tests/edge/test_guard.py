"""The input guard's parts on synthetic data: the image checks, the Mahalanobis score
against scipy with scikit-learn's Ledoit-Wolf covariance, the conformal threshold, and
what the predictor and `bcnet-tf predict` report for accepted, rejected and unguarded
images."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.spatial.distance import mahalanobis
from sklearn.covariance import LedoitWolf

from bcnet_tf.cli import main
from bcnet_tf.data.checks import check_image
from bcnet_tf.edge.guard import REJECTED, FeatureGuard, InputGuard
from bcnet_tf.edge.predictor import Predictor
from bcnet_tf.export.guard import acceptance_threshold, fit_feature_guard

RNG = np.random.default_rng(7)
TEXTURE = RNG.integers(40, 200, (64, 64), np.uint8)
GREY = np.repeat(TEXTURE[..., None], 3, axis=2)


@pytest.mark.parametrize(
    ("image", "colour", "expected"),
    [
        (GREY, "grey", None),
        (GREY, "any", None),
        (np.full((64, 64, 3), 0, np.uint8), "any", "blank"),
        (np.full((64, 64, 3), 200, np.uint8), "any", "blank"),
        (
            np.where(np.arange(64)[:, None] < 40, 255, GREY[..., 0]).astype(np.uint8),
            "any",
            "saturated",
        ),
        (GREY[:20, :64], "any", "too small"),
        (np.zeros((64, 64, 2), np.uint8), "any", "not an image"),
        (np.zeros((2, 64, 64, 3), np.uint8), "any", "not an image"),
        (RNG.integers(0, 256, (64, 64, 3), np.uint8), "grey", "colour image"),
        (GREY, "colour", "grey image"),
        (TEXTURE, "grey", None),  # a 2-D grey array is a grey image
    ],
)
def test_image_checks(image: np.ndarray, colour: str, expected: str | None) -> None:
    reason = check_image(image, min_side=32, colour=colour)
    assert (reason is None) if expected is None else reason.startswith(expected), reason


def _classes(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three Gaussian classes in 12 dimensions with correlated features."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(12, 12))
    labels = np.arange(count) % 3
    centres = rng.normal(0, 3, (3, 12))
    return centres[labels] + rng.normal(size=(count, 12)) @ mixing, labels


def test_score_is_the_mahalanobis_distance_under_the_ledoit_wolf_covariance() -> None:
    features, labels = _classes(60, 0)
    guard = fit_feature_guard(features, labels)
    means = np.stack([features[labels == c].mean(0) for c in range(3)])
    covariance = LedoitWolf(assume_centered=True).fit(features - means[labels]).covariance_
    inverse = np.linalg.inv(covariance)
    queries = np.random.default_rng(1).normal(0, 5, (10, 12))
    expected = [min(mahalanobis(q, m, inverse) for m in means) for q in queries]
    np.testing.assert_allclose(guard.score(queries), expected, rtol=1e-6)
    # fewer kept directions than the data spans: no longer the exact distance
    truncated = fit_feature_guard(features, labels, max_components=4)
    assert np.abs(truncated.score(queries) - expected).max() > 1e-2


def test_tile_mode_judges_an_image_by_its_median_tile_score(tmp_path: Path) -> None:
    features, labels = _classes(60, 3)
    fit_feature_guard(features, labels).save(tmp_path / "guard.npz")
    spec = {
        "file": "guard.npz",
        "thresholds": {"model.tflite": 6.0},
        "checks": {"min_side": 32, "colour": "any"},
    }
    guard = InputGuard(spec, tmp_path, "model.tflite")
    means = np.stack([features[labels == c].mean(0) for c in range(3)])
    covariance = LedoitWolf(assume_centered=True).fit(features - means[labels]).covariance_
    inverse = np.linalg.inv(covariance)
    near, far = features[:3], features[:3] + 40.0  # far: well beyond every class
    for tiles, accepted in [
        (np.vstack([near, far[:2]]), True),
        (np.vstack([near[:2], far]), False),
    ]:
        distances = [min(mahalanobis(t, m, inverse) for m in means) for t in tiles]
        verdict = guard.verdict(None, tiles)
        assert verdict.score == pytest.approx(np.median(distances), rel=1e-5)
        assert verdict.in_distribution is accepted
    assert not guard.verdict("blank image", near).in_distribution  # a failed check rejects


def test_guard_file_round_trips(tmp_path: Path) -> None:
    features, labels = _classes(60, 2)
    guard = fit_feature_guard(features, labels)
    guard.save(tmp_path / "guard.npz")
    loaded = FeatureGuard.load(tmp_path / "guard.npz")
    np.testing.assert_allclose(loaded.score(features), guard.score(features), rtol=1e-5)


def test_conformal_threshold_accepts_at_least_the_target_share() -> None:
    """Over many validation draws of 40 scores, the threshold accepts >= 95 % of fresh
    in-distribution scores on average; the plain 95th percentile accepts fewer."""
    rng = np.random.default_rng(3)
    conformal, plain = [], []
    for _ in range(2000):
        validation, fresh = rng.normal(size=40), rng.normal(size=200)
        conformal.append(np.mean(fresh <= acceptance_threshold(validation, 0.95)))
        plain.append(np.mean(fresh <= np.quantile(validation, 0.95)))
    assert np.mean(conformal) >= 0.95 > np.mean(plain)
    assert acceptance_threshold(np.array([3.0, 1.0, 2.0]), 0.95) == 3.0  # too few: the max


def _copy_without_guard(bundle: Path, target: Path) -> Path:
    shutil.copytree(bundle, target)
    spec = json.loads((target / "spec.json").read_text())
    del spec["guard"]
    (target / "spec.json").write_text(json.dumps(spec))
    return target


def test_predictor_reports_the_guard_and_flags_rejected_images(
    bundle: Path,
    lesion_model: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, data = lesion_model
    scan = sorted((data / "lesion").glob("*.png"))[0]
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(blank)
    structured = tmp_path / "stripes.png"  # passes the checks, far from the training images
    stripes = (np.arange(32)[None, :, None] % 8 < 4) * np.array([250, 20, 20])
    Image.fromarray(np.repeat(stripes, 32, axis=0).astype(np.uint8)).save(structured)
    accepted, rejected_blank, rejected_stripes = Predictor(bundle).predict(
        [scan, blank, structured]
    )
    assert accepted.in_distribution is True and accepted.guard.score <= accepted.guard.threshold
    assert rejected_blank.in_distribution is False
    assert rejected_blank.guard.reason.startswith("blank")
    assert rejected_stripes.in_distribution is False and rejected_stripes.guard.reason is None
    assert rejected_stripes.guard.score > rejected_stripes.guard.threshold

    assert main(["predict", str(bundle), str(scan), str(structured)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "lesion" in lines[0] and "in distribution" in lines[0]
    assert REJECTED in lines[1] and "lesion" not in lines[1] and "clear" not in lines[1]
    assert main(["predict", str(bundle), str(structured), "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["in_distribution"] is False and result["guard"]["score"] > 0
    assert main(["predict", str(bundle), str(structured), "--no-guard"]) == 0
    line = capsys.readouterr().out
    assert REJECTED not in line and "guard switched off" in line


def test_a_bundle_without_a_guard_still_predicts(
    bundle: Path,
    lesion_model: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, data = lesion_model
    scan = sorted((data / "lesion").glob("*.png"))[0]
    old = _copy_without_guard(bundle, tmp_path / "old")
    (prediction,) = Predictor(old).predict([scan])
    assert (
        prediction.in_distribution is None and prediction.guard.reason == "no guard in this bundle"
    )
    assert prediction.top[0][0] == "lesion"
    assert main(["predict", str(old), str(scan)]) == 0
    assert "no guard in this bundle" in capsys.readouterr().out
