"""What a run starts from, made once and read back when it resumes: its settings
(``config.json``), its split (``split.json``), its stain normaliser (``stain.json``)
and, with ``find_lr``, its learning rate (``lr_find.json``), all in the run directory
(:mod:`bcnet_tf.training.run_dir`).

Example:
    >>> default_run_dir(TrainConfig(model="resnet9", data="data/busi_256"))
    PosixPath('saved_models/resnet9-busi_256')
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from bcnet_tf.data.decode import decode_rgb
from bcnet_tf.data.files import IMAGE_EXTENSIONS, skip_reason
from bcnet_tf.data.pipeline import epoch_batches
from bcnet_tf.data.records import DatasetIndex
from bcnet_tf.data.slides import sample_tiles
from bcnet_tf.data.splits import Split, split_dataset
from bcnet_tf.errors import BcnetError
from bcnet_tf.pathology.stain import StainNormalizer
from bcnet_tf.settings import ImageSize
from bcnet_tf.training.config import TrainConfig
from bcnet_tf.training.distributed import is_multiworker
from bcnet_tf.training.lr_find import lr_find
from bcnet_tf.training.phase import RunContext, training_loss, with_augmentation
from bcnet_tf.training.run_dir import RunDir

DEFAULT_RUNS = Path("saved_models")
#: Tissue tiles per training slide a stain normaliser is fitted on (whole-slide mode).
SLIDE_REFERENCE_TILES = 4
#: Steps of the learning-rate range test of ``find_lr`` (fastai's default).
RANGE_TEST_STEPS = 100


def default_run_dir(config: TrainConfig) -> Path:
    """``saved_models/<model>-<dataset folder name>``."""
    data_name = Path(config.data).stem if config.data else "synthetic"
    return DEFAULT_RUNS / f"{config.model}-{data_name}"


def load_or_write_config(files: RunDir, config: TrainConfig) -> None:
    """Save ``config`` in a new run; refuse to resume a run made with other settings."""
    if files.is_run():
        saved = files.read_config()
        if saved != config:
            now = config.to_json()
            changed = {
                key: (value, now[key])
                for key, value in saved.to_json().items()
                if now[key] != value
            }
            raise BcnetError(
                f"{files.path} holds a run made with other settings {changed} (saved, "
                "now). Fix: run the same command to resume it, or choose another --run-dir."
            )
    else:
        files.write_config(config)


def load_or_make_split(files: RunDir, index: DatasetIndex, config: TrainConfig) -> Split:
    """The run's saved split, or a new one (grouped and stratified as ``config`` says)."""
    if files.split.exists():
        return files.read_split(index)
    split = split_dataset(
        index, val=config.val, test=config.test, seed=config.split_seed, group_by=config.group_by
    )
    files.write_split(split, index)
    return split


def load_or_fit_stain(files: RunDir, config: TrainConfig, split: Split) -> StainNormalizer | None:
    """The run's stain normaliser: ``stain.json`` when resuming, else fitted on the
    reference images (default: up to 16 training images, seeded; in whole-slide mode
    a few tissue tiles of each) and saved."""
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
    if config.slides and not config.stain_reference:  # tissue tiles, not whole slides
        assert config.tiles is not None
        chosen = [split.train[i] for i in sorted(order)]
        references = sample_tiles(chosen, config.tiles, SLIDE_REFERENCE_TILES, config.seed)
    else:
        references = [decode_rgb(os.fspath(p)) for p in paths]
    try:
        stain = StainNormalizer.fit(config.stain, references)
    except ValueError as error:
        raise BcnetError(
            f"{error} ({len(paths)} reference images, e.g. {paths[0]}). Fix: pass "
            "--stain-reference with well-stained H&E tissue, or use --stain reinhard."
        ) from None
    files.write_stain(stain)
    return stain


def load_or_find_learning_rate(
    run: RunContext, fresh_copy: Callable[[], keras.Model], image_size: ImageSize
) -> float:
    """The run's peak learning rate with ``find_lr``: ``lr_find.json`` when resuming,
    else the suggestion of a range test (:func:`~bcnet_tf.training.lr_find.lr_find`)
    on the training part alone, with the run's augmentation and loss, at
    ``image_size`` (the size training starts at), saved with its curve
    (``lr_find.png``).

    The test trains ``fresh_copy()``: the freshly built model at ``image_size``, sharing
    no weights with it, so the run starts training with the weights it was built with.
    It is made only when a test runs.
    """
    saved = run.files.read_lr_find()
    if saved is not None:
        return saved.suggestion
    if is_multiworker(run.strategy):
        raise BcnetError(
            "find_lr does not work with strategy='multiworker'. Fix: find the rate in a "
            "one-machine run (`bcnet-tf train --find-lr --epochs 1`), then pass it as "
            "--learning-rate."
        )
    config = run.config
    probe = fresh_copy()
    batches = epoch_batches(
        run.split.train,
        run.names,
        image_size=image_size,
        batch_size=config.batch_size,
        start=0,
        end=math.ceil(RANGE_TEST_STEPS / run.steps),
        seed=config.seed,
        stain=run.stain,
        tiles=run.tiles,
        preprocess=config.preprocess,
    )
    print(f"learning-rate range test: {RANGE_TEST_STEPS} steps on the training part")
    result = lr_find(
        with_augmentation(probe, config, image_size),
        batches,
        steps=RANGE_TEST_STEPS,
        loss=training_loss(config),
    )
    run.files.write_lr_find(result)
    return result.suggestion
