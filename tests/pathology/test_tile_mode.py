"""Tile mode and stain normalisation end to end: train -> evaluate (image level) ->
export -> the TensorFlow-free predictor repeats the same preprocessing and aggregation."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bcnet_tf.edge import Predictor
from bcnet_tf.errors import BcnetError
from bcnet_tf.evaluation import evaluate
from bcnet_tf.export import export
from bcnet_tf.models.saving import read_info
from bcnet_tf.pathology.tiles import TileSpec
from bcnet_tf.training import train
from tests.pathology.test_tiles import slide


@pytest.fixture(scope="module")
def tile_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A resnet9 tile classifier, Reinhard-normalised, on 40 written 64x96 slides."""
    root = tmp_path_factory.mktemp("tiles")
    data = root / "slides"
    for label, columns in (("sparse", slice(0, 40)), ("dense", slice(0, 96))):
        for i in range(20):
            folder = data / label / f"patient{i % 10}"
            folder.mkdir(parents=True, exist_ok=True)
            tint = np.array([0, (i % 3) * 6, (i % 2) * 8])  # a stain that varies by slide
            image = np.clip(slide(64, 96, columns, seed=i).astype(int) - tint, 0, 255)
            Image.fromarray(image.astype(np.uint8)).save(folder / f"s{i}.png")
    train(
        model="resnet9",
        data=str(data),
        run_dir=str(root / "run"),
        weights=None,
        epochs=2,
        batch_size=16,
        augment="histology_stain",
        precision="float32",
        stain="reinhard",
        tiles=TileSpec(size=32, per_image=4, min_tissue=0.3),
    )
    return root / "run"


@pytest.mark.slow
def test_the_model_carries_its_stain_and_tile_settings(tile_run: Path) -> None:
    info = read_info(tile_run / "checkpoints" / "best.keras")
    assert info.image_size == (32, 32)
    assert info.extra["tiles"]["size"] == 32 and info.extra["tiles"]["per_image"] == 4
    assert info.extra["stain"] == json.loads((tile_run / "stain.json").read_text())
    assert info.extra["stain"]["method"] == "reinhard"


@pytest.mark.slow
def test_evaluation_is_per_image_and_the_edge_predictor_agrees(tile_run: Path) -> None:
    evaluation = evaluate(tile_run, resamples=0, examples=2)
    records = evaluation.records
    assert len(evaluation.probabilities) == len(records)  # one row per image, not per tile
    assert np.allclose(evaluation.probabilities.sum(axis=1), 1.0)
    assert (evaluation.out_dir / "gradcam.png").is_file()

    out = tile_run.parent / "bundle"
    bundle = export(tile_run, out=out, formats=("tflite",), quantize=("none",)).bundle
    assert bundle == out
    spec = json.loads((bundle / "spec.json").read_text())
    check = spec["artifacts"]["model_float32.tflite"]["verification"]
    assert check["passed"] and check["images"] > len(records)  # verified on tiles
    predictor = Predictor(bundle)
    with pytest.raises(BcnetError, match="tile-mode bundle"):
        predictor.load([records[0].path])  # whole-image batches make no sense here
    predictions = predictor.predict([r.path for r in records], top_k=2)
    edge = np.array([[p.probabilities[n] for n in evaluation.class_names] for p in predictions])
    # same tiles, same normaliser, same aggregation; only the resize backend differs
    # (none here: tiles are cut at native scale)
    assert np.abs(edge - evaluation.probabilities).max() < 1e-4
