"""Each schedule changes the learning rate and optimizer as specified."""

import keras
import numpy as np
import pytest

from bcnet_tf.errors import BcnetError
from bcnet_tf.training.config import TrainConfig
from bcnet_tf.training.plans import make_plan, stage_multipliers

STAGES = (("conv1", "bn1"), ("layer1",), ("layer2",))
STEPS = 10


def _lr(optimizer: keras.optimizers.Optimizer, step: int) -> float:
    schedule = optimizer._learning_rate
    return float(schedule(step)) if callable(schedule) else float(optimizer.learning_rate)


def test_constant_adam() -> None:
    (phase,) = make_plan(TrainConfig(epochs=5, learning_rate=1e-3), STAGES)
    optimizer = phase.make_optimizer(STEPS)
    assert isinstance(optimizer, keras.optimizers.Adam) and (phase.start, phase.end) == (0, 5)
    assert _lr(optimizer, 0) == pytest.approx(1e-3) == _lr(optimizer, 49)


def test_one_cycle_rises_then_anneals() -> None:
    (phase,) = make_plan(TrainConfig(epochs=4, schedule="one_cycle", learning_rate=1e-2), STAGES)
    optimizer = phase.make_optimizer(STEPS)
    rates = [_lr(optimizer, s) for s in range(40)]
    peak = int(np.argmax(rates))
    assert rates[0] == pytest.approx(1e-2 / 25) and max(rates) == pytest.approx(1e-2)
    assert 5 <= peak <= 15 and rates[-1] < 1e-4
    assert all(np.diff(rates[: peak + 1]) >= 0) and all(np.diff(rates[peak:]) <= 0)


def test_optimizer_switch_continues_the_same_cycle() -> None:
    config = TrainConfig(epochs=10, schedule="one_cycle_switch", switch_at=0.5, learning_rate=1e-2)
    adam, sgd = make_plan(config, STAGES)
    assert (adam.start, adam.end, sgd.start, sgd.end) == (0, 5, 5, 10)
    first, second = adam.make_optimizer(STEPS), sgd.make_optimizer(STEPS)
    assert isinstance(first, keras.optimizers.Adam) and isinstance(second, keras.optimizers.SGD)
    assert second.momentum == 0.9
    # SGD's step 0 is the run's step 50: the schedule carries on where Adam stopped
    assert _lr(second, 0) == pytest.approx(_lr(first, 50), rel=1e-6)
    assert _lr(second, 0) < _lr(first, 25)  # past the peak, annealing


def test_fine_tune_head_then_discriminative() -> None:
    config = TrainConfig(epochs=6, schedule="fine_tune", head_epochs=2, learning_rate=1e-3)
    head, unfrozen = make_plan(config, STAGES)
    assert (head.freeze, head.end, unfrozen.freeze, unfrozen.start) == ("all", 2, "none", 2)
    assert max(_lr(head.make_optimizer(STEPS), s) for s in range(20)) == pytest.approx(1e-3)
    second = unfrozen.make_optimizer(STEPS)
    assert max(_lr(second, s) for s in range(40)) == pytest.approx(5e-4)
    assert type(second).__name__ == "DiscriminativeAdam"
    multipliers = stage_multipliers(STAGES)
    assert multipliers["conv1"] == multipliers["bn1"] == pytest.approx(0.01)
    assert multipliers["conv1"] < multipliers["layer1"] < multipliers["layer2"] < 1
    with pytest.raises(BcnetError, match=r"head_epochs.*Fix: raise --epochs"):
        make_plan(TrainConfig(epochs=2, schedule="fine_tune", head_epochs=2), STAGES)


def test_discriminative_rates_move_stages_by_their_factor() -> None:
    from bcnet_tf.training.optimizers import discriminative

    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(1, name="layer2")(keras.layers.Dense(3, name="conv1")(inputs))
    model = keras.Model(inputs, outputs)
    before = [v.numpy().copy() for v in model.trainable_variables]
    model.compile(discriminative(keras.optimizers.Adam, {"conv1": 0.01}, learning_rate=0.1), "mse")
    model.train_on_batch(np.ones((2, 4)), np.ones((2, 1)))
    moved = [
        float(np.abs(v.numpy() - b).max())
        for v, b in zip(model.trainable_variables, before, strict=True)
    ]
    assert moved[0] == pytest.approx(0.001, rel=1e-3) and moved[2] == pytest.approx(0.1, rel=1e-3)


def test_switch_schedule_of_one_epoch_is_one_adam_phase() -> None:
    config = TrainConfig(epochs=1, schedule="one_cycle_switch")
    plan = make_plan(config, (("a",),))
    assert [(p.name, p.start, p.end) for p in plan] == [("train", 0, 1)]


def _one_step(optimizer: keras.optimizers.Optimizer, gradients: dict[str, np.ndarray]) -> dict:
    """Apply ``gradients`` once to a Dense layer (kernel 2x1 of ones, bias [1])."""
    layer = keras.layers.Dense(1, kernel_initializer="ones", bias_initializer="ones")
    layer.build((None, 2))
    variables = [layer.kernel, layer.bias]
    optimizer.apply([keras.ops.convert_to_tensor(gradients[v.name]) for v in variables], variables)
    return {v.name: keras.ops.convert_to_numpy(v) for v in variables}


@pytest.mark.parametrize("schedule", ["constant", "one_cycle", "one_cycle_switch", "fine_tune"])
def test_weight_decay_is_decoupled_and_spares_biases(schedule: str) -> None:
    lr, decay = 0.1, 0.5
    config = TrainConfig(
        epochs=4, head_epochs=1, schedule=schedule, learning_rate=lr, weight_decay=decay
    )
    for phase in make_plan(config, STAGES):
        optimizer = phase.make_optimizer(STEPS)
        rate = _lr(optimizer, 0)
        # A zero gradient makes Adam's and SGD's own step zero: only the decay moves.
        after = _one_step(optimizer, {"kernel": np.zeros((2, 1)), "bias": np.zeros(1)})
        np.testing.assert_allclose(after["kernel"], np.full((2, 1), 1 - rate * decay), rtol=1e-5)
        np.testing.assert_allclose(after["bias"], [1.0])


def test_no_weight_decay_by_default() -> None:
    (phase,) = make_plan(TrainConfig(epochs=2, learning_rate=0.1), STAGES)
    after = _one_step(phase.make_optimizer(STEPS), {"kernel": np.zeros((2, 1)), "bias": [0.0]})
    np.testing.assert_allclose(after["kernel"], np.ones((2, 1)))


def test_clip_norm_bounds_the_global_gradient_norm() -> None:
    config = TrainConfig(
        epochs=10, schedule="one_cycle_switch", switch_at=0.5, learning_rate=0.1, clip_norm=1.0
    )
    _, sgd_phase = make_plan(config, STAGES)
    optimizer = sgd_phase.make_optimizer(STEPS)
    rate = _lr(optimizer, 0)  # its own first step: the cycle half-way
    # Global norm of (3, 4, 0) is 5: clipped to 1, SGD's first step is rate * (0.6, 0.8, 0).
    after = _one_step(optimizer, {"kernel": np.array([[3.0], [4.0]]), "bias": np.zeros(1)})
    np.testing.assert_allclose(after["kernel"][:, 0], [1 - rate * 0.6, 1 - rate * 0.8], rtol=1e-5)
