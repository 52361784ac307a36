"""The run directory: where a run's files live, and reading and writing them.

A run directory holds::

    config.json          the resolved TrainConfig (a different config refuses to resume)
    split.json           the leak-free split, made once and reused on resume
    stain.json           the fitted stain normaliser, when the run uses one
    lr_find.json/.png    the learning-rate range test and its suggestion (``find_lr``)
    state.json           completed phases, best value, why training stopped
    history.csv          one row per epoch, every phase
    tensorboard/         TensorBoard logs
    checkpoints/         best.keras, last.keras (deployable models), phase<i>.weights.h5
    backup/phase<i>/     Keras BackupAndRestore state while a phase runs
    features/            cached backbone features of the frozen-backbone fast path
    evaluation-<part>/   what ``evaluate`` wrote for one split part

Training writes it; evaluation and export read it through :func:`resolve_source`.

Example:
    >>> run = RunDir(Path("saved_models/resnet9-busi_256"))
    >>> run.best.as_posix()
    'saved_models/resnet9-busi_256/checkpoints/best.keras'
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bcnet_tf.data.layouts import discover
from bcnet_tf.data.records import DatasetIndex, ImageRecord
from bcnet_tf.data.splits import Split
from bcnet_tf.data.synthetic import synthetic_dataset
from bcnet_tf.errors import BcnetError
from bcnet_tf.io import atomic_write_json
from bcnet_tf.models.saving import read_info
from bcnet_tf.pathology.settings import from_model_extra
from bcnet_tf.pathology.stain import StainNormalizer
from bcnet_tf.training.config import TrainConfig
from bcnet_tf.training.lr_find import LRFinderResult

BEST_MODEL = "best.keras"
LAST_MODEL = "last.keras"
#: The attention-MIL head of a whole-slide run, beside the best checkpoint.
MIL_FILE = "attention_mil.keras"


@dataclass(frozen=True)
class RunDir:
    """The files of the run in ``path``. A reader only (``writer=False``, a worker of a
    multi-worker run other than the chief) reads them and never writes."""

    path: Path
    writer: bool = True

    @property
    def config(self) -> Path:
        return self.path / "config.json"

    @property
    def split(self) -> Path:
        return self.path / "split.json"

    @property
    def stain(self) -> Path:
        return self.path / "stain.json"

    @property
    def lr_find(self) -> Path:
        return self.path / "lr_find.json"

    @property
    def lr_find_plot(self) -> Path:
        return self.path / "lr_find.png"

    @property
    def state(self) -> Path:
        return self.path / "state.json"

    @property
    def history(self) -> Path:
        return self.path / "history.csv"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def best(self) -> Path:
        return self.checkpoints / BEST_MODEL

    @property
    def last(self) -> Path:
        return self.checkpoints / LAST_MODEL

    @property
    def mil(self) -> Path:
        """The attention-MIL head of a whole-slide run (``attention`` aggregation)."""
        return self.checkpoints / MIL_FILE

    def phase_weights(self, phase: int) -> Path:
        return self.checkpoints / f"phase{phase}.weights.h5"

    def backup(self, phase: int) -> Path:
        return self.path / "backup" / f"phase{phase}"

    def features(self, model_name: str) -> Path:
        return self.path / "features" / f"{model_name}.npz"

    def evaluation(self, part: str) -> Path:
        return self.path / f"evaluation-{part}"

    def is_run(self) -> bool:
        """Whether a run was started here (it has its ``config.json``)."""
        return self.config.exists()

    def read_config(self) -> TrainConfig:
        return TrainConfig.load(self.config)

    def read_trained_config(self) -> TrainConfig:
        """The settings the run trained with: ``config.json``'s, with the learning rate
        its range test found (``find_lr``) in place of the configured one."""
        config = self.read_config()
        found = self.read_lr_find() if config.find_lr else None
        return replace(config, learning_rate=found.suggestion) if found else config

    def write_config(self, config: TrainConfig) -> None:
        if self.writer:
            atomic_write_json(self.config, config.to_json())

    def read_split(self, index: DatasetIndex) -> Split:
        return Split.load(self.split, index)

    def write_split(self, split: Split, index: DatasetIndex) -> None:
        if self.writer:
            split.save(self.split, index.root)

    def read_stain(self) -> StainNormalizer | None:
        """The saved stain normaliser, or ``None`` before one is saved."""
        if not self.stain.exists():
            return None
        return StainNormalizer.from_json(json.loads(self.stain.read_text(encoding="utf-8")))

    def write_stain(self, stain: StainNormalizer) -> None:
        if self.writer:
            atomic_write_json(self.stain, stain.to_json())

    def read_lr_find(self) -> LRFinderResult | None:
        """The saved range test, or ``None`` before one is saved."""
        if not self.lr_find.exists():
            return None
        return LRFinderResult.from_json(json.loads(self.lr_find.read_text(encoding="utf-8")))

    def write_lr_find(self, result: LRFinderResult) -> None:
        """Save the range test (``lr_find.json``) and its curve (``lr_find.png``)."""
        if self.writer:
            result.plot(self.lr_find_plot)
            atomic_write_json(self.lr_find, result.to_json())

    def read_history(self) -> list[dict[str, float]]:
        """``history.csv`` as one dict per epoch (empty before the first epoch ends)."""
        if not self.history.exists():
            return []
        with self.history.open(newline="") as handle:
            return [
                {key: float(value) for key, value in row.items()} for row in csv.DictReader(handle)
            ]

    def read_state(self) -> dict[str, Any]:
        """Completed phases, best value, why training stopped (nothing done yet: no
        completed phase)."""
        if not self.state.exists():
            return {"completed": []}
        return json.loads(self.state.read_text(encoding="utf-8"))

    def write_state(self, state: dict[str, Any]) -> None:
        if self.writer:
            atomic_write_json(self.state, state)


@dataclass
class ModelSource:
    """A model file, the dataset it is used on, the records of one part, and where
    outputs go; for a run, also its directory, config and split."""

    model_path: Path
    index: DatasetIndex
    records: list[ImageRecord]
    part: str
    out_dir: Path
    run_dir: Path | None = None
    config: TrainConfig | None = None
    split: Split | None = None


def resolve_source(source: Path, data: str | None, part: str, out: str | None) -> ModelSource:
    """Resolve a run directory or a ``.keras`` file (with ``data``) for part ``part``;
    ``out`` defaults to ``<run>/evaluation-<part>`` or ``evaluation-<data>`` beside the
    model file.

    Example:
        >>> resolve_source(Path("saved_models/run"), None, "test", None).model_path
        ... # doctest: +SKIP
        PosixPath('saved_models/run/checkpoints/best.keras')
    """
    run = RunDir(source)
    if run.is_run():
        config = run.read_trained_config()
        index = discover(
            data or config.data or synthetic_dataset(),
            config.layout,
            label_by=config.label_by,
            magnification=config.magnification,
            slides=config.slides,
        )
        split = run.read_split(index)
        if part not in split.parts:
            raise BcnetError(f"split part must be one of {sorted(split.parts)}, not {part!r}")
        if not split.parts[part]:
            raise BcnetError(f"the run's {part!r} part is empty (made with {part}=0?).")
        out_dir = Path(out) if out else run.evaluation(part)
        return ModelSource(run.best, index, split.parts[part], part, out_dir, source, config, split)
    if source.suffix != ".keras":
        raise BcnetError(
            f"{source} is neither a run directory (with config.json) nor a .keras file."
        )
    if data is None:
        raise BcnetError(f"evaluating a model file needs a dataset: --data DIR ({source}).")
    _, tiles = from_model_extra(read_info(source).extra)
    index = discover(data, slides=tiles is not None and tiles.whole_slide)
    out_dir = Path(out) if out else source.parent / f"evaluation-{Path(data).name}"
    return ModelSource(source, index, index.records, "all", out_dir)
