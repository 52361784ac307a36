"""``train``: one command, one run directory (:mod:`bcnet_tf.training.run_dir`),
resumable; the phases of its plan, each on images or, with a frozen backbone, on
cached features (:mod:`bcnet_tf.training.fast_path`).

Running the same command again on the same directory resumes where it stopped (after
a crash or SIGKILL, from the last finished epoch) and finishes.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from bcnet_tf.console import fit_verbosity
from bcnet_tf.data.augment import augmentation_policy
from bcnet_tf.data.decode import decode_rgb
from bcnet_tf.data.files import IMAGE_EXTENSIONS, skip_reason
from bcnet_tf.data.layouts import discover
from bcnet_tf.data.mammo import check_preprocess, preprocess_extra
from bcnet_tf.data.pipeline import (
    class_weights,
    epoch_batches,
    make_dataset,
    naming_unreadable_images,
)
from bcnet_tf.data.records import DatasetIndex
from bcnet_tf.data.splits import Split, split_dataset
from bcnet_tf.data.synthetic import synthetic_dataset
from bcnet_tf.errors import BcnetError
from bcnet_tf.io import refuse_inside_dataset
from bcnet_tf.models import build_model, freeze_stages, get_spec
from bcnet_tf.models.saving import ModelInfo
from bcnet_tf.pathology.settings import model_extra
from bcnet_tf.pathology.stain import StainNormalizer
from bcnet_tf.pathology.tiles import TileSpec
from bcnet_tf.training.callbacks import (
    EpochTime,
    ModelCheckpoints,
    NaNGuard,
    RandomStateBackup,
    ThresholdStop,
    backup_epoch,
)
from bcnet_tf.training.config import TrainConfig
from bcnet_tf.training.fast_path import (
    backbone_is_frozen,
    cached_features,
    feature_epochs,
    head_model,
)
from bcnet_tf.training.plans import Phase, make_plan
from bcnet_tf.training.precision import set_precision
from bcnet_tf.training.run_dir import RunDir
from bcnet_tf.training.strategy import get_strategy

DEFAULT_RUNS = Path("saved_models")


@dataclass
class TrainResult:
    """What a run produced. ``model`` holds the last weights; ``best`` is the path of
    the best checkpoint by ``config.monitor``."""

    run_dir: Path
    model: keras.Model
    class_names: list[str]
    split: Split
    history: list[dict[str, float]]
    policy: str
    stopped: str | None
    best: Path
    last: Path


@dataclass
class _Run:
    """What every phase of one run shares."""

    config: TrainConfig
    files: RunDir
    split: Split
    names: list[str]
    size: int
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
    checkpoints: ModelCheckpoints
    stoppers: list[keras.callbacks.Callback]

    def stop_reason(self) -> str | None:
        for stopper in self.stoppers:
            epoch = getattr(stopper, "stopped_epoch", None)
            if isinstance(stopper, ThresholdStop) and epoch is not None:
                return f"{stopper.monitor} passed {stopper.threshold} at epoch {epoch + 1}"
            if isinstance(stopper, keras.callbacks.EarlyStopping) and epoch:
                return f"early stopping at epoch {epoch + 1}"
        return None


def default_run_dir(config: TrainConfig) -> Path:
    """``saved_models/<model>-<dataset folder name>``."""
    data_name = Path(config.data).stem if config.data else "synthetic"
    return DEFAULT_RUNS / f"{config.model}-{data_name}"


def _load_or_write_config(files: RunDir, config: TrainConfig) -> None:
    if files.is_run():
        saved = files.read_config()
        if saved != config:
            changed = {
                key: (value, getattr(config, key))
                for key, value in saved.to_json().items()
                if getattr(config, key) != value
            }
            raise BcnetError(
                f"{files.path} holds a run made with other settings {changed} (saved, "
                "now). Fix: run the same command to resume it, or choose another --run-dir."
            )
    else:
        files.write_config(config)


def _load_or_make_split(files: RunDir, index: DatasetIndex, config: TrainConfig) -> Split:
    if files.split.exists():
        return files.read_split(index)
    split = split_dataset(
        index, val=config.val, test=config.test, seed=config.split_seed, group_by=config.group_by
    )
    files.write_split(split, index)
    return split


def _load_or_fit_stain(files: RunDir, config: TrainConfig, split: Split) -> StainNormalizer | None:
    """The run's stain normaliser: ``stain.json`` when resuming, else fitted on the
    reference images (default: up to 16 training images, seeded) and saved."""
    if config.stain == "none":
        return None
    saved = files.read_stain()
    if saved is not None:
        return saved
    if config.stain_reference:
        reference = Path(config.stain_reference)
        paths = (
            [reference]
            if reference.is_file()
            else sorted(
                p
                for p in reference.rglob("*")
                if p.suffix.lower() in IMAGE_EXTENSIONS
                and skip_reason(p.relative_to(reference)) is None
            )
        )
        if not paths:
            raise BcnetError(f"no reference images in {reference} (--stain-reference).")
    else:
        order = np.random.default_rng(config.seed).permutation(len(split.train))[:16]
        paths = [split.train[i].path for i in sorted(order)]
    try:
        stain = StainNormalizer.fit(config.stain, [decode_rgb(os.fspath(p)) for p in paths])
    except ValueError as error:
        raise BcnetError(
            f"{error} ({len(paths)} reference images, e.g. {paths[0]}). Fix: pass "
            "--stain-reference with well-stained H&E tissue, or use --stain reinhard."
        ) from None
    files.write_stain(stain)
    return stain


def _loss(config: TrainConfig) -> keras.losses.Loss:
    if config.loss == "focal":
        return keras.losses.CategoricalFocalCrossentropy(label_smoothing=config.label_smoothing)
    return keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)


def _metrics(num_classes: int) -> list[keras.metrics.Metric]:
    return [
        keras.metrics.CategoricalAccuracy(name="accuracy"),
        keras.metrics.AUC(name="auc", multi_label=True, num_labels=num_classes),
        keras.metrics.F1Score(average="macro", name="f1_score"),
    ]


def _callbacks(run: _Run, model: keras.Model, phase_index: int) -> _PhaseCallbacks:
    config = run.config
    stoppers: list[keras.callbacks.Callback] = []
    if config.stop_at is not None:
        stoppers.append(ThresholdStop(config.stop_metric, config.stop_at))
    if config.early_stopping:
        stoppers.append(
            keras.callbacks.EarlyStopping(config.monitor, patience=config.early_stopping)
        )
    guard = NaNGuard()
    extra = {**model_extra(run.stain, run.tiles), **preprocess_extra(config.preprocess)}
    info = ModelInfo(tuple(run.names), config.model, (run.size, run.size), extra)
    checkpoints = ModelCheckpoints(
        model, info, run.files.checkpoints, config.monitor, run.state.get("best")
    )
    backup = run.files.backup(phase_index)
    callbacks: list[keras.callbacks.Callback] = [
        RandomStateBackup(backup),  # before BackupAndRestore: its metadata names the epoch
        keras.callbacks.BackupAndRestore(str(backup)),
        guard,
        checkpoints,
        EpochTime(),
        keras.callbacks.CSVLogger(str(run.files.history), append=True),
        keras.callbacks.TensorBoard(str(run.files.tensorboard), write_graph=False),
        *stoppers,
    ]
    if config.reduce_on_plateau and config.schedule == "constant":
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(config.monitor, patience=config.reduce_on_plateau)
        )
    return _PhaseCallbacks(callbacks, guard, checkpoints, stoppers)


def _save_weights_atomically(model: keras.Model, path: Path) -> None:
    tmp = path.with_name(f".{path.name}")  # keeps the .weights.h5 suffix Keras requires
    model.save_weights(tmp)
    os.replace(tmp, path)


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
    check_preprocess(config.preprocess)
    run_dir = Path(config.run_dir) if config.run_dir else default_run_dir(config)
    index = discover(
        config.data or synthetic_dataset(),
        config.layout,
        label_by=config.label_by,
        magnification=config.magnification,
    )
    refuse_inside_dataset(run_dir, index.root, flag="--run-dir")
    run_dir.mkdir(parents=True, exist_ok=True)
    files = RunDir(run_dir)
    _load_or_write_config(files, config)

    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    policy = set_precision(config.precision)

    split = _load_or_make_split(files, index, config)
    if not split.val:
        raise BcnetError("training needs a validation part: set val > 0.")
    names = list(index.class_names)
    spec = get_spec(config.model)
    tiles = config.tiles()
    size = tiles.size if tiles else config.image_size or spec.default_size
    stain = _load_or_fit_stain(files, config, split)

    state = files.read_state()
    strategy = get_strategy(config.strategy)
    with strategy.scope():
        model = build_model(
            config.model,
            len(names),
            image_size=size,
            weights=config.weights,
            freeze=config.freeze,
        )
    if state["completed"]:
        model.load_weights(files.phase_weights(state["completed"][-1]))
    run = _Run(
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
    for i, phase in enumerate(make_plan(config, spec.stages)):
        if i in state["completed"] or state.get("stopped"):
            continue
        state["stopped"] = _run_phase(run, i, phase, model)
        state["completed"].append(i)
        files.write_state(state)

    return TrainResult(
        run_dir,
        model,
        names,
        split,
        _read_history(files.history),
        policy,
        state.get("stopped"),
        files.best,
        files.last,
    )


def _run_phase(run: _Run, index: int, phase: Phase, model: keras.Model) -> str | None:
    """Train one phase; returns why training stopped early, or ``None``."""
    config = run.config
    if phase.freeze is not None:
        freeze_stages(model, run.stages, phase.freeze)
    frozen = backbone_is_frozen(model)
    if config.fast_path == "on" and not frozen:
        raise BcnetError("fast_path='on' needs a frozen backbone (freeze='all').")
    if config.fast_path == "on" and run.tiles:
        raise BcnetError("fast_path='on' does not work in tile mode (tiles differ each epoch).")
    fast = config.fast_path == "on" or (config.fast_path == "auto" and frozen and not run.tiles)
    resumed = backup_epoch(run.files.backup(index))
    start = phase.start if resumed is None else resumed

    with run.strategy.scope():
        if fast:
            views, targets, val = cached_features(
                model,
                run.split,
                run.names,
                run.config,
                image_size=run.size,
                stain=run.stain,
                cache=run.files.features(model.name),
                preprocess=config.preprocess,
            )
            trainer = head_model(model)
            train_data = feature_epochs(
                views, targets, start, phase.end, config.batch_size, config.seed
            )
        else:
            augment = augmentation_policy(config.augment, config.seed)
            trainer = (
                model
                if augment is None
                else keras.Sequential(
                    [keras.Input((run.size, run.size, 3)), augment, model],
                    name=f"{model.name}_training",
                )
            )
            train_data = epoch_batches(
                run.split.train,
                run.names,
                image_size=run.size,
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
                image_size=run.size,
                batch_size=config.batch_size,
                stain=run.stain,
                tiles=run.tiles,
                preprocess=config.preprocess,
            )
        callbacks = _callbacks(run, model, index)
        trainer.compile(
            phase.make_optimizer(run.steps), _loss(config), metrics=_metrics(len(run.names))
        )
    source = "cached features (fast path)" if fast else "images"
    print(
        f"phase {index} '{phase.name}': epochs {start + 1}-{phase.end} on {source}, "
        f"precision {run.policy}"
    )
    with naming_unreadable_images(run.split.train + run.split.val):
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
    run.state["best"] = callbacks.checkpoints.best
    if callbacks.guard.diverged_at is not None:
        raise callbacks.guard.error(run.files.path, config.learning_rate, run.policy)
    _save_weights_atomically(model, run.files.phase_weights(index))
    return callbacks.stop_reason()


def _read_history(path: Path) -> list[dict[str, float]]:
    if not path.exists():
        return []
    lines = path.read_text().strip().splitlines()
    header = lines[0].split(",")
    return [dict(zip(header, map(float, line.split(",")), strict=True)) for line in lines[1:]]
