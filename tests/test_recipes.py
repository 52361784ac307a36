"""Every recipe's demo, end to end with short settings: train -> evaluate -> explain ->
export; and the real-data rule: no silent fall back from ImageNet weights."""

import csv
import importlib
import json
import shlex
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from bcnet_tf.edge import Predictor
from bcnet_tf.models import WeightsError
from tests.conftest import tree_digest, write_image

SHORT = ["--bootstrap", "50", "--quantize", "none,int8"]
CASES = {
    "databiox_grading": ["--image-size", "64", "--epochs", "2", "--weights", "none"],
    "busi_resnet9": [
        "--image-size",
        "32",
        "--demo-epochs",
        "1",
        "--batch-size",
        "32",
        "--protocol",
        "paper",
    ],
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
    assert results["published"] == [asdict(number) for number in recipe.PUBLISHED]
    assert "published: " in printed
    bundles = list(tmp_path.glob("*-bundle"))
    assert bundles, "no bundle exported"
    spec = json.loads((bundles[0] / "spec.json").read_text())
    assert {"model_float32.tflite", "model_int8.tflite", "model.keras"} <= set(spec["artifacts"])
    reports = list(out.rglob("evaluation-test/report.html"))
    assert reports and list(out.rglob("explain/*_gradcam_*.png"))


def test_busi_protocols_side_by_side(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--protocol both``: the study's image-level split (labelled leaking) beside
    grouped k-fold cross-validation, same model and recipe."""
    from recipes import busi_resnet9

    out = tmp_path / "busi"
    flags = "--image-size 32 --demo-epochs 1 --batch-size 32 --protocol both --k 2"
    results = busi_resnet9.main(
        [
            *shlex.split(flags),
            "--no-compare-constant",
            *SHORT[:2],
            "--quantize",
            "",
            "--out",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    paper, cv = results["one_cycle_switch"], results["one_cycle_switch-cv2"]
    assert "LEAKING" in paper["protocol"] and cv["protocol"] == "patient-wise 2-fold CV"
    summary = json.loads(
        (out / "one_cycle_switch-cv2" / "evaluation" / "cv_report.json").read_text()
    )
    assert cv["accuracy"]["mean"] == summary["folds"]["accuracy"]["mean"]
    assert cv["accuracy"]["pooled"] == summary["metrics"]["accuracy"]
    row = next(line for line in printed.splitlines() if line.startswith("accuracy "))
    assert f"{paper['accuracy']['value']:.3f}" in row
    assert f"{cv['accuracy']['mean']:.3f} ± {cv['accuracy']['sd']:.3f}" in row
    assert len(list(out.glob("one_cycle_switch-cv2/repeat0-fold*/checkpoints/best.keras"))) == 2


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
    tiles = ["--mode", "tiles", "--tile-size", "48", "--tile-per-image", "2"]
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


# --- every recipe's --data branch, on a small folder in the study's own layout ---

#: file written by the test -> (its class, its patient or None)
Truth = dict[str, tuple[str, str | None]]
BREAKHIS_SUBTYPES = {"benign": ("A", "F", "PT", "TA"), "malignant": ("DC", "LC", "MC", "PC")}


def _databiox(root: Path) -> Truth:
    """``<grade>/<patient>/<magnification>/*.jpg``: 3 grades x 4 patients x 2 images."""
    truth = {}
    for g, grade in enumerate(("grade_1", "grade_2", "grade_3")):
        for p in range(4):
            for i in range(2):
                path = root / grade / f"patient{p}" / "10x" / f"{i}.jpg"
                write_image(path, "jpeg", size=(40, 40), seed=100 * g + 10 * p + i)
                truth[str(path)] = grade, f"{grade}/patient{p}"
    return truth


def _breakhis(root: Path) -> Truth:
    """BreakHis file names, 6 benign and 6 malignant patients with 2 images at 40X and
    one at 100X each; the truth lists the 40X files only (the run is limited to 40X)."""
    truth = {}
    for c, (tumor, subtypes) in enumerate(BREAKHIS_SUBTYPES.items()):
        for p in range(6):
            patient = f"{1000 + 10 * c + p}AB"
            for i, magnification in enumerate((40, 40, 100)):
                code = f"{tumor[0].upper()}_{subtypes[p % 4]}"
                path = root / f"SOB_{code}-14-{patient}-{magnification}-{i:03d}.png"
                write_image(path, size=(40, 48), seed=100 * c + 10 * p + i)
                if magnification == 40:
                    truth[str(path)] = tumor, patient
    return truth


def _class_folders(
    root: Path, classes: tuple[str, ...], kinds: tuple[str, ...] = ("png",)
) -> Truth:
    """8 images per class folder, of ``kinds`` in turn."""
    truth = {}
    for c, name in enumerate(classes):
        for i in range(8):
            kind = kinds[i % len(kinds)]
            path = root / name / f"{name}_{i}{'.pgm' if kind == 'pgm' else '.png'}"
            write_image(path, kind, size=(40, 40), seed=100 * c + i)
            truth[str(path)] = name, None
    return truth


class Run(NamedTuple):
    """One training run of a recipe: its folder under ``--out``, the dataset folder it
    trains on (under the test's folder) and where results.json reports its accuracy."""

    folder: str
    dataset: str
    accuracy: Callable[[dict[str, Any]], float]


def _headline(key: str, folder: str, dataset: str = ".") -> Run:
    return Run(folder, dataset, lambda results: results[key]["accuracy"]["value"])


BUSI = ("benign", "malignant", "normal")
MAMMOGRAPHY = (
    "cancer_negative",
    "cancer_positive",
    "implant_cancer_negative",
    "implant_cancer_positive",
)
BREAST = ("breast_benign", "breast_malignant")
FAST = "--image-size 32 --epochs 1 --bootstrap 0 --quantize none --batch-size 8"
# recipe -> (folder builder, extra flags, class names, its runs)
DATA_CASES: dict[str, tuple[Callable[[Path], Truth], str, tuple[str, ...], Run]] = {
    "databiox_grading": (
        _databiox,
        "--weights none --stop-at none",
        ("grade_1", "grade_2", "grade_3"),
        _headline("bcnet_vgg16", "."),
    ),
    "breakhis_attention": (
        _breakhis,
        "--models squeezenet --magnifications 40X --trials 1 --weights none",
        tuple(BREAKHIS_SUBTYPES),
        Run("squeezenet/40X/trial0", ".", lambda results: results["runs"][0]["accuracy"]),
    ),
    "busi_resnet9": (
        lambda root: _class_folders(root, BUSI),
        "--no-compare-constant --protocol paper",
        BUSI,
        _headline("one_cycle_switch", "one_cycle_switch"),
    ),
    "mammography_resnet": (
        lambda root: _class_folders(root, MAMMOGRAPHY, kinds=("png16", "pgm")),
        "--models squeezenet --epochs 2 --head-epochs 1 --weights none",
        MAMMOGRAPHY,
        _headline("squeezenet", "squeezenet"),
    ),
    "multi_cancer_resnet18": (
        lambda root: (
            _class_folders(root / "Breast Cancer", BREAST)
            | _class_folders(root / "Oral Cancer", ("oral_normal", "oral_scc"))
        ),
        '--types "Breast Cancer" --weights none',
        BREAST,
        _headline("Breast Cancer", "Breast_Cancer", "Breast Cancer"),
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(DATA_CASES))
def test_recipe_runs_on_data_in_its_studys_layout(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The ``--data`` branch end to end on a folder the test wrote: every test image
    is evaluated under the class the test gave it, patients never straddle parts, the
    reported accuracy is the one the predictions give, the bundle predicts the
    folder's classes, and the folder is left untouched."""
    build, flags, classes, run = DATA_CASES[name]
    data = tmp_path / "data"
    truth = build(data)
    untouched = tree_digest(data)
    out = tmp_path / name
    importlib.import_module(f"recipes.{name}").main(
        ["--data", str(data), *shlex.split(f"{FAST} {flags}"), "--out", str(out)]
    )
    assert "demo on the embedded synthetic dataset" not in capsys.readouterr().out
    assert tree_digest(data) == untouched

    results = json.loads((out / "results.json").read_text())
    assert results["demo"] is False and results["settings"]["data"] == str(data)
    assert [p.parent for p in out.rglob("split.json")] == [out / run.folder]  # one run only
    root = data / run.dataset
    assert json.loads((out / run.folder / "config.json").read_text())["data"] == str(root)
    parts = json.loads((out / run.folder / "split.json").read_text())["parts"]
    patients = [{truth[str(root / row["path"])][1] for row in rows} for rows in parts.values()]
    if None not in patients[0]:  # patients never straddle parts
        assert sum(map(len, patients)) == len(set().union(*patients))
    with (out / run.folder / "evaluation-test" / "predictions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(row["path"] for row in rows) == sorted(row["path"] for row in parts["test"])
    assert all(row["label"] == truth[str(root / row["path"])][0] for row in rows)
    correct = [row["label"] == row["predicted"] for row in rows]
    assert run.accuracy(results) == pytest.approx(sum(correct) / len(correct))

    (bundle,) = tmp_path.glob("*-bundle")
    assert tuple((bundle / "labels.txt").read_text().split()) == classes
    (prediction,) = Predictor(bundle).predict([min(truth)])
    assert prediction.top[0][0] in classes
    assert sum(prediction.probabilities.values()) == pytest.approx(1, abs=1e-4)


@pytest.mark.parametrize("name", list(CASES))
def test_a_recipes_flags_default_to_its_preset_and_override_it(name: str) -> None:
    from recipes import parse_recipe

    recipe = importlib.import_module(f"recipes.{name}")
    assert (
        parse_recipe(recipe.Settings, [], recipe.__doc__).train_config(recipe.PRESET)
        == recipe.PRESET
    )
    changed = parse_recipe(recipe.Settings, ["--seed", "7", "--data", "somewhere"], "")
    config = changed.train_config(recipe.PRESET, run_dir="out")
    assert (config.seed, config.data, config.run_dir) == (7, "somewhere", "out")


def test_tile_flags_reach_the_config_in_tile_mode_only() -> None:
    from bcnet_tf.pathology.tiles import TileSpec
    from recipes import databiox_grading, parse_recipe

    flags = ["--tile-size", "96", "--tile-per-image", "3"]
    tiled = parse_recipe(databiox_grading.Settings, ["--mode", "tiles", *flags], "")
    assert tiled.train_config(databiox_grading.PRESET).tiles == TileSpec(size=96, per_image=3)
    whole = parse_recipe(databiox_grading.Settings, flags, "")
    assert whole.train_config(databiox_grading.PRESET).tiles is None
