"""Learning-rate schedules and per-stage (discriminative) learning rates.

Keras has the pieces: ``CosineDecay`` with warm-up *is* the one-cycle schedule fastai
uses (linear warm-up to the peak, cosine annealing to ~0). What it lacks is starting a
schedule part-way (needed when the optimizer changes mid-run, study 001) and different
learning rates per backbone stage (fastai's ``slice(lr/100, lr)``, study 000).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras


def one_cycle(
    max_lr: float, total_steps: int, pct_start: float = 0.25, div: float = 25.0
) -> keras.optimizers.schedules.CosineDecay:
    """One-cycle: ``max_lr/div`` -> ``max_lr`` over ``pct_start`` of the steps, then
    cosine annealing to ``max_lr/1e4``.

    Example:
        >>> schedule = one_cycle(1e-3, total_steps=100)
        >>> round(float(schedule(25)), 6)  # the peak, after 25 % of the steps
        0.001
    """
    warmup = max(1, int(total_steps * pct_start))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=max_lr / div,
        decay_steps=max(1, total_steps - warmup),
        alpha=1e-4,
        warmup_target=max_lr,
        warmup_steps=warmup,
    )


@keras.saving.register_keras_serializable(package="bcnet_tf")
class OffsetSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """``schedule`` evaluated ``offset`` steps later: continues a schedule after an
    optimizer switch, whose step counter starts again at 0."""

    def __init__(self, schedule: keras.optimizers.schedules.LearningRateSchedule, offset: int):
        self.schedule = schedule
        self.offset = offset

    def __call__(self, step: Any) -> Any:
        return self.schedule(step + self.offset)

    def get_config(self) -> dict[str, Any]:
        return {
            "schedule": keras.optimizers.schedules.serialize(self.schedule),
            "offset": self.offset,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> OffsetSchedule:
        schedule = keras.optimizers.schedules.deserialize(config["schedule"])
        return cls(schedule, config["offset"])


def continue_schedule(
    optimizer: keras.optimizers.Optimizer, offset: int
) -> keras.optimizers.Optimizer:
    """``optimizer`` with its learning-rate schedule moved on ``offset`` steps (a
    constant rate stays as it is): a new optimizer that carries on a schedule.

    Example:
        >>> adam = continue_schedule(keras.optimizers.Adam(one_cycle(1e-3, 100)), 25)
        >>> round(float(adam.learning_rate), 6)  # step 0 is the cycle's peak
        0.001
    """
    schedule = optimizer.get_config()["learning_rate"]
    if isinstance(schedule, dict):  # a serialised schedule, not a constant rate
        schedule = keras.optimizers.schedules.deserialize(schedule)
        optimizer.learning_rate = OffsetSchedule(schedule, offset)
    return optimizer


def discriminative(
    optimizer_class: type[keras.optimizers.Optimizer],
    multipliers: Mapping[str, float],
    **kwargs: Any,
) -> keras.optimizers.Optimizer:
    """An optimizer whose learning rate is scaled per variable by layer-name prefix.

    ``multipliers`` maps a layer-name prefix to a factor; variables of layers matching
    no prefix get 1. With Adam the factor scales each step (scaling gradients would
    not: Adam is invariant to gradient scale).

    Example:
        >>> optimizer = discriminative(keras.optimizers.Adam, {"conv1": 0.01, "layer4": 0.5},
        ...                            learning_rate=1e-3)
    """
    prefixes = sorted(multipliers, key=len, reverse=True)

    class Discriminative(optimizer_class):  # type: ignore[misc, valid-type]
        def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> Any:
            layer = getattr(variable, "path", variable.name).split("/")[0]
            factor = next((multipliers[p] for p in prefixes if layer.startswith(p)), 1.0)
            return super().update_step(gradient, variable, learning_rate * factor)

    Discriminative.__name__ = f"Discriminative{optimizer_class.__name__}"
    return Discriminative(**kwargs)
