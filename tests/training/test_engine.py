"""train(): run directory, stops, NaN guard, fast path, refusal to mix settings."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from bcnet_tf.errors import BcnetError
from bcnet_tf.training import TrainConfig, train
from bcnet_tf.training.callbacks import ThresholdStop, TrainingDivergedError
from bcnet_tf.training.fast_path import head_model
from bcnet_tf.training.lr_find import lr_find
from bcnet_tf.training.precision import cpu_has_native_bf16, resolve_precision

TINY = dict(
    model="resnet9", weights=None, image_size=32, batch_size=16, augment="none", precision="float32"
)


def test_run_directory_and_rerun(tmp_path: Path) -> None:
    result = train(run_dir=str(tmp_path / "run"), epochs=2, **TINY)
    run = tmp_path / "run"
    for name in ("config.json", "split.json", "state.json", "history.csv"):
        assert (run / name).is_file(), name
    assert list((run / "tensorboard").rglob("events.out.tfevents*"))
    assert [row["epoch"] for row in result.history] == [0.0, 1.0]
    assert {"val_accuracy", "val_auc", "val_f1_score"} <= set(result.history[0])
    best = keras.saving.load_model(result.best)
    assert best.output_shape == (None, 3)
    assert not (run / "backup").exists() or not any((run / "backup").iterdir())
    again = train(run_dir=str(run), epochs=2, **TINY)  # finished: nothing retrained
    assert len(again.history) == 2
    with pytest.raises(BcnetError, match=r"other settings .*'epochs': \(2, 3\)"):
        train(run_dir=str(run), epochs=3, **TINY)


@pytest.mark.parametrize("metric", ["val_accuracy", "val_auc", "val_f1_score"])
def test_threshold_stop_stops_the_run(tmp_path: Path, metric: str) -> None:
    result = train(
        run_dir=str(tmp_path / metric), epochs=6, stop_metric=metric, stop_at=0.0, **TINY
    )
    assert len(result.history) == 1
    assert result.stopped == f"{metric} passed 0.0 at epoch 1"


def test_threshold_stop_needs_a_logged_metric() -> None:
    stop = ThresholdStop("val_precision", 0.9)
    with pytest.raises(BcnetError, match="not logged"):
        stop.on_epoch_end(0, {"val_accuracy": 0.5})


def test_nan_loss_stops_with_causes_and_keeps_checkpoints(tmp_path: Path) -> None:
    with pytest.raises(TrainingDivergedError, match=r"NaN/inf .*learning rate 1e\+12 too high"):
        train(run_dir=str(tmp_path / "nan"), epochs=3, learning_rate=1e12, **TINY)


def test_fast_path_trains_the_full_models_head(tmp_path: Path) -> None:
    result = train(
        run_dir=str(tmp_path / "fast"),
        model="squeezenet",
        weights=None,
        image_size=48,
        batch_size=16,
        epochs=3,
        augment="bcnet",
        feature_views=2,
        precision="float32",
    )
    features = np.load(tmp_path / "fast" / "features" / "squeezenet.npz")
    assert int(features["views"]) == 2 and features["view0"].shape[1] == 512
    model = result.model
    images = np.random.default_rng(0).uniform(0, 255, (2, 48, 48, 3)).astype("float32")
    pooled = keras.Model(model.input, model.get_layer("head_pool").output)(images)
    np.testing.assert_allclose(head_model(model)(pooled), model(images), rtol=1e-5)
    saved = keras.saving.load_model(result.last)
    np.testing.assert_allclose(saved(images), model(images), rtol=1e-5)  # same model saved


def test_fine_tune_runs_both_phases(tmp_path: Path) -> None:
    result = train(
        run_dir=str(tmp_path / "ft"),
        epochs=3,
        schedule="fine_tune",
        head_epochs=1,
        **{**TINY, "model": "resnet18"},
    )
    state = json.loads((tmp_path / "ft" / "state.json").read_text())
    assert state["completed"] == [0, 1] and len(result.history) == 3
    assert all(layer.trainable for layer in result.model.layers)  # unfrozen at the end


def test_lr_find_suggests_a_rate_and_restores_weights(tmp_path: Path) -> None:
    from bcnet_tf.data.layouts import discover
    from bcnet_tf.data.pipeline import make_dataset
    from bcnet_tf.data.synthetic import synthetic_dataset
    from bcnet_tf.models import build_model

    index = discover(synthetic_dataset(progress=False))
    data = make_dataset(
        index.records, index.class_names, image_size=32, batch_size=16, training=True
    )
    model = build_model("resnet9", 3, image_size=32)
    before = [v.numpy().copy() for v in model.weights]
    result = lr_find(model, data, steps=40)
    assert 1e-7 <= result.suggestion <= 10 and len(result.losses) >= 3
    assert all(np.array_equal(b, v.numpy()) for b, v in zip(before, model.weights, strict=True))
    assert result.plot(tmp_path / "lr.png").stat().st_size > 1000


def test_precision_auto() -> None:
    assert resolve_precision("float32") == "float32"
    expected = "mixed_bfloat16" if cpu_has_native_bf16() else "float32"
    assert resolve_precision("auto") == expected  # no GPU on CI machines
    with pytest.raises(ValueError, match="precision must be"):
        resolve_precision("fp8")


def test_config_round_trip_and_validation(tmp_path: Path) -> None:
    config = TrainConfig(model="resnet18", epochs=4)
    assert TrainConfig.from_json(config.to_json()) == config
    with pytest.raises(BcnetError, match="unknown training settings"):
        TrainConfig.from_json({"modle": "x"})
    with pytest.raises(BcnetError, match="schedule must be"):
        TrainConfig(schedule="cosine")
