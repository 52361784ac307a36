"""evaluate() and `bcnet-tf evaluate` / `explain` end to end on a tiny trained run;
the HTML report in a real browser (headless Chromium)."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from bcnet_tf.cli import main
from bcnet_tf.errors import BcnetError
from bcnet_tf.evaluation import evaluate
from bcnet_tf.evaluation.bootstrap import bootstrap_intervals
from bcnet_tf.evaluation.report import render_report
from bcnet_tf.training import train
from tests.conftest import tree_digest

TINY = dict(
    model="resnet9", weights=None, image_size=32, batch_size=16, augment="none", precision="float32"
)
PICTURES = {
    "training_curves.png",
    "confusion_matrix.png",
    "roc_curves.png",
    "reliability.png",
    "top_losses.png",
    "probabilities.png",
    "gradcam.png",
    "model.png",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("evaluation") / "run"
    train(run_dir=str(run_dir), epochs=2, **TINY)
    return run_dir


@pytest.fixture(scope="module")
def evaluated(run: Path):
    return evaluate(run, tta=True, temperature=True, resamples=100)


def test_metrics_json_holds_metrics_intervals_split_and_config(run: Path, evaluated) -> None:
    summary = json.loads((run / "evaluation-test" / "metrics.json").read_text())
    assert summary["split"] == "test" and summary["tta"] is True
    assert summary["config"]["model"] == "resnet9"
    assert summary["class_names"] == ["grade_1", "grade_2", "grade_3"]
    split = json.loads((run / "split.json").read_text())
    assert summary["metrics"]["n"] == len(split["parts"]["test"])
    metrics = summary["metrics"]
    assert summary["bootstrap"]["unit"] == "patient"  # the synthetic data has patients
    patients = {name: set() for name in summary["class_names"]}
    for entry in split["parts"]["test"]:
        patients[entry["label"]].add(entry["group"])
    counts = {name: len(groups) for name, groups in patients.items()}
    assert summary["bootstrap"]["groups_per_class"] == counts
    assert summary["bootstrap"]["groups"] == len(set().union(*patients.values()))
    short = [
        f"{n} patient{'s' if n > 1 else ''} in class {name}" for name, n in counts.items() if n < 5
    ]
    assert short, "the tiny run's test part is expected to have fewer than 5 patients a class"
    assert summary["bootstrap"]["refused"] == f"{', '.join(short)} (need >= 5 per class)"
    assert summary["intervals"] == {} and summary["bootstrap"]["degenerate"] is None
    assert 0 <= metrics["patient_recognition_rate"] <= 1
    assert "temperature" in summary["calibration"]
    y_pred = evaluated.probabilities.argmax(1)
    assert metrics["accuracy"] == pytest.approx(np.mean(y_pred == evaluated.y_true))
    rows = (run / "evaluation-test" / "predictions.csv").read_text().splitlines()
    assert len(rows) == metrics["n"] + 1 and rows[0].startswith("path,label,predicted,p_")


def test_every_picture_is_written(run: Path, evaluated) -> None:
    out = run / "evaluation-test"
    assert {p.name for p in out.glob("*.png")} == PICTURES
    assert set(evaluated.summary["pictures"].values()) == PICTURES


def test_model_file_on_a_dataset_with_other_labels_is_refused(
    run: Path, folder_dataset: Path
) -> None:
    with pytest.raises(BcnetError, match=r"labels \[.*\] that the model does not know"):
        evaluate(run / "checkpoints" / "best.keras", data=str(folder_dataset), resamples=0)


def test_cli_evaluate_and_explain_leave_the_dataset_untouched(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = Path(json.loads((run / "config.json").read_text())["data"] or "")
    split = json.loads((run / "split.json").read_text())
    root = run / "dataset-copy"
    from bcnet_tf.data.synthetic import synthetic_dataset

    shutil.copytree(data if data.name else synthetic_dataset(), root)
    before = tree_digest(root)
    model = run / "checkpoints" / "best.keras"
    out = tmp_path / "eval"
    assert (
        main(["evaluate", str(model), "--data", str(root), "--bootstrap", "50", "--out", str(out)])
        == 0
    )
    printed = capsys.readouterr().out
    interval = r"95% CI \d\.\d{4}\N{EN DASH}\d\.\d{4}"
    assert re.search(rf"balanced_accuracy +\d\.\d{{4}}  {interval}\n", printed)
    assert re.search(r"intervals over 50 resamples of the \d+ patients", printed)
    assert (out / "report.html").exists()
    image = root / split["parts"]["test"][0]["path"]
    assert main(["explain", str(model), str(image), "--out", str(tmp_path / "cams")]) == 0
    written = sorted(p.name for p in (tmp_path / "cams").iterdir())
    stem = image.stem
    assert [n.removeprefix(f"{stem}_").split("_")[0] for n in written] == ["gradcam", "occlusion"]
    assert tree_digest(root) == before


def test_report_renders_with_its_images_in_chromium(run: Path, evaluated, tmp_path: Path) -> None:
    """What a person sees: the report as it is (too few patients for intervals) and the
    same evaluation with intervals, both without a visible entity or tag."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    out = run / "evaluation-test"
    summary = json.loads((out / "metrics.json").read_text())
    groups = [r.patient for r in evaluated.records]
    with_intervals = bootstrap_intervals(
        evaluated.y_true,
        evaluated.probabilities,
        summary["class_names"],
        groups,
        resamples=50,
        min_groups=1,
    )
    summary.update(intervals=with_intervals.intervals, bootstrap=with_intervals.to_json())
    second = tmp_path / "report.html"
    second.write_text(render_report(out, summary), encoding="utf-8")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page()
        page.goto((out / "report.html").resolve().as_uri())
        images = page.eval_on_selector_all(
            "img", "els => els.map(e => [e.complete, e.naturalWidth, e.naturalHeight])"
        )
        heading = page.inner_text("h1")
        text = page.inner_text("body")
        page.goto(second.resolve().as_uri())
        text_with_intervals = page.inner_text("body")
        browser.close()
    assert len(images) == len(PICTURES)
    assert all(done and width > 50 and height > 50 for done, width, height in images)
    assert "resnet9" in heading and "Research use only" in text
    refused = json.loads((out / "metrics.json").read_text())["bootstrap"]["refused"]
    assert f"No confidence intervals: {refused}." in text
    n = len(set(groups))
    assert f"95 % percentile-bootstrap intervals over 50 resamples of the {n} patients" in (
        text_with_intervals
    )
    assert f"95 % CI (n = {n} patients)" in text_with_intervals
    accuracy = "{:.3f}\N{EN DASH}{:.3f}".format(*with_intervals.intervals["accuracy"])
    assert accuracy in text_with_intervals
    for seen in (text, text_with_intervals):
        assert not re.search(r"&[a-zA-Z]+;|&#\d+;|&#x[0-9a-fA-F]+;", seen), "visible entity"
        assert not re.search(r"</?[a-zA-Z][a-zA-Z0-9]*[\s>/]", seen), "visible markup"


def test_without_patients_the_bootstrap_resamples_duplicate_groups(
    folder_dataset: Path, tmp_path: Path
) -> None:
    """Near-copies are not independent: the groups the split kept together are the
    bootstrap's unit when there are no patient ids."""
    run_dir = tmp_path / "run"
    train(run_dir=str(run_dir), data=str(folder_dataset), epochs=1, val=0.25, test=0.25, **TINY)
    result = evaluate(run_dir, resamples=20)
    assert result.summary["bootstrap"]["unit"] == "duplicate group"
    assert "patient_accuracy" not in result.metrics
