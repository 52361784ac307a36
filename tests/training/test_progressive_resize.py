"""Progressive resizing: the first epochs at a smaller input, the weights carried over
to the full-size model, the schedule continuing, the deployable model at full size."""

import json
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import pytest

from bcnet_tf.errors import BcnetError
from bcnet_tf.models import register_model, unregister_model
from bcnet_tf.settings import ImageSize
from bcnet_tf.training import TrainConfig, engine, train
from bcnet_tf.training.plans import make_plan

TINY = dict(
    model="resize_tiny",
    weights=None,
    image_size=32,
    batch_size=16,
    augment="none",
    precision="float32",
    epochs=2,
    progressive_resize=0.5,
)
STEPS = 10


@pytest.fixture(scope="module", autouse=True)
def tiny_models() -> Iterator[None]:
    """A fully convolutional model, and one whose Dense layer sees the whole map."""
    kinds = dict(default_size=32, preprocessing="unit", study="none", description="tiny")

    @register_model("resize_tiny", stages=(("resize_tiny_block",),), **kinds)
    def resize_tiny(x):
        x = keras.layers.Conv2D(8, 3, strides=2, name="resize_tiny_block_conv")(x)
        return keras.layers.BatchNormalization(name="resize_tiny_block_bn")(x)

    @register_model("resize_flat", stages=(("resize_flat_block",),), **kinds)
    def resize_flat(x):
        x = keras.layers.Conv2D(4, 3, strides=4, name="resize_flat_block_conv")(x)
        x = keras.layers.Dense(4, name="resize_flat_block_dense")(keras.layers.Flatten()(x))
        return keras.layers.Reshape((1, 1, 4))(x)

    yield
    unregister_model("resize_tiny")
    unregister_model("resize_flat")


def _rate(optimizer: keras.optimizers.Optimizer, step: int) -> float:
    optimizer.iterations.assign(step)
    return float(optimizer.learning_rate)


@pytest.mark.parametrize(
    ("full", "start", "small"),
    [(ImageSize(64, 64), None, (32, 32)), (ImageSize(224, 100), None, (112, 48)),
     (ImageSize(64, 64), 40, (40, 40))],
)  # fmt: skip
def test_first_epochs_at_the_smaller_size(full: ImageSize, start: int | None, small) -> None:
    config = TrainConfig(
        epochs=8, schedule="one_cycle", progressive_resize=0.25, resize_start=start
    )
    first, second = make_plan(config, (("a",),), full)
    assert (first.start, first.end, first.image_size) == (0, 2, small)
    assert (second.start, second.end, second.image_size) == (2, 8, None)


def test_schedule_continues_across_the_size_change() -> None:
    config = TrainConfig(
        epochs=10, schedule="one_cycle_switch", switch_at=0.5, progressive_resize=0.3
    )
    plain = make_plan(TrainConfig(epochs=10, schedule="one_cycle_switch"), (("a",),))
    small, adam, sgd = make_plan(config, (("a",),), ImageSize(32, 32))
    assert [(p.start, p.end) for p in (small, adam, sgd)] == [(0, 3), (3, 5), (5, 10)]
    reference = plain[0].make_optimizer(STEPS)  # the cycle without resizing
    expected = [_rate(reference, step) for step in (0, 29, 30, 45)]
    first, second = small.make_optimizer(STEPS), adam.make_optimizer(STEPS)
    assert [_rate(first, 0), _rate(first, 29)] == pytest.approx(expected[:2])
    assert [_rate(second, 0), _rate(second, 15)] == pytest.approx(expected[2:])
    # the SGD phase is unchanged: it starts half-way through the same cycle
    assert _rate(sgd.make_optimizer(STEPS), 0) == pytest.approx(_rate(reference, 50))


def test_settings_that_cannot_resize_are_refused() -> None:
    with pytest.raises(BcnetError, match=r"\[0, 1\)"):
        TrainConfig(progressive_resize=1.0)
    with pytest.raises(BcnetError, match="at least 2 epochs"):
        make_plan(TrainConfig(epochs=1, progressive_resize=0.5), (("a",),), ImageSize(32, 32))
    with pytest.raises(BcnetError, match="must be smaller"):
        make_plan(
            TrainConfig(epochs=4, progressive_resize=0.5, resize_start=64), (), ImageSize(32, 32)
        )


class Interrupted(Exception):
    """Stands for a crash as the full-size phase begins."""


def test_weights_carry_over_to_the_full_size_model_also_on_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_phase = engine.run_phase
    seen: dict[int, dict] = {}

    def recording(run, index, phase, model, crash=False):
        seen[index] = {"input": model.input_shape, "start": model.get_weights()}
        if crash and index == 1:
            raise Interrupted
        stopped = run_phase(run, index, phase, model)
        seen[index]["end"] = model.get_weights()
        return stopped

    monkeypatch.setattr(engine, "run_phase", lambda *args: recording(*args, crash=True))
    run = tmp_path / "run"
    with pytest.raises(Interrupted):
        train(run_dir=str(run), **TINY)
    assert seen[0]["input"] == (None, 16, 16, 3)  # phase 0 trained at the small size
    assert not (run / "checkpoints" / "best.keras").exists()  # best: full-size epochs only
    assert seen[1]["input"] == (None, 32, 32, 3)
    trained = seen[0]["end"]
    assert not all(np.array_equal(a, b) for a, b in zip(seen[0]["start"], trained, strict=True))
    for carried, small in zip(seen[1]["start"], trained, strict=True):  # in the same run
        np.testing.assert_array_equal(carried, small)

    monkeypatch.setattr(engine, "run_phase", recording)
    result = train(run_dir=str(run), **TINY)  # resumed: phase 1 only
    for carried, small in zip(seen[1]["start"], trained, strict=True):  # read back
        np.testing.assert_array_equal(carried, small)
    assert json.loads((run / "state.json").read_text())["completed"] == [0, 1]
    assert len(result.history) == 2
    for saved in (result.best, result.last):  # the deployable models: full size
        assert keras.saving.load_model(saved).input_shape == (None, 32, 32, 3)
    assert result.model.input_shape == (None, 32, 32, 3)


def test_a_model_whose_weights_depend_on_the_size_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BcnetError, match=r"layer 'resize_flat_block_dense' holds"):
        train(run_dir=str(tmp_path / "flat"), **{**TINY, "model": "resize_flat"})
    assert not (tmp_path / "flat" / "history.csv").exists()  # refused before training
