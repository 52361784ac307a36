"""``TrainConfig``: everything a run depends on, saved as ``config.json`` in the run."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bcnet_tf.data.layouts import LABEL_BY, LAYOUTS
from bcnet_tf.data.mammo import PREPROCESSING, check_preprocess
from bcnet_tf.data.splits import GROUPINGS
from bcnet_tf.errors import BcnetError
from bcnet_tf.pathology.stain import METHODS as STAIN_METHODS
from bcnet_tf.pathology.tiles import TileSpec
from bcnet_tf.settings import Choices, ImageSize, build_settings, nested_setting, setting

SCHEDULES = ("constant", "one_cycle", "one_cycle_switch", "fine_tune")
LOSSES = ("crossentropy", "focal")
FAST_PATH = ("auto", "on", "off")
STAINS = ("none", *STAIN_METHODS)
#: The flat tile settings of older ``config.json`` files -> the ``TileSpec`` field.
LEGACY_TILE_FIELDS = {
    "tile_size": "size",
    "tile_scale": "scale",
    "tiles_per_image": "per_image",
    "min_tissue": "min_tissue",
    "tile_aggregate": "aggregate",
}


@dataclass
class TrainConfig:
    """A training run. Defaults follow study 003 (BCNet) where a study gives one.

    Each field's one line of help and allowed values live in its metadata
    (:func:`~bcnet_tf.settings.setting`): ``bcnet-tf train --help`` prints them, and
    :func:`~bcnet_tf.settings.describe_settings` yields them for a reference.

    Example:
        >>> TrainConfig(model="resnet18", data="busi", epochs=10).schedule
        'constant'
        >>> TrainConfig(image_size="512x416").image_size, TrainConfig(image_size=224).image_size
        (ImageSize(height=512, width=416), ImageSize(height=224, width=224))
    """

    model: str = setting(
        "bcnet_vgg16",
        "registered model name; the number of classes comes from the data",
        Choices("bcnet_tf.models", "list_models"),
    )
    data: str | None = setting(
        None,
        "dataset folder or CSV manifest (the Python API trains on the synthetic dataset "
        "when it is none; the command line asks for --synthetic instead)",
    )
    run_dir: str | None = setting(
        None, "run directory, resumed when it exists (none: saved_models/<model>-<data name>)"
    )
    layout: str = setting("auto", "how to read the dataset folder", LAYOUTS)
    label_by: str = setting(
        "class", "BreakHis labels: benign/malignant (class) or the 8 subtypes", LABEL_BY
    )
    magnification: str | None = setting(
        None, "keep images of one magnification only, e.g. 40X (none: all)"
    )
    image_size: ImageSize | None = setting(
        None,
        "model input in pixels: a side (224) or height x width (512x416) (none: the "
        "model's own square)",
    )
    preprocess: str = setting(
        "none",
        "image preprocessing before the resize: mammo crops to the breast, flips every "
        "breast to one side and pads to the input's aspect ratio (screening mammograms)",
        PREPROCESSING,
    )
    weights: str | None = setting(
        "imagenet", "initial weights: imagenet, a weights file, or none (random)"
    )
    freeze: str | int | None = setting(
        None,
        "backbone freezing: all, or how many last stages stay trainable (none: the model's "
        "default)",
    )
    epochs: int = setting(50, "training epochs")
    batch_size: int = setting(32, "images per training step")
    learning_rate: float = setting(1e-3, "peak learning rate")
    find_lr: bool = setting(
        False,
        "choose the peak learning rate by a range test on the training part before "
        "training (replaces --learning-rate; saved as lr_find.json and reused on resume)",
    )
    schedule: str = setting(
        "constant",
        "learning-rate schedule: constant Adam (studies 003, 002); one_cycle Adam; "
        "one_cycle_switch: one cycle, Adam switched to SGD at --switch-at (001); "
        "fine_tune: --head-epochs head only, then every stage with discriminative "
        "learning rates (000)",
        SCHEDULES,
    )
    weight_decay: float = setting(
        0.0,
        "decoupled weight decay of every optimizer (Adam becomes AdamW); biases and "
        "normalisation scales/offsets are not decayed",
    )
    clip_norm: float | None = setting(
        None, "clip the gradients' global norm to this value (none: no clipping)"
    )
    progressive_resize: float = setting(
        0.0,
        "fraction of the epochs trained first at a smaller input (--resize-start), the "
        "rest at the full size; fully convolutional models only (0: off)",
    )
    resize_start: ImageSize | None = setting(
        None,
        "input of the first --progressive-resize epochs (none: half the side, rounded to "
        "a multiple of 8)",
    )
    switch_at: float = setting(0.5, "one_cycle_switch: fraction of the run trained with Adam")
    head_epochs: int = setting(1, "fine_tune: epochs that train the head only")
    augment: str = setting(
        "bcnet",
        "augmentation policy, applied inside the training step",
        Choices("bcnet_tf.data.augment", "POLICIES"),
    )
    val: float = setting(0.15, "validation fraction of the split")
    test: float = setting(0.15, "test fraction of the split")
    group_by: str = setting(
        "auto",
        "what the split keeps on one side: patient, duplicates (near-identical images), "
        "image (nothing), or auto (patient when known, else duplicates)",
        GROUPINGS,
    )
    split_seed: int = setting(0, "seed of the split")
    class_weights: bool = setting(False, "weight classes inversely to their frequency")
    loss: str = setting("crossentropy", "training loss", LOSSES)
    label_smoothing: float = setting(0.0, "label smoothing of the loss")
    stop_metric: str = setting("val_accuracy", "metric that --stop-at watches")
    stop_at: float | None = setting(
        None, "stop once --stop-metric passes this value, e.g. 0.88 (none: never)"
    )
    early_stopping: int = setting(
        0, "stop after this many epochs without --monitor improving (0: off)"
    )
    reduce_on_plateau: int = setting(
        0,
        "divide the learning rate by 10 after this many epochs without --monitor "
        "improving (0: off; constant schedule only)",
    )
    monitor: str = setting("val_accuracy", "metric that chooses the best checkpoint")
    precision: str = setting(
        "auto",
        "mixed-precision policy (auto: the fastest this machine runs well)",
        Choices("bcnet_tf.training.precision", "POLICIES"),
    )
    fast_path: str = setting(
        "auto",
        "train a frozen backbone's head on cached features (auto: when the whole "
        "backbone is frozen)",
        FAST_PATH,
    )
    feature_views: int = setting(2, "fast path: augmented views cached per image")
    seed: int = setting(0, "seed of weights, augmentation and shuffling")
    deterministic: bool = setting(
        False, "also make TensorFlow's ops deterministic (bit-identical reruns, slower)"
    )
    strategy: str = setting(
        "default",
        "tf.distribute strategy: one device, every local device, or several machines",
        Choices("bcnet_tf.training.strategy", "STRATEGIES"),
    )
    stain: str = setting(
        "none",
        "H&E stain normalisation, fitted on --stain-reference and applied to every "
        "image, also after export",
        STAINS,
    )
    stain_reference: str | None = setting(
        None, "image file or folder the stain is fitted on (none: up to 16 training images)"
    )
    tiles: TileSpec | None = nested_setting(
        TileSpec,
        None,
        "tile mode, where the model classifies tissue tiles and an image's prediction "
        "combines its tiles'",
        prefix="tile",
        switch="size",
    )

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise BcnetError(f"schedule must be one of {SCHEDULES}, not {self.schedule!r}")
        if self.loss not in LOSSES:
            raise BcnetError(f"loss must be one of {LOSSES}, not {self.loss!r}")
        if self.fast_path not in FAST_PATH:
            raise BcnetError(f"fast_path must be one of {FAST_PATH}, not {self.fast_path!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise BcnetError("epochs, batch_size and learning_rate must be positive")
        if self.stain not in STAINS:
            raise BcnetError(f"stain must be one of {STAINS}, not {self.stain!r}")
        check_preprocess(self.preprocess)
        for name in ("image_size", "resize_start"):  # a side, "512x416" or [h, w] (JSON)
            if getattr(self, name) is not None:
                try:
                    setattr(self, name, ImageSize.of(getattr(self, name)))
                except ValueError as error:
                    raise BcnetError(f"{name}: {error}") from None
        if not 0 <= self.progressive_resize < 1:
            raise BcnetError(
                f"progressive_resize is a fraction of the epochs in [0, 1), not "
                f"{self.progressive_resize}"
            )
        if self.progressive_resize and self.tiles is not None:
            raise BcnetError("progressive_resize does not work in tile mode (--tile-size).")

    @property
    def slides(self) -> bool:
        """Whole-slide mode: the data are slides read at a target resolution."""
        return self.tiles is not None and self.tiles.whole_slide

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def upgrade_settings(values: dict[str, Any]) -> dict[str, Any]:
        """Settings as older versions wrote them, in today's form: the tile settings
        were flat fields (``tile_size``, 0 for whole images, ``tile_scale``, ...).

        Example:
            >>> TrainConfig.upgrade_settings({"tile_size": 0, "tile_scale": 1.0})
            {'tiles': None}
        """
        if not LEGACY_TILE_FIELDS.keys() & values.keys():
            return values
        upgraded = {key: value for key, value in values.items() if key not in LEGACY_TILE_FIELDS}
        tiles = {
            LEGACY_TILE_FIELDS[key]: values[key] for key in LEGACY_TILE_FIELDS if key in values
        }
        upgraded["tiles"] = tiles if tiles.get("size") else None
        return upgraded

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str = "training settings") -> TrainConfig:
        """The config that :meth:`to_json` wrote (or an older version's)."""
        return build_settings(cls, cls.upgrade_settings(data), source)

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")), str(path))
