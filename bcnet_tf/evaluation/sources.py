"""What a command works on: a run directory (its best model, data and split) or a
``.keras`` file with a dataset folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bcnet_tf.data.layouts import discover
from bcnet_tf.data.records import DatasetIndex, ImageRecord
from bcnet_tf.data.splits import Split
from bcnet_tf.data.synthetic import synthetic_dataset
from bcnet_tf.errors import BcnetError
from bcnet_tf.training.config import TrainConfig


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
    model file."""
    if (source / "config.json").exists():
        config = TrainConfig.load(source / "config.json")
        index = discover(
            data or config.data or synthetic_dataset(),
            config.layout,
            label_by=config.label_by,
            magnification=config.magnification,
        )
        split = Split.load(source / "split.json", index)
        if part not in split.parts:
            raise BcnetError(f"split part must be one of {sorted(split.parts)}, not {part!r}")
        if not split.parts[part]:
            raise BcnetError(f"the run's {part!r} part is empty (made with {part}=0?).")
        model_path = source / "checkpoints" / "best.keras"
        out_dir = Path(out) if out else source / f"evaluation-{part}"
        return ModelSource(
            model_path, index, split.parts[part], part, out_dir, source, config, split
        )
    if source.suffix != ".keras":
        raise BcnetError(
            f"{source} is neither a run directory (with config.json) nor a .keras file."
        )
    if data is None:
        raise BcnetError(f"evaluating a model file needs a dataset: --data DIR ({source}).")
    index = discover(data)
    out_dir = Path(out) if out else source.parent / f"evaluation-{Path(data).name}"
    return ModelSource(source, index, index.records, "all", out_dir)
