"""``train``: one command, one run directory (:mod:`bcnet_tf.training.run_dir`),
resumable; the phases of its plan, each on images or, with a frozen backbone, on
cached features (:mod:`bcnet_tf.training.fast_path`), each at its input size (the
model rebuilt when progressive resizing changes it,
:mod:`bcnet_tf.training.resizing`); in whole-slide mode with attention aggregation,
then the attention-MIL head (:mod:`bcnet_tf.training.mil`).

Running the same command again on the same directory resumes where it stopped (after
a crash or SIGKILL, from the last finished epoch) and finishes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from bcnet_tf.data.layouts import discover
from bcnet_tf.data.pipeline import class_weights
from bcnet_tf.data.splits import Split
from bcnet_tf.data.synthetic import synthetic_dataset
from bcnet_tf.errors import BcnetError
from bcnet_tf.io import refuse_inside_dataset
from bcnet_tf.models import build_model, get_spec
from bcnet_tf.settings import ImageSize
from bcnet_tf.training.config import TrainConfig
from bcnet_tf.training.distributed import is_chief, is_multiworker, synchronize_batch_norm
from bcnet_tf.training.mil import train_attention_mil
from bcnet_tf.training.phase import RunContext, run_phase
from bcnet_tf.training.plans import make_plan
from bcnet_tf.training.precision import precision_scope
from bcnet_tf.training.resizing import input_size, transfer_weights
from bcnet_tf.training.run_dir import RunDir
from bcnet_tf.training.run_setup import (
    default_run_dir,
    load_or_find_learning_rate,
    load_or_fit_stain,
    load_or_make_split,
    load_or_write_config,
)
from bcnet_tf.training.strategy import get_strategy


@dataclass
class TrainResult:
    """What a run produced. ``model`` holds the last weights; ``best`` is the path of
    the best checkpoint by ``config.monitor``; ``learning_rate`` the peak rate trained
    with (the range test's with ``find_lr``)."""

    run_dir: Path
    model: keras.Model
    class_names: list[str]
    split: Split
    history: list[dict[str, float]]
    policy: str
    stopped: str | None
    best: Path
    last: Path
    learning_rate: float


def train(config: TrainConfig | None = None, **settings: Any) -> TrainResult:
    """Train a model as ``config`` says, in its run directory; resumes an existing run.

    Args:
        config: the run's settings; keyword ``settings`` override its fields (or make
            one from the defaults).

    Raises:
        BcnetError: bad data or settings, a run directory made with other settings.
        TrainingDivergedError: the loss became NaN/inf (checkpoints are kept).

    Example:
        >>> result = train(model="resnet9", data="busi_256", epochs=50,
        ...                schedule="one_cycle_switch", weights=None)  # doctest: +SKIP
        >>> result.best                                                 # doctest: +SKIP
        PosixPath('saved_models/resnet9-busi_256/checkpoints/best.keras')
    """
    config = replace(config, **settings) if config is not None else TrainConfig(**settings)
    strategy = get_strategy(config.strategy)  # first: a cluster starts before other ops
    run_dir = Path(config.run_dir) if config.run_dir else default_run_dir(config)
    index = discover(
        config.data or synthetic_dataset(),
        config.layout,
        label_by=config.label_by,
        magnification=config.magnification,
        slides=config.slides,
    )
    refuse_inside_dataset(run_dir, index.root, flag="--run-dir")
    files = RunDir(run_dir, writer=is_chief(strategy))
    if files.writer:
        run_dir.mkdir(parents=True, exist_ok=True)
    load_or_write_config(files, config)

    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    with precision_scope(config.precision) as policy:  # the caller's policy after
        split = load_or_make_split(files, index, config)
        if not split.val:
            raise BcnetError("training needs a validation part: set val > 0.")
        names = list(index.class_names)
        spec = get_spec(config.model)
        tiles = config.tiles
        size = ImageSize.of(tiles.size if tiles else config.image_size or spec.default_size)
        stain = load_or_fit_stain(files, config, split)

        state = files.read_state()

        def build(image_size: ImageSize, weights: str | None) -> keras.Model:
            with strategy.scope():
                built = build_model(
                    config.model,
                    len(names),
                    image_size=image_size,
                    weights=weights,
                    freeze=config.freeze,
                )
            if is_multiworker(strategy):
                synchronize_batch_norm(built)
            return built

        model = build(size, config.weights)
        run = RunContext(
            config,
            files,
            split,
            names,
            size,
            math.ceil(len(split.train) * (tiles.per_image if tiles else 1) / config.batch_size),
            class_weights(split.train, names) if config.class_weights else None,
            state,
            policy,
            strategy,
            spec.stages,
            stain,
            tiles,
        )
        if config.find_lr:  # at the size training starts at (progressive resizing)
            start = make_plan(config, spec.stages, size)[0].image_size or size

            def fresh_copy() -> keras.Model:
                return transfer_weights(model, build(start, None))

            found = load_or_find_learning_rate(run, fresh_copy, start)
            config = run.config = replace(config, learning_rate=found)
        if state["completed"]:
            model.load_weights(files.phase_weights(state["completed"][-1]))
        for i, phase in enumerate(make_plan(config, spec.stages, size)):
            if i in state["completed"] or state.get("stopped"):
                continue
            if input_size(model) != (phase.image_size or size):  # progressive resizing
                model = transfer_weights(model, build(phase.image_size or size, None))
            state["stopped"] = run_phase(run, i, phase, model)
            state["completed"].append(i)
            files.write_state(state)
        if tiles is not None and tiles.aggregate == "attention" and not files.mil.exists():
            parts = {"train": split.train, "val": split.val}
            train_attention_mil(files, parts, names, config, stain)

        return TrainResult(
            run_dir,
            model,
            names,
            split,
            files.read_history(),
            policy,
            state.get("stopped"),
            files.best,
            files.last,
            config.learning_rate,
        )
