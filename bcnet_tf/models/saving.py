"""Saved models that carry their label list: ``save_model`` / ``load_model``.

A ``.keras`` file is a zip; bcnet_tf adds one entry, ``bcnet_tf.json``, holding the
:class:`ModelInfo` (class names in output order, architecture, input size). Keras
ignores the entry, so the file stays a plain Keras model, and every bcnet_tf command
that loads it gets the label order from the model itself, never from a folder listing.

Loading keeps Keras' ``safe_mode``: a file with a Python ``Lambda`` layer is refused
unless the caller trusts it explicitly (``trust=True``, CLI ``--trust``).
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import keras

from bcnet_tf.errors import BcnetError

INFO_ENTRY = "bcnet_tf.json"


@dataclass(frozen=True)
class ModelInfo:
    """What a saved model needs beyond its weights to be used correctly.

    Attributes:
        class_names: output ``i`` is ``class_names[i]``.
        architecture: registered model name (``bcnet-tf models``).
        image_size: ``(height, width)`` the model takes; raw RGB 0..255 pixels.
        extra: anything else a pipeline step must repeat at prediction time.
    """

    class_names: tuple[str, ...]
    architecture: str
    image_size: tuple[int, int]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelInfo:
        return cls(
            tuple(data["class_names"]),
            data["architecture"],
            (int(data["image_size"][0]), int(data["image_size"][1])),
            dict(data.get("extra", {})),
        )


def save_model(model: keras.Model, path: str | os.PathLike[str], info: ModelInfo) -> Path:
    """Save ``model`` with ``info`` as a ``.keras`` file, atomically, without optimizer
    state (resuming training uses the run's backup, not this file).

    Example:
        >>> save_model(model, "best.keras",
        ...            ModelInfo(("benign", "malignant"), "resnet18", (224, 224)))  # doctest: +SKIP
    """
    path = Path(path)
    if len(info.class_names) != model.output_shape[-1]:
        raise BcnetError(
            f"{len(info.class_names)} class names for a model with "
            f"{model.output_shape[-1]} outputs; they must match one to one."
        )
    if getattr(model, "optimizer", None) is not None:
        model = _without_optimizer(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".keras", dir=path.parent)
    os.close(handle)
    try:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as archive:
            archive.writestr(INFO_ENTRY, json.dumps(info.to_json(), indent=2))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _without_optimizer(model: keras.Model) -> keras.Model:
    """The same layers in a new, uncompiled functional model: the saved file then holds
    no optimizer state (Adam's would triple it; deployment never needs it)."""
    return keras.Model(model.inputs, model.outputs, name=model.name)


def read_info(path: str | os.PathLike[str]) -> ModelInfo:
    """The :class:`ModelInfo` inside a ``.keras`` file, without loading the model."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            return ModelInfo.from_json(json.loads(archive.read(INFO_ENTRY)))
    except FileNotFoundError:
        raise BcnetError(
            f"no model file at {path}. Fix: pass a run directory or its checkpoints/best.keras."
        ) from None
    except zipfile.BadZipFile:
        raise BcnetError(f"{path} is not a .keras model file (not a zip archive)") from None
    except KeyError:
        raise BcnetError(
            f"{path} has no bcnet_tf label list ({INFO_ENTRY}): its class order is unknown. "
            "Fix: use a model saved by bcnet_tf (a run's checkpoints/best.keras), or "
            "re-save it with bcnet_tf.models.save_model(model, path, ModelInfo(...))."
        ) from None


def load_model(
    path: str | os.PathLike[str], *, trust: bool = False
) -> tuple[keras.Model, ModelInfo]:
    """Load a bcnet_tf ``.keras`` file: the model and its :class:`ModelInfo`.

    Args:
        path: a ``.keras`` file saved by :func:`save_model` (e.g. a run's ``best.keras``).
        trust: allow Python code stored in the file (``Lambda`` layers). Only for files
            you made or trust: loading runs that code.

    Raises:
        BcnetError: not a bcnet_tf model, or it holds code and ``trust`` is off.

    Example:
        >>> model, info = load_model("saved_models/run/checkpoints/best.keras")  # doctest: +SKIP
        >>> info.class_names                                                     # doctest: +SKIP
        ('benign', 'malignant', 'normal')
    """
    info = read_info(path)
    try:
        model = keras.saving.load_model(path, safe_mode=not trust)
    except ValueError as error:
        if "safe_mode" not in str(error):
            raise
        raise BcnetError(
            f"{path} contains Python code (a Lambda layer); Keras' safe mode refuses to run "
            "it. Fix: only if you trust where the file came from, pass trust=True "
            "(CLI: --trust)."
        ) from None
    return model, info
