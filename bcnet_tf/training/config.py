"""``TrainConfig``: everything a run depends on, saved as ``config.json`` in the run."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from bcnet_tf.errors import BcnetError
from bcnet_tf.pathology.stain import METHODS as STAIN_METHODS
from bcnet_tf.pathology.tiles import TileSpec

SCHEDULES = ("constant", "one_cycle", "one_cycle_switch", "fine_tune")


@dataclass
class TrainConfig:
    """A training run. Defaults follow study 003 (BCNet) where a study gives one.

    Attributes:
        model: registered model name; num_classes comes from the data.
        data: dataset folder or CSV manifest; ``None`` uses the synthetic dataset.
        run_dir: run directory (default ``saved_models/<model>-<data name>``).
        layout, label_by, magnification: how to read ``data`` (see ``discover``).
        image_size: input side (default: the model's).
        weights: ``None``, ``"imagenet"`` or a weights file.
        freeze: backbone freezing (default: the model's).
        epochs, batch_size, learning_rate: the usual.
        schedule: ``constant`` Adam (003, 002); ``one_cycle`` Adam; ``one_cycle_switch``
            one-cycle with Adam switched to SGD at ``switch_at`` of the run (001);
            ``fine_tune`` fastai-style: ``head_epochs`` head-only, then all stages with
            discriminative learning rates (000).
        augment: augmentation policy name, applied inside the training step.
        val, test, group_by, split_seed: the split (patient/duplicate-grouped by default).
        class_weights: weight classes inversely to their frequency.
        loss: ``crossentropy`` or ``focal``; label_smoothing for either.
        stop_metric, stop_at: stop once the metric passes this value (BCNet: 0.88).
        early_stopping: patience in epochs (0 = off).
        reduce_on_plateau: patience in epochs (0 = off; constant schedule only).
        monitor: metric choosing the best checkpoint.
        precision: ``auto``, ``float32``, ``mixed_float16`` or ``mixed_bfloat16``.
        fast_path: train a frozen backbone's head on cached features (``auto``: when
            the whole backbone is frozen); feature_views augmented views per image.
        seed, deterministic: seeds everything; ``deterministic`` also turns on TF op
            determinism (bit-identical reruns, slower).
        strategy: ``default``, ``mirrored`` or ``multiworker`` (tf.distribute).
        stain: H&E stain normalisation, ``none``, ``macenko`` or ``reinhard``, fitted on
            ``stain_reference`` (an image file or a folder of them; default: up to 16
            training images) and applied to every image, also after export.
        tile_size: tile mode when > 0: the model classifies tiles of this side cut at
            ``tile_scale`` of the native resolution, ``tiles_per_image`` random tissue
            tiles (at least ``min_tissue`` tissue) per image and epoch; an image's
            prediction aggregates its tiles (``tile_aggregate``: mean or majority).
    """

    model: str = "bcnet_vgg16"
    data: str | None = None
    run_dir: str | None = None
    layout: str = "auto"
    label_by: str = "class"
    magnification: str | None = None
    image_size: int | None = None
    weights: str | None = "imagenet"
    freeze: str | int | None = None
    epochs: int = 50
    batch_size: int = 32
    learning_rate: float = 1e-3
    schedule: str = "constant"
    switch_at: float = 0.5
    head_epochs: int = 1
    augment: str = "bcnet"
    val: float = 0.15
    test: float = 0.15
    group_by: str = "auto"
    split_seed: int = 0
    class_weights: bool = False
    loss: str = "crossentropy"
    label_smoothing: float = 0.0
    stop_metric: str = "val_accuracy"
    stop_at: float | None = None
    early_stopping: int = 0
    reduce_on_plateau: int = 0
    monitor: str = "val_accuracy"
    precision: str = "auto"
    fast_path: str = "auto"
    feature_views: int = 2
    seed: int = 0
    deterministic: bool = False
    strategy: str = "default"
    stain: str = "none"
    stain_reference: str | None = None
    tile_size: int = 0
    tile_scale: float = 1.0
    tiles_per_image: int = 8
    min_tissue: float = 0.5
    tile_aggregate: str = "mean"

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise BcnetError(f"schedule must be one of {SCHEDULES}, not {self.schedule!r}")
        if self.loss not in ("crossentropy", "focal"):
            raise BcnetError(f"loss must be 'crossentropy' or 'focal', not {self.loss!r}")
        if self.fast_path not in ("auto", "on", "off"):
            raise BcnetError(f"fast_path must be auto, on or off, not {self.fast_path!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise BcnetError("epochs, batch_size and learning_rate must be positive")
        if self.stain not in ("none", *STAIN_METHODS):
            raise BcnetError(f"stain must be none, macenko or reinhard, not {self.stain!r}")
        if self.tile_size:
            try:
                self.tiles()
            except ValueError as error:
                raise BcnetError(str(error)) from None

    def tiles(self) -> TileSpec | None:
        """The tile spec of tile mode, or ``None`` for whole images."""
        if not self.tile_size:
            return None
        return TileSpec(
            size=self.tile_size,
            scale=self.tile_scale,
            min_tissue=self.min_tissue,
            per_image=self.tiles_per_image,
            aggregate=self.tile_aggregate,
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise BcnetError(f"unknown training settings {unknown}; known: {sorted(known)}")
        return cls(**data)

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
