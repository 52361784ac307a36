"""``find_lr``: the range test chooses a run's peak learning rate, on the training part
alone, on a copy of the model, once per run (a resumed run reads it back)."""

import json
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from bcnet_tf.data.layouts import discover
from bcnet_tf.data.synthetic import synthetic_dataset
from bcnet_tf.models import build_model, register_model, unregister_model
from bcnet_tf.training import engine, run_setup, train
from bcnet_tf.training.lr_find import lr_find, valley
from bcnet_tf.training.run_dir import RunDir, resolve_source

TINY = dict(
    model="lr_tiny",
    weights=None,
    image_size=16,
    batch_size=16,
    augment="bcnet",
    precision="float32",
    epochs=1,
    seed=5,
    find_lr=True,
)


@pytest.fixture(scope="module", autouse=True)
def tiny_model() -> Iterator[None]:
    """A convolution and a batch normalisation: a range test takes a moment."""

    @register_model(
        "lr_tiny",
        default_size=16,
        preprocessing="unit",
        stages=(("lr_tiny_block",),),
        study="none",
        description="a convolution",
    )
    def lr_tiny(x):
        x = keras.layers.Conv2D(8, 3, strides=2, name="lr_tiny_block_conv")(x)
        return keras.layers.BatchNormalization(name="lr_tiny_block_bn")(x)

    yield
    unregister_model("lr_tiny")


class Interrupted(Exception):
    """Stands for a crash before the first epoch."""


def test_found_rate_is_recorded_used_and_reused_on_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_setup, "RANGE_TEST_STEPS", 12)
    seen: dict[str, object] = {}
    batches = run_setup.epoch_batches

    def recording_batches(records, *args, **kwargs):
        seen["records"] = [record.path for record in records]
        return batches(records, *args, **kwargs)

    def crash_at_training_start(run, index, phase, model):
        seen["weights"] = model.get_weights()
        raise Interrupted

    monkeypatch.setattr(run_setup, "epoch_batches", recording_batches)
    monkeypatch.setattr(engine, "run_phase", crash_at_training_start)
    run = tmp_path / "run"
    with pytest.raises(Interrupted):
        train(run_dir=str(run), **TINY)

    saved = json.loads((run / "lr_find.json").read_text())
    rates, found = saved["learning_rates"], saved["learning_rate"]
    assert rates[0] >= 1e-7 and rates[-1] <= 10.0  # lr_find's default bounds
    assert found in rates and len(rates) <= 12
    assert (run / "lr_find.png").stat().st_size > 1000
    split = RunDir(run).read_split(discover(synthetic_dataset()))
    assert seen["records"] == [record.path for record in split.train]  # never val/test

    # The weights training starts from are those of a fresh build with the same seed.
    keras.utils.set_random_seed(TINY["seed"])
    fresh = build_model("lr_tiny", 3, image_size=16, weights=None)
    for started, built in zip(seen["weights"], fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(started, built)

    # Resume: the saved rate, no second range test, and the optimizer trains with it.
    def no_second_test(*args, **kwargs):
        raise AssertionError("the range test ran again on resume")

    def rate_of_optimizer(run, index, phase, model):
        seen["rate"] = float(phase.make_optimizer(run.steps).learning_rate)
        return None

    monkeypatch.setattr(run_setup, "lr_find", no_second_test)
    monkeypatch.setattr(engine, "run_phase", rate_of_optimizer)
    result = train(run_dir=str(run), **TINY)
    assert result.learning_rate == found
    assert seen["rate"] == pytest.approx(found)
    configured = json.loads((run / "config.json").read_text())["learning_rate"]
    assert configured != found  # config.json keeps the setting; reports show the rate used
    assert resolve_source(run, None, "test", None).config.learning_rate == found


def test_with_progressive_resizing_the_range_test_runs_at_the_starting_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_setup, "RANGE_TEST_STEPS", 4)
    sizes: dict[str, object] = {}
    real_lr_find = run_setup.lr_find

    def recording_lr_find(model, batches, **kwargs):
        images, _ = next(iter(batches))
        sizes["model"], sizes["images"] = model.input_shape[1:3], tuple(images.shape[1:3])
        return real_lr_find(model, batches, **kwargs)

    def first_phase_size(run, index, phase, model):
        sizes.setdefault("training", model.input_shape[1:3])

    monkeypatch.setattr(run_setup, "lr_find", recording_lr_find)
    monkeypatch.setattr(engine, "run_phase", first_phase_size)
    settings = {**TINY, "image_size": 32, "epochs": 2}
    train(run_dir=str(tmp_path / "run"), progressive_resize=0.5, resize_start=16, **settings)
    assert sizes == {"model": (16, 16), "images": (16, 16), "training": (16, 16)}


def test_each_fold_finds_its_own_rate_on_its_own_training_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bcnet_tf.training import cross_validate

    monkeypatch.setattr(run_setup, "RANGE_TEST_STEPS", 4)
    tested: list[list[Path]] = []
    batches = run_setup.epoch_batches

    def recording_batches(records, *args, **kwargs):
        tested.append([record.path for record in records])
        return batches(records, *args, **kwargs)

    monkeypatch.setattr(run_setup, "epoch_batches", recording_batches)
    monkeypatch.setattr(engine, "run_phase", lambda *args: None)  # the range test alone
    cv = cross_validate(run_dir=str(tmp_path / "cv"), k=2, **TINY)
    index = discover(synthetic_dataset())
    for fold, records in zip(cv.folds, tested, strict=True):
        assert records == [record.path for record in RunDir(fold).read_split(index).train]
        assert (fold / "lr_find.json").is_file()
    assert tested[0] != tested[1]


def test_valley_is_in_the_long_fall_not_at_the_first_batches_blip() -> None:
    # Seven noisy steps around 2.0 with a steep blip at step 1 (where the steepest-slope
    # rule lands), then 40 steps falling from 1.95 by 0.02 (steps 7..46), then explosion.
    # Longest falling run: 2.05 (step 2), 2.02, 2.01 and the 40 falling steps: 43 steps
    # ending at step 46, so 46 - 43 = 3, and 3 + int(43 / 3) + int(43 / 3 / 2) = 24.
    noise = [2.0, 1.2, 2.05, 1.98, 2.02, 1.99, 2.01]
    fall = [1.95 - 0.02 * i for i in range(40)]
    assert valley(noise + fall + [3.0, 5.0, 9.0]) == 24


def test_suggestion_ignores_the_noise_of_the_first_batches() -> None:
    # One weight w = 0.25 and the loss |w - y|: the gradient is constant, so each Adam
    # step moves w by exactly its learning rate until the rates summed so far reach the
    # distance 0.75 to y = 1. A first batch with y = 5 makes the smoothed loss drop
    # steeply at the first steps, at tiny rates: the suggestion must not be there.
    model = keras.Sequential(
        [keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")]
    )
    model.layers[0].kernel.assign([[0.25]])
    targets = np.ones((200, 4, 1), "float32")
    targets[0] = 5.0
    data = tf.data.Dataset.from_tensor_slices((np.ones((200, 4, 1), "float32"), targets))
    result = lr_find(model, data, steps=200, loss="mean_absolute_error")
    rates = np.array(result.learning_rates)
    known = rates[np.searchsorted(np.cumsum(rates), 0.75)]  # where w reaches 1
    # Well inside the fall: far above the first rates, well below the one that overshoots.
    assert 100 * rates[0] <= result.suggestion <= known / 10
