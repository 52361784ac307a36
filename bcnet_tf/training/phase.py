"""One phase of a run's plan (:mod:`bcnet_tf.training.plans`): freeze the stages it
trains, feed it images or, with a frozen backbone, cached features
(:mod:`bcnet_tf.training.fast_path`), compile, and fit with the run's callbacks
(checkpoints, resumable backups, NaN guard, stop-at-threshold, logs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from bcnet_tf.console import fit_verbosity
from bcnet_tf.data.augment import augmentation_policy
from bcnet_tf.data.mammo import preprocess_extra
from bcnet_tf.data.pipeline import epoch_batches, make_dataset, naming_unreadable_images
from bcnet_tf.data.splits import Split
from bcnet_tf.errors import BcnetError
from bcnet_tf.models import freeze_stages
from bcnet_tf.models.saving import ModelInfo
from bcnet_tf.pathology.settings import model_extra
from bcnet_tf.pathology.stain import StainNormalizer
from bcnet_tf.pathology.tiles import TileSpec
from bcnet_tf.settings import ImageSize
from bcnet_tf.training.callbacks import (
    EpochTime,
    ModelCheckpoints,
    NaNGuard,
    RandomStateBackup,
    ThresholdStop,
    backup_epoch,
)
from bcnet_tf.training.config import TrainConfig
from bcnet_tf.training.distributed import fit_distributed, is_chief, is_multiworker
from bcnet_tf.training.fast_path import (
    backbone_is_frozen,
    cached_features,
    feature_epochs,
    head_model,
)
from bcnet_tf.training.plans import Phase
from bcnet_tf.training.run_dir import RunDir


@dataclass
class RunContext:
    """What every phase of one run shares."""

    config: TrainConfig
    files: RunDir
    split: Split
    names: list[str]
    size: ImageSize
    steps: int
    class_weight: dict[int, float] | None
    state: dict[str, Any]
    policy: str
    strategy: tf.distribute.Strategy
    stages: tuple[tuple[str, ...], ...]
    stain: StainNormalizer | None
    tiles: TileSpec | None


@dataclass
class _PhaseCallbacks:
    all: list[keras.callbacks.Callback]
    guard: NaNGuard
    checkpoints: ModelCheckpoints | None
    stoppers: list[keras.callbacks.Callback]

    def stop_reason(self) -> str | None:
        for stopper in self.stoppers:
            epoch = getattr(stopper, "stopped_epoch", None)
            if isinstance(stopper, ThresholdStop) and epoch is not None:
                return f"{stopper.monitor} passed {stopper.threshold} at epoch {epoch + 1}"
            if isinstance(stopper, keras.callbacks.EarlyStopping) and epoch:
                return f"early stopping at epoch {epoch + 1}"
        return None


def training_loss(config: TrainConfig) -> keras.losses.Loss:
    """The run's loss (cross-entropy or focal, with its label smoothing).

    Example:
        >>> training_loss(TrainConfig(loss="focal", label_smoothing=0.1)).name
        'categorical_focal_crossentropy'
    """
    if config.loss == "focal":
        return keras.losses.CategoricalFocalCrossentropy(label_smoothing=config.label_smoothing)
    return keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)


def with_augmentation(model: keras.Model, config: TrainConfig, size: ImageSize) -> keras.Model:
    """``model`` behind the run's augmentation policy (random layers, active in training
    steps only), or ``model`` itself when the policy is ``none``."""
    augment = augmentation_policy(config.augment, config.seed)
    if augment is None:
        return model
    return keras.Sequential(
        [keras.Input((*size, 3)), augment, model], name=f"{model.name}_training"
    )


def _metrics(num_classes: int) -> list[keras.metrics.Metric]:
    return [
        keras.metrics.CategoricalAccuracy(name="accuracy"),
        keras.metrics.AUC(name="auc", multi_label=True, num_labels=num_classes),
        keras.metrics.F1Score(average="macro", name="f1_score"),
    ]


def _callbacks(
    run: RunContext, model: keras.Model, phase_index: int, full_size: bool
) -> _PhaseCallbacks:
    """The phase's callbacks; checkpoints and stopping rules only at the run's full
    input size (a smaller model of progressive resizing is not the deployable one)."""
    config = run.config
    stoppers: list[keras.callbacks.Callback] = []
    if config.stop_at is not None and full_size:
        stoppers.append(ThresholdStop(config.stop_metric, config.stop_at))
    if config.early_stopping and full_size:
        stoppers.append(
            keras.callbacks.EarlyStopping(config.monitor, patience=config.early_stopping)
        )
    guard = NaNGuard()
    extra = {**model_extra(run.stain, run.tiles), **preprocess_extra(config.preprocess)}
    info = ModelInfo(tuple(run.names), config.model, run.size, extra)
    checkpoints = (
        ModelCheckpoints(model, info, run.files.checkpoints, config.monitor, run.state.get("best"))
        if full_size
        else None
    )
    backup = run.files.backup(phase_index)
    callbacks: list[keras.callbacks.Callback] = []
    if not is_multiworker(run.strategy):  # there fit_distributed backs up itself
        callbacks += [
            RandomStateBackup(backup),  # before BackupAndRestore: its metadata names the epoch
            keras.callbacks.BackupAndRestore(str(backup)),
        ]
    callbacks += [guard, EpochTime()]
    if is_chief(run.strategy):  # the run directory has one writer
        callbacks += [checkpoints] if checkpoints is not None else []
        callbacks += [
            keras.callbacks.CSVLogger(str(run.files.history), append=True),
            keras.callbacks.TensorBoard(str(run.files.tensorboard), write_graph=False),
        ]
    callbacks += stoppers
    if config.reduce_on_plateau and config.schedule == "constant":
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(config.monitor, patience=config.reduce_on_plateau)
        )
    return _PhaseCallbacks(callbacks, guard, checkpoints, stoppers)


def _save_weights_atomically(model: keras.Model, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)  # no checkpoint yet before full size
    tmp = path.with_name(f".{path.name}")  # keeps the .weights.h5 suffix Keras requires
    model.save_weights(tmp)
    os.replace(tmp, path)


def run_phase(run: RunContext, index: int, phase: Phase, model: keras.Model) -> str | None:
    """Train one phase; returns why training stopped early, or ``None``."""
    config = run.config
    size = phase.image_size or run.size
    full_size = size == run.size
    if phase.freeze is not None:
        freeze_stages(model, run.stages, phase.freeze)
    frozen = backbone_is_frozen(model)
    if config.fast_path == "on" and not frozen:
        raise BcnetError("fast_path='on' needs a frozen backbone (freeze='all').")
    if config.fast_path == "on" and run.tiles:
        raise BcnetError("fast_path='on' does not work in tile mode (tiles differ each epoch).")
    multiworker = is_multiworker(run.strategy)
    if config.fast_path == "on" and multiworker:
        raise BcnetError("fast_path='on' does not work with strategy='multiworker'.")
    fast = config.fast_path == "on" or (
        config.fast_path == "auto" and frozen and not run.tiles and not multiworker
    )
    resumed = backup_epoch(run.files.backup(index))
    start = phase.start if resumed is None else resumed

    with run.strategy.scope():
        if fast:
            views, targets, val = cached_features(
                model,
                run.split,
                run.names,
                run.config,
                image_size=size,
                stain=run.stain,
                cache=run.files.features(model.name if full_size else f"{model.name}-{size}"),
                preprocess=config.preprocess,
            )
            trainer = head_model(model)
            train_data = feature_epochs(
                views, targets, start, phase.end, config.batch_size, config.seed
            )
        else:
            trainer = with_augmentation(model, config, size)
            train_data = epoch_batches(
                run.split.train,
                run.names,
                image_size=size,
                batch_size=config.batch_size,
                start=start,
                end=phase.end,
                seed=config.seed,
                stain=run.stain,
                tiles=run.tiles,
                preprocess=config.preprocess,
            )
            val = make_dataset(
                run.split.val,
                run.names,
                image_size=size,
                batch_size=config.batch_size,
                stain=run.stain,
                tiles=run.tiles,
                preprocess=config.preprocess,
            )
        callbacks = _callbacks(run, model, index, full_size)
        trainer.compile(
            phase.make_optimizer(run.steps), training_loss(config), metrics=_metrics(len(run.names))
        )
    source = "cached features (fast path)" if fast else "images"
    print(
        f"phase {index} '{phase.name}': epochs {start + 1}-{phase.end} on {source} "
        f"at {size} px, "
        f"precision {run.policy}"
    )
    with naming_unreadable_images(run.split.train + run.split.val):
        if multiworker:
            fit_distributed(
                run.strategy,
                trainer,
                train_data,
                val,
                loss=training_loss(config),
                metrics=_metrics(len(run.names)),
                start=start,
                epochs=phase.end,
                steps_per_epoch=run.steps,
                callbacks=callbacks.all,
                backup_dir=run.files.backup(index),
                class_weight=run.class_weight,
            )
        else:
            trainer.fit(
                train_data,
                epochs=phase.end,
                initial_epoch=phase.start,
                steps_per_epoch=run.steps,
                validation_data=val,
                callbacks=callbacks.all,
                class_weight=run.class_weight,
                verbose=fit_verbosity(),
            )
    if callbacks.checkpoints is not None:
        run.state["best"] = callbacks.checkpoints.best
    if callbacks.guard.diverged_at is not None:
        raise callbacks.guard.error(run.files.path, config.learning_rate, run.policy)
    if is_chief(run.strategy):
        _save_weights_atomically(model, run.files.phase_weights(index))
    return callbacks.stop_reason()
