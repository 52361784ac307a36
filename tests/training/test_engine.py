"""train(): run directory, stops, NaN guard, fast path, refusal to mix settings."""

import json
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from bcnet_tf.errors import BcnetError
from bcnet_tf.io import cache_dir
from bcnet_tf.training import TrainConfig, precision, train
from bcnet_tf.training import phase as phase_module
from bcnet_tf.training.callbacks import ThresholdStop, TrainingDivergedError
from bcnet_tf.training.fast_path import head_model
from bcnet_tf.training.lr_find import lr_find
from bcnet_tf.training.precision import resolve_precision, time_train_steps

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


def test_training_leaves_the_callers_precision_policy(tmp_path: Path) -> None:
    keras.mixed_precision.set_global_policy("float32")
    settings = {**TINY, "precision": "mixed_bfloat16"}
    result = train(run_dir=str(tmp_path / "run"), epochs=1, **settings)
    assert result.model.get_layer("prep_conv").compute_dtype == "bfloat16"  # trained in bf16
    assert keras.mixed_precision.global_policy().name == "float32"  # the caller's again


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


def test_nan_loss_stops_with_causes_and_keeps_checkpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class PoisonWeights(keras.callbacks.Callback):
        """Make every weight NaN as epoch 2 begins: the loss diverges after epoch 1."""

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            if epoch == 1:
                for variable in self.model.trainable_variables:
                    variable.assign(np.full(variable.shape, np.nan, variable.dtype))

    callbacks = phase_module._callbacks

    def with_poison(*args, **kwargs):
        phase = callbacks(*args, **kwargs)
        phase.all.append(PoisonWeights())
        return phase

    monkeypatch.setattr(phase_module, "_callbacks", with_poison)
    with pytest.raises(TrainingDivergedError, match=r"NaN/inf at epoch 2, batch 1"):
        train(run_dir=str(tmp_path / "nan"), epochs=3, **TINY)
    checkpoints = tmp_path / "nan" / "checkpoints"
    assert not (checkpoints / "last.keras").exists()  # the NaN weights are not saved
    best = keras.saving.load_model(checkpoints / "best.keras")  # from epoch 1
    assert best.weights and all(np.isfinite(w.numpy()).all() for w in best.weights)
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    assert np.isfinite(best.predict(images, verbose=0)).all()


def test_fast_path_trains_the_full_models_head(tmp_path: Path) -> None:
    result = train(
        run_dir=str(tmp_path / "fast"),
        model="squeezenet",
        weights=None,
        image_size="48x40",
        batch_size=16,
        epochs=3,
        augment="bcnet",
        feature_views=2,
        precision="float32",
    )
    features = np.load(tmp_path / "fast" / "features" / "squeezenet.npz")
    assert int(features["views"]) == 2 and features["view0"].shape[1] == 512
    model = result.model
    images = np.random.default_rng(0).uniform(0, 255, (2, 48, 40, 3)).astype("float32")
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


def test_lr_find_suggests_a_rate_inside_the_fall(tmp_path: Path) -> None:
    # One weight w = 0.25 and the loss |w - 1|: the gradient is constant, so each Adam
    # step moves w by exactly the step's learning rate, and the loss falls at every step
    # until the rates summed so far reach the distance 0.75 to the optimum: the valley.
    model = keras.Sequential(
        [keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")]
    )
    model.layers[0].kernel.assign([[0.25]])
    data = tf.data.Dataset.from_tensors((np.ones((4, 1), "float32"), np.ones((4, 1), "float32")))
    result = lr_find(model, data, steps=200, loss="mean_absolute_error")
    rates = np.array(result.learning_rates)
    known = rates[np.searchsorted(np.cumsum(rates), 0.75)]  # where w reaches 1
    # Well inside the fall: far above the first rates, well below the one that overshoots.
    assert 100 * rates[0] <= result.suggestion <= known / 10
    assert model.layers[0].kernel.numpy().item() == 0.25  # weights restored
    assert result.plot(tmp_path / "lr.png").stat().st_size > 1000


@pytest.fixture
def bf16_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CPU-only machine whose CPU advertises bf16, whatever this machine is."""
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setattr(precision, "gpu_has_tensor_cores", lambda: False)
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])


def timings(float32: float, bf16: float) -> tuple[list[int], Callable]:
    """A fake step timer returning the given seconds per step, and its call log."""
    calls: list[int] = []

    def measure(policies: tuple[str, ...]) -> dict[str, float]:
        calls.append(1)
        return {"float32": float32, "mixed_bfloat16": bf16}

    return calls, measure


@pytest.mark.parametrize(
    ("float32", "bf16", "expected"),
    [(1.0, 2.0, "float32"), (1.0, 0.5, "mixed_bfloat16"), (1.0, 0.95, "float32")],
)
def test_precision_auto_on_a_bf16_cpu_follows_the_measurement(
    bf16_cpu: None, float32: float, bf16: float, expected: str
) -> None:
    calls, measure = timings(float32, bf16)
    assert resolve_precision("auto", measure) == expected
    assert resolve_precision("auto", measure) == expected  # cached: measured once
    assert len(calls) == 1
    assert resolve_precision("float32", measure) == "float32"
    with pytest.raises(ValueError, match="precision must be"):
        resolve_precision("fp8")


def test_precision_auto_cache_is_per_tensorflow_version(
    bf16_cpu: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    assert resolve_precision("auto", timings(1.0, 2.0)[1]) == "float32"
    out = capsys.readouterr().out
    assert "precision auto: float32 (mixed_bfloat16 measured 0.5x float32" in out
    cache = json.loads((cache_dir() / "precision.json").read_text())
    assert [entry["policy"] for entry in cache.values()] == ["float32"]
    monkeypatch.setattr(tf, "__version__", "9.99.0")
    calls, faster_now = timings(1.0, 0.5)
    assert resolve_precision("auto", faster_now) == "mixed_bfloat16"
    assert len(calls) == 1  # another TensorFlow: measured again
    assert len(json.loads((cache_dir() / "precision.json").read_text())) == 2


def test_precision_auto_on_a_gpu_is_not_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    calls, measure = timings(1.0, 0.5)
    monkeypatch.setattr(precision, "gpu_has_tensor_cores", lambda: True)
    assert resolve_precision("auto", measure) == "mixed_float16"
    monkeypatch.setattr(precision, "gpu_has_tensor_cores", lambda: False)
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: ["GPU:0"])
    assert resolve_precision("auto", measure) == "float32"  # an older GPU
    assert not calls


def test_precision_measurement_leaves_no_state_behind() -> None:
    keras.mixed_precision.set_global_policy("float32")
    keras.utils.set_random_seed(7)
    expected = keras.random.uniform((4,)).numpy()
    keras.utils.set_random_seed(7)
    seconds = time_train_steps(("float32", "mixed_bfloat16"), steps=1)
    assert set(seconds) == {"float32", "mixed_bfloat16"} and min(seconds.values()) > 0
    assert keras.mixed_precision.global_policy().name == "float32"
    np.testing.assert_array_equal(keras.random.uniform((4,)).numpy(), expected)


def test_config_round_trip_and_validation(tmp_path: Path) -> None:
    config = TrainConfig(model="resnet18", epochs=4)
    assert TrainConfig.from_json(config.to_json()) == config
    with pytest.raises(BcnetError, match=r"training settings: unknown settings \[.modle.\]"):
        TrainConfig.from_json({"modle": "x"})
    with pytest.raises(BcnetError, match="schedule must be"):
        TrainConfig(schedule="cosine")
