"""The input guard on a small real-data model: SqueezeNet with the real ImageNet weights
(frozen, 96 px) exported from a handful of real BUSI ultrasound images. The guard must
accept held-out BUSI images and reject real BreakHis histology, synthetic H&E tiles and
blank images; the Keras model, the float32 and int8 TFLite files (uint8 outputs, so the
features must be dequantised) and the edge predictor must take the same decisions on
that fixed set. Skipped without ``../shared``."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import SHARED

WEIGHTS = SHARED / "weights" / "squeezenet_v1.1_imagenet_notop.h5"
SIZE = 96
TRAIN_PER_CLASS = 40
HELD_OUT_PER_CLASS = 4


@pytest.fixture(scope="module")
def busi_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path], list[Path]]:
    """``(bundle, held-out BUSI files, out-of-distribution files)``."""
    busi = SHARED / "data" / "busi_256"
    if not busi.is_dir() or not WEIGHTS.is_file():
        pytest.skip("../shared (BUSI images, SqueezeNet weights) is not present")
    from bcnet_tf.data.synthetic import draw_tile
    from bcnet_tf.export import export
    from bcnet_tf.models import ModelInfo, build_model, save_model

    root = tmp_path_factory.mktemp("busi_guard")
    held_out, outside = [], []
    for name in ("benign", "malignant", "normal"):
        files = sorted((busi / name).glob("*.png"))
        (root / "data" / name).mkdir(parents=True)
        for file in files[:TRAIN_PER_CLASS]:
            shutil.copy(file, root / "data" / name / file.name)
        held_out += files[-HELD_OUT_PER_CLASS:]
    outside += sorted((SHARED / "data" / "breakhis_samples").glob("*.png"))[:6]
    rng = np.random.default_rng(0)
    for grade in (1, 2, 3):
        outside.append(root / f"synthetic_he_{grade}.png")
        Image.fromarray(draw_tile(rng, grade, 128, np.ones(3), 1.0)).save(outside[-1])
    outside.append(root / "blank.png")
    Image.fromarray(np.full((256, 256, 3), 90, np.uint8)).save(outside[-1])
    model = build_model("squeezenet", 3, image_size=SIZE, weights=str(WEIGHTS))
    info = ModelInfo(("benign", "malignant", "normal"), "squeezenet", (SIZE, SIZE))
    save_model(model, root / "model.keras", info)
    bundle = export(
        root / "model.keras",
        data=str(root / "data"),
        out=root / "bundle",
        formats=("keras", "tflite"),
        quantize=("none", "int8"),
        int8_io=True,  # uint8 pixels in, uint8 probabilities and features out
        calibration=TRAIN_PER_CLASS,
    ).bundle
    return bundle, held_out, outside


def test_guard_accepts_held_out_ultrasound_and_rejects_other_images(
    busi_bundle: tuple[Path, list[Path], list[Path]],
) -> None:
    from bcnet_tf.edge import Predictor

    bundle, held_out, outside = busi_bundle
    spec = json.loads((bundle / "spec.json").read_text())["guard"]
    assert spec["checks"]["colour"] == "grey"  # BUSI is grey ultrasound
    for artifact in ("model_float32.tflite", "model_int8.tflite"):
        predictor = Predictor(bundle, artifact=artifact)
        inside = [p.in_distribution for p in predictor.predict(held_out)]
        assert sum(inside) >= len(held_out) - 1, (artifact, inside)
        assert not any(p.in_distribution for p in predictor.predict(outside)), artifact


def test_keras_tflite_and_edge_take_the_same_decisions(
    busi_bundle: tuple[Path, list[Path], list[Path]],
) -> None:
    """The Keras-side decisions are computed here from the library's parts (the Keras
    model's features, the guard file, the spec's thresholds and checks); each TFLite
    file is run directly and through the edge predictor."""
    from bcnet_tf.data.checks import check_image
    from bcnet_tf.data.decode import decode_rgb
    from bcnet_tf.data.pipeline import load_files
    from bcnet_tf.edge import Predictor, TFLiteModel
    from bcnet_tf.edge.guard import FeatureGuard
    from bcnet_tf.models import load_model
    from bcnet_tf.models.factory import with_features

    bundle, held_out, outside = busi_bundle
    files = held_out + outside
    spec = json.loads((bundle / "spec.json").read_text())["guard"]
    guard = FeatureGuard.load(bundle / spec["file"])
    checks = spec["checks"]
    passed = np.array(
        [check_image(decode_rgb(f), checks["min_side"], checks["colour"]) is None for f in files]
    )
    pixels = load_files(files, SIZE).astype(np.float32)
    model, _ = load_model(bundle / "model.keras")
    features = {"model.keras": with_features(model).predict(pixels, verbose=0)["features"]}
    for artifact in ("model_float32.tflite", "model_int8.tflite"):
        features[artifact] = TFLiteModel(bundle / artifact).run(pixels)["features"]
    keras_features = features["model.keras"][: len(held_out)]
    for artifact, tolerance in (("model_float32.tflite", 1e-4), ("model_int8.tflite", 0.15)):
        error = np.linalg.norm(features[artifact][: len(held_out)] - keras_features, axis=1)
        relative = np.median(error / np.linalg.norm(keras_features, axis=1))
        keras_threshold = spec["thresholds"]["model.keras"]
        assert relative < tolerance, (artifact, relative)  # dequantised to Keras' scale
        assert spec["thresholds"][artifact] == pytest.approx(keras_threshold, rel=tolerance)
    decisions = {
        artifact: passed & (guard.score(values) <= spec["thresholds"][artifact])
        for artifact, values in features.items()
    }
    for artifact in ("model_float32.tflite", "model_int8.tflite"):
        edge = [p.in_distribution for p in Predictor(bundle, artifact=artifact).predict(files)]
        decisions[f"edge {artifact}"] = np.array(edge)
    reference = decisions["model.keras"]
    assert not reference[len(held_out) :].any() and reference[: len(held_out)].sum() >= 11
    for name, decided in decisions.items():
        np.testing.assert_array_equal(decided, reference, err_msg=name)
