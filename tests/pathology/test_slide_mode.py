"""Whole-slide mode end to end: a CSV manifest of pyramidal slides with slide labels ->
train on tissue tiles -> slide-level evaluation with patient intervals and heat maps;
the attention-MIL head on cached tile features."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from bcnet_tf.errors import BcnetError
from bcnet_tf.evaluation import evaluate
from bcnet_tf.export import export
from bcnet_tf.pathology.tiles import TileSpec
from bcnet_tf.training import train
from tests.slides import slide_image, tiff_writer, write_slide

SPEC = TileSpec(size=32, mpp=1.0, per_image=4, min_tissue=0.5, top_k=2)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 slides of 384 px at 0.25 µm/px, 6 patients, benign or malignant BreakHis tissue."""
    tiff_writer()
    root = tmp_path_factory.mktemp("slides") / "slides"
    rows = []
    for i in range(12):
        label, source = ("benign", i % 6) if i < 6 else ("malignant", 8 + i % 4)
        image = slide_image((384, 384), [(32, 32, 320, 256)], seed=source)
        write_slide(root / f"s{i}.tif", image)
        rows.append((f"s{i}.tif", label, f"patient{i // 2}"))
    with (root / "slides.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([("path", "label", "patient"), *rows])
    return root / "slides.csv"


def _train(manifest: Path, run: Path, aggregate: str) -> None:
    train(
        model="resnet9",
        data=str(manifest),
        run_dir=str(run),
        weights=None,
        epochs=1,
        batch_size=16,
        precision="float32",
        val=0.25,
        test=0.25,
        stain="reinhard",
        tiles=TileSpec(**{**SPEC.to_json(), "aggregate": aggregate}),
    )


@pytest.mark.slow
def test_train_and_evaluate_on_slides(manifest: Path, tmp_path: Path) -> None:
    digest = sorted(p.name for p in manifest.parent.iterdir())
    _train(manifest, tmp_path / "run", "top_k")
    evaluation = evaluate(tmp_path / "run", resamples=20, examples=1)
    paths = [r.path for r in evaluation.records]
    assert len(evaluation.probabilities) == len(set(paths)) == 4  # one row per slide (2 patients)
    assert np.allclose(evaluation.probabilities.sum(axis=1), 1.0)
    summary = json.loads((evaluation.out_dir / "metrics.json").read_text())
    assert summary["bootstrap"]["unit"] == "patient"
    assert "slide_heat_maps.png" in summary["pictures"].values()
    assert "slide_heat_maps.png" in (evaluation.out_dir / "report.html").read_text()
    assert sorted(p.name for p in manifest.parent.iterdir()) == digest  # nothing written there
    with pytest.raises(BcnetError, match=r"reads whole-slide images \(--mpp 1.0\).*Fix: "):
        export(tmp_path / "run", out=tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()


@pytest.mark.slow
def test_the_attention_head_learns_from_slide_features(manifest: Path, tmp_path: Path) -> None:
    _train(manifest, tmp_path / "run", "attention")
    assert (tmp_path / "run" / "checkpoints" / "attention_mil.keras").is_file()
    assert (tmp_path / "run" / "features" / "attention_mil.npz").is_file()
    evaluation = evaluate(tmp_path / "run", resamples=0, examples=1)
    assert np.allclose(evaluation.probabilities.sum(axis=1), 1.0)
    assert (evaluation.out_dir / "slide_heat_maps.png").is_file()
