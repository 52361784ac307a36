"""Training plans: the studies' schedules as a list of phases.

A phase is a span of epochs with one freezing setting and one optimizer. Changing
either means compiling again, so a schedule that switches optimizer (study 001) or
unfreezes the backbone (study 000) is two phases.

==================== ==================================================================
schedule             phases
==================== ==================================================================
``constant``         Adam at ``learning_rate`` (studies 003 BCNet, 002)
``one_cycle``        Adam, one-cycle schedule peaking at ``learning_rate``
``one_cycle_switch`` one cycle over the whole run; Adam until ``switch_at``, then SGD
                     (momentum 0.9) continuing the same schedule (study 001)
``fine_tune``        fastai ``fine_tune``: ``head_epochs`` head-only (backbone frozen,
                     one-cycle), then everything with one-cycle at ``learning_rate/2``
                     and discriminative rates: ``/100`` for the first stage rising
                     geometrically to x1 for the head (study 000)
==================== ==================================================================

Every optimizer of every schedule gets the run's ``weight_decay`` (decoupled, as AdamW;
biases and normalisation parameters excluded) and ``clip_norm`` (global norm).

With ``progressive_resize`` the first epochs of the plan train at a smaller input
(:mod:`bcnet_tf.training.resizing`): the phase that spans the size change is cut in
two, and its second half's optimizer carries on the first half's schedule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial

import keras

from bcnet_tf.errors import BcnetError
from bcnet_tf.settings import ImageSize
from bcnet_tf.training.config import TrainConfig
from bcnet_tf.training.optimizers import (
    OffsetSchedule,
    continue_schedule,
    discriminative,
    one_cycle,
)
from bcnet_tf.training.resizing import start_size


@dataclass(frozen=True)
class Phase:
    """Epochs ``[start, end)`` trained with ``freeze`` and ``make_optimizer(steps)``,
    where ``steps`` is the number of optimizer steps per epoch, at input ``image_size``
    (``None``: the run's)."""

    name: str
    start: int
    end: int
    freeze: str | int | None
    make_optimizer: Callable[[int], keras.optimizers.Optimizer]
    image_size: ImageSize | None = None


def stage_multipliers(stages: Sequence[Sequence[str]], lowest: float = 0.01) -> dict[str, float]:
    """Geometric learning-rate factors from ``lowest`` (first stage) towards 1 (head).

    Example:
        >>> stage_multipliers([("a",), ("b",)], lowest=0.01)
        {'a': 0.01, 'b': 0.1}
    """
    count = len(stages)
    return {prefix: lowest ** (1 - i / count) for i, stage in enumerate(stages) for prefix in stage}


#: Variables never decayed: biases and the scales/offsets of normalisation layers.
NO_DECAY = ("bias", "gamma", "beta")


def regularised(
    config: TrainConfig, make_optimizer: Callable[..., keras.optimizers.Optimizer]
) -> Callable[..., keras.optimizers.Optimizer]:
    """``make_optimizer`` (an optimizer class or factory) with the run's weight decay and
    gradient clipping.

    Example:
        >>> adamw = regularised(TrainConfig(weight_decay=1e-4, clip_norm=1.0),
        ...                     keras.optimizers.Adam)(learning_rate=1e-3)
        >>> adamw.weight_decay, adamw.global_clipnorm
        (0.0001, 1.0)
    """

    def build(*args: object, **kwargs: object) -> keras.optimizers.Optimizer:
        optimizer = make_optimizer(
            *args,
            weight_decay=config.weight_decay or None,
            global_clipnorm=config.clip_norm,
            **kwargs,
        )
        if config.weight_decay:
            optimizer.exclude_from_weight_decay(var_names=list(NO_DECAY))
        return optimizer

    return build


def make_plan(
    config: TrainConfig, stages: Sequence[Sequence[str]], size: ImageSize | None = None
) -> list[Phase]:
    """The phases of ``config.schedule`` (see the module table), the first
    ``config.progressive_resize`` of the epochs at a smaller input than ``size``."""
    phases = _schedule_phases(config, stages)
    if not config.progressive_resize:
        return phases
    if size is None:
        raise BcnetError("progressive resizing needs the run's input size.")
    if config.epochs < 2:
        raise BcnetError("progressive_resize needs at least 2 epochs, one at each size.")
    boundary = min(config.epochs - 1, max(1, round(config.epochs * config.progressive_resize)))
    return _resized(phases, boundary, start_size(config, size))


def _resized(phases: list[Phase], boundary: int, small: ImageSize) -> list[Phase]:
    """``phases`` with the epochs before ``boundary`` at input ``small``; a phase that
    spans the boundary becomes two, the second continuing the first's schedule."""
    resized = []
    for phase in phases:
        if phase.end <= boundary:
            resized.append(replace(phase, name=f"{phase.name} at {small}", image_size=small))
        elif phase.start >= boundary:
            resized.append(phase)
        else:
            continued = _continuing(phase.make_optimizer, boundary - phase.start)
            resized += [
                replace(phase, name=f"{phase.name} at {small}", end=boundary, image_size=small),
                replace(phase, start=boundary, make_optimizer=continued),
            ]
    return resized


def _continuing(
    make_optimizer: Callable[[int], keras.optimizers.Optimizer], epochs: int
) -> Callable[[int], keras.optimizers.Optimizer]:
    """``make_optimizer`` whose schedule starts ``epochs`` epochs in."""
    return lambda steps: continue_schedule(make_optimizer(steps), epochs * steps)


def _schedule_phases(config: TrainConfig, stages: Sequence[Sequence[str]]) -> list[Phase]:
    epochs, lr = config.epochs, config.learning_rate
    adam = regularised(config, keras.optimizers.Adam)

    def adam_cycle(steps: int) -> keras.optimizers.Optimizer:
        return adam(one_cycle(lr, epochs * steps))

    if config.schedule == "constant":
        return [Phase("train", 0, epochs, config.freeze, lambda _: adam(lr))]
    if config.schedule == "one_cycle" or (config.schedule == "one_cycle_switch" and epochs < 2):
        return [Phase("train", 0, epochs, config.freeze, adam_cycle)]  # no epoch to switch at
    if config.schedule == "one_cycle_switch":
        switch = min(epochs - 1, max(1, round(epochs * config.switch_at)))
        return [
            Phase("adam", 0, switch, config.freeze, adam_cycle),
            Phase(
                "sgd",
                switch,
                epochs,
                config.freeze,
                lambda steps: regularised(config, keras.optimizers.SGD)(
                    OffsetSchedule(one_cycle(lr, epochs * steps), switch * steps), momentum=0.9
                ),
            ),
        ]
    if config.schedule == "fine_tune":
        head = config.head_epochs
        if not 0 < head < epochs:
            raise BcnetError(
                f"fine_tune needs 0 < head_epochs ({head}) < epochs ({epochs}). Fix: raise "
                "--epochs or lower --head-epochs."
            )
        multipliers = stage_multipliers(stages)
        return [
            Phase(
                "head",
                0,
                head,
                "all",
                lambda steps: adam(one_cycle(lr, head * steps)),
            ),
            Phase(
                "unfrozen",
                head,
                epochs,
                "none",
                lambda steps: regularised(
                    config, partial(discriminative, keras.optimizers.Adam, multipliers)
                )(learning_rate=one_cycle(lr / 2, (epochs - head) * steps)),
            ),
        ]
    raise BcnetError(f"unknown schedule {config.schedule!r}")
