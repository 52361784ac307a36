"""`bcnet-tf cv` / cross_validate + cross_validation_report end to end on tiny data
(k=3): folds, resuming, pooled metrics against scikit-learn, the leaking protocol."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    roc_auc_score,
)

from bcnet_tf.cli import main
from bcnet_tf.data.splits import LeakageWarning
from bcnet_tf.models import register_model, unregister_model
from tests.conftest import rgb_pattern, tree_digest, write_image

CLASSES = ("benign", "malignant", "normal")
TINY = [
    "--model", "cv_tiny", "--weights", "none", "--image-size", "16", "--epochs", "1",
    "--batch-size", "16", "--augment", "none", "--precision", "float32", "--bootstrap", "200",
]  # fmt: skip


def _copies(root: Path) -> list[str]:
    """Near-duplicates of benign_0 (resized copies), the group that must stay together."""
    copies = []
    for i in range(2):
        path = root / "benign" / f"benign_0_copy{i}.png"
        image = Image.fromarray(rgb_pattern(seed=0)).resize((80 + 8 * i, 60)).resize((64, 48))
        image.save(path)
        copies.append(f"benign/{path.name}")
    return ["benign/benign_0.png", *copies]


@pytest.fixture(scope="module", autouse=True)
def tiny_model() -> Iterator[None]:
    """Two convolutions: a fold trains in a moment."""

    @register_model(
        "cv_tiny",
        default_size=16,
        preprocessing="unit",
        stages=(("cv_tiny_block",),),
        study="none",
        description="two convolutions",
    )
    def cv_tiny(x):
        x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="cv_tiny_block1")(x)
        return keras.layers.Conv2D(8, 3, activation="relu", name="cv_tiny_block2")(x)

    yield
    unregister_model("cv_tiny")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("cv") / "data"
    for c, name in enumerate(CLASSES):
        for i in range(10):
            write_image(root / name / f"{name}_{i}.png", seed=100 * c + i)
    return root, _copies(root)


@pytest.fixture(scope="module")
def cv_run(dataset: tuple[Path, list[str]]) -> tuple[Path, str]:
    root, _ = dataset
    out = root.parent / "cv"
    command = ["cv", "--data", str(root), "--k", "3", "--group-by", "duplicates", *TINY]
    command += ["--run-dir", str(out)]
    printed = StringIO()
    with redirect_stdout(printed):
        assert main(command) == 0
    return out, printed.getvalue()


def _rows(out: Path) -> list[dict[str, str]]:
    with (out / "evaluation" / "out_of_fold.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_image_is_predicted_exactly_once_out_of_fold(dataset, cv_run) -> None:
    (root, _), (out, _) = dataset, cv_run
    expected = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png"))
    assert len(expected) == 32
    rows = _rows(out)
    assert sorted(row["path"] for row in rows) == expected
    for row in rows:  # predicted by the fold whose test part holds it
        split = json.loads((out / f"repeat0-fold{row['fold']}" / "split.json").read_text())
        assert row["path"] in {entry["path"] for entry in split["parts"]["test"]}


def test_folds_are_disjoint_by_group_and_keep_duplicates_together(dataset, cv_run) -> None:
    (_, copies), (out, _) = dataset, cv_run
    test_groups = []
    for fold in range(3):
        split = json.loads((out / f"repeat0-fold{fold}" / "split.json").read_text())
        assert set(split["parts"]) == {"train", "val", "test"}
        groups = {part: {e["group"] for e in entries} for part, entries in split["parts"].items()}
        assert not groups["train"] & groups["val"]
        assert not (groups["train"] | groups["val"]) & groups["test"]
        test_groups.append(groups["test"])
        paths = {part: {e["path"] for e in entries} for part, entries in split["parts"].items()}
        assert [part for part in paths if set(copies) <= paths[part]], "copies were split"
    assert sum(len(g) for g in test_groups) == len(set().union(*test_groups))
    fold_of = {row["path"]: row["fold"] for row in _rows(out)}
    assert len({fold_of[path] for path in copies}) == 1


def test_pooled_metrics_equal_scikit_learns(cv_run) -> None:
    out, printed = cv_run
    rows = _rows(out)
    summary = json.loads((out / "evaluation" / "cv_report.json").read_text())
    assert summary["class_names"] == list(CLASSES)
    y = np.array([CLASSES.index(row["label"]) for row in rows])
    p = np.array([[float(row[f"p_{name}"]) for name in CLASSES] for row in rows])
    predicted = p.argmax(1)
    metrics = summary["metrics"]
    assert metrics["accuracy"] == pytest.approx(accuracy_score(y, predicted))
    assert metrics["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, predicted))
    assert metrics["macro_f1"] == pytest.approx(
        f1_score(y, predicted, average="macro", zero_division=0)
    )
    assert metrics["roc_auc_macro"] == pytest.approx(
        roc_auc_score(y, p, multi_class="ovr", average="macro"), abs=1e-5
    )
    assert metrics["confusion_matrix"] == confusion_matrix(y, predicted).tolist()
    folds = np.array([int(row["fold"]) for row in rows])
    per_fold = [accuracy_score(y[folds == f], predicted[folds == f]) for f in range(3)]
    assert summary["folds"]["accuracy"]["mean"] == pytest.approx(np.mean(per_fold), abs=1e-4)
    assert summary["folds"]["accuracy"]["sd"] == pytest.approx(np.std(per_fold, ddof=1), abs=1e-4)
    assert summary["bootstrap"]["unit"] == "duplicate group"
    assert summary["leaking"] is False and summary["protocol"] == "duplicate-aware 3-fold CV"
    assert "duplicate-aware 3-fold CV" in printed and "LEAKING" not in printed
    pictures = {"per_fold.png", "confusion_matrix.png", "roc_curves.png", "reliability.png"}
    assert {f.name for f in (out / "evaluation").glob("*.png")} == pictures
    assert "duplicate-aware 3-fold CV" in (out / "evaluation" / "report.html").read_text()


def test_rerunning_resumes_every_fold_and_another_protocol_is_refused(
    dataset, cv_run, capsys: pytest.CaptureFixture[str]
) -> None:
    (root, _), (out, _) = dataset, cv_run
    trained = {p: p.stat().st_mtime_ns for p in out.glob("repeat0-fold*/history.csv")}
    assert len(trained) == 3
    before = tree_digest(root)
    command = ["cv", "--data", str(root), "--k", "3", "--group-by", "duplicates", *TINY]
    assert main([*command, "--run-dir", str(out), "--bootstrap", "0"]) == 0
    assert {p: p.stat().st_mtime_ns for p in trained} == trained  # nothing retrained
    command[command.index("3")] = "4"
    assert main([*command, "--run-dir", str(out)]) == 2
    assert "other settings" in capsys.readouterr().err
    assert tree_digest(root) == before


def test_image_level_protocol_is_labelled_leaking_everywhere(
    dataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = dataset
    command = ["cv", "--data", str(root), "--k", "2", "--group-by", "image", *TINY]
    with pytest.warns(LeakageWarning):
        assert main([*command, "--run-dir", str(tmp_path / "leak")]) == 0
    assert "LEAKING" in capsys.readouterr().out
    evaluation = tmp_path / "leak" / "evaluation"
    summary = json.loads((evaluation / "cv_report.json").read_text())
    assert summary["leaking"] is True and "LEAKING" in summary["protocol"]
    assert "LEAKING" in json.loads((tmp_path / "leak" / "cv.json").read_text())["protocol"]
    html = (evaluation / "report.html").read_text()
    assert "LEAKING" in html and "optimistic" in html
    assert summary["bootstrap"]["unit"] == "image"


def test_repeats_predict_every_image_once_per_repeat_with_new_folds(dataset, tmp_path) -> None:
    from bcnet_tf.evaluation import cross_validation_report
    from bcnet_tf.training import cross_validate

    root, _ = dataset
    cv = cross_validate(
        model="cv_tiny", data=str(root), weights=None, image_size=16, epochs=1, batch_size=16,
        augment="none", precision="float32", run_dir=str(tmp_path / "cv"), split_seed=3,
        k=2, repeats=2, group_by="duplicates",
    )  # fmt: skip
    assert cv.seeds == [3, 4] and [fold.name for fold in cv.folds] == [
        "repeat0-fold0", "repeat0-fold1", "repeat1-fold0", "repeat1-fold1",
    ]  # fmt: skip
    report = cross_validation_report(cv.path, resamples=0)
    rows = _rows(cv.path)
    for repeat in ("0", "1"):
        assert sorted(r["path"] for r in rows if r["repeat"] == repeat) == sorted(
            p.relative_to(root).as_posix() for p in root.rglob("*.png")
        )
    partitions = [
        {frozenset(r["path"] for r in rows if (r["repeat"], r["fold"]) == (rep, f)) for f in "01"}
        for rep in "01"
    ]
    assert partitions[0] != partitions[1]  # another seed, other folds
    assert report.summary["metrics"]["n"] == 2 * 32 and len(report.summary["per_fold"]) == 4
    assert report.summary["protocol"] == "duplicate-aware 2-fold CV x2"
