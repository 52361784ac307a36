"""``TrainConfig`` in JSON: today's nested tile settings and the flat ones of older runs."""

import json
from pathlib import Path

import pytest

from bcnet_tf.errors import BcnetError
from bcnet_tf.pathology.tiles import TileSpec
from bcnet_tf.training import TrainConfig

#: A config.json as versions with flat tile settings wrote it (abridged to the keys
#: that changed; every other key keeps its name).
LEGACY = {
    "model": "resnet9",
    "epochs": 2,
    "tile_size": 32,
    "tile_scale": 0.5,
    "tiles_per_image": 4,
    "min_tissue": 0.3,
    "tile_aggregate": "majority",
}


def test_a_config_round_trips_through_json(tmp_path: Path) -> None:
    config = TrainConfig(model="resnet9", tiles=TileSpec(size=32, stride=16, per_image=4))
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config.to_json()))
    assert json.loads(path.read_text())["tiles"]["stride"] == 16
    assert TrainConfig.load(path) == config


def test_an_older_runs_flat_tile_settings_still_load(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(LEGACY))
    expected = TileSpec(size=32, scale=0.5, per_image=4, min_tissue=0.3, aggregate="majority")
    assert TrainConfig.load(path) == TrainConfig(model="resnet9", epochs=2, tiles=expected)
    path.write_text(json.dumps({**LEGACY, "tile_size": 0}))
    assert TrainConfig.load(path).tiles is None


def test_image_size_is_stored_as_height_and_width_and_old_sides_load(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(TrainConfig(image_size="512x416").to_json()))
    assert json.loads(path.read_text())["image_size"] == [512, 416]
    assert TrainConfig.load(path).image_size == (512, 416)
    path.write_text(json.dumps({"model": "resnet9", "image_size": 128}))  # older runs: a side
    assert TrainConfig.load(path) == TrainConfig(model="resnet9", image_size=(128, 128))
    path.write_text(json.dumps({"image_size": [512, 0]}))
    with pytest.raises(BcnetError, match=r"image_size: an image size is a positive side"):
        TrainConfig.load(path)


def test_bad_tile_settings_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"tiles": {"size": 32, "min_tissue": 1.5}}))
    with pytest.raises(BcnetError, match=r"config.json: tiles: min_tissue must lie in \[0, 1\]"):
        TrainConfig.load(path)


def test_a_refused_resume_names_only_the_settings_that_changed(tmp_path: Path) -> None:
    from bcnet_tf.training import train

    run = tmp_path / "run"
    run.mkdir()
    saved = TrainConfig(model="resnet9", epochs=2, tiles=TileSpec(size=32), run_dir=str(run))
    (run / "config.json").write_text(json.dumps(saved.to_json()))
    with pytest.raises(BcnetError) as refused:
        train(saved, epochs=3)
    assert "{'epochs': (2, 3)}" in str(refused.value)
