"""Every recipe's demo, end to end with short settings: train -> evaluate -> explain ->
export; and the real-data rule: no silent fall back from ImageNet weights."""

import importlib
import json
from pathlib import Path

import pytest

from bcnet_tf.models import WeightsError

SHORT = ["--bootstrap", "50", "--quantize", "none,int8"]
CASES = {
    "databiox_grading": ["--image-size", "64", "--epochs", "2", "--weights", "none"],
    "busi_resnet9": ["--image-size", "32", "--demo-epochs", "1", "--batch-size", "32"],
    "mammography_resnet": [
        "--models",
        "resnet18",
        "--image-size",
        "48",
        "--demo-epochs",
        "2",
        "--head-epochs",
        "1",
    ],
    "multi_cancer_resnet18": ["--image-size", "48", "--epochs", "1"],
    "breakhis_attention": [
        "--models",
        "resnet50_attention",
        "--demo-image-size",
        "48",
    ],
}


@pytest.mark.parametrize("name", list(CASES))
def test_recipe_demo_runs_to_a_bundle(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = importlib.import_module(f"recipes.{name}")
    out = tmp_path / name
    recipe.main([*CASES[name], *SHORT, "--out", str(out)])
    printed = capsys.readouterr().out
    assert "demo on the embedded synthetic dataset" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["demo"] is True
    bundles = list(tmp_path.glob("*-bundle"))
    assert bundles, "no bundle exported"
    spec = json.loads((bundles[0] / "spec.json").read_text())
    assert {"model_float32.tflite", "model_int8.tflite", "model.keras"} <= set(spec["artifacts"])
    reports = list(out.rglob("evaluation-test/report.html"))
    assert reports and list(out.rglob("explain/*_gradcam_*.png"))


def test_demo_falls_back_to_random_weights_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from recipes import _runner

    def offline(key: str, model: str) -> Path:
        raise WeightsError(f"{model}: cannot download ImageNet weights (offline).")

    monkeypatch.setattr(_runner, "fetch_imagenet", offline)
    assert _runner.weights_for("resnet18", "imagenet", demo=True) is None
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert len(lines) == 1 and "Continuing from random initialisation" in lines[0]
    with pytest.raises(WeightsError, match="cannot download"):
        _runner.weights_for("resnet18", "imagenet", demo=False)


def test_histology_recipe_demo_in_tile_mode_with_stain_normalisation(tmp_path: Path) -> None:
    recipe = importlib.import_module("recipes.databiox_grading")
    out = tmp_path / "databiox_tiles"
    tiles = ["--mode", "tiles", "--tile-size", "48", "--tiles-per-image", "2"]
    short = ["--stain", "reinhard", "--epochs", "1", "--weights", "none", *SHORT]
    recipe.main([*tiles, *short, "--out", str(out)])
    spec = json.loads(next(tmp_path.glob("*-bundle/spec.json")).read_text())
    assert spec["image_size"] == [48, 48]
    assert spec["extra"]["tiles"]["per_image"] == 2
    assert spec["extra"]["stain"]["method"] == "reinhard"
    metrics = json.loads((out / "evaluation-test" / "metrics.json").read_text())
    assert sum(metrics["class_counts"].values()) == len(
        json.loads((out / "split.json").read_text())["parts"]["test"]
    )  # evaluated per image, not per tile
