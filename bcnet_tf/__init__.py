"""bcnet_tf: transfer-learning classifiers for breast-cancer medical images.

The package reads as the pipeline it implements, in layers (:data:`PIPELINE`); a
module imports only from its own layer or the layers above it in this list::

    errors, io, console, settings   support: one-line errors, atomic writes, terminal
    bcnet_tf.pathology   H&E stain normalisation, tissue tiles, preparing one image (numpy)
    bcnet_tf.data        folder of images -> records -> leak-free splits -> tf.data batches
    bcnet_tf.edge        TensorFlow-free prediction from a bundle (LiteRT)
    bcnet_tf.batch       the edge predictor on Apache Beam: batch prediction at scale
    bcnet_tf.models      the studies' architectures behind one factory, with weights
    bcnet_tf.training    resumable runs: schedules, stop-at-threshold, mixed precision;
                         the run directory
    bcnet_tf.explain     Grad-CAM (tiled too) and occlusion sensitivity
    bcnet_tf.evaluation  metrics with patient-level CIs, calibration, figures, report
    bcnet_tf.export      verified bundles: .keras, SavedModel, TFLite float/int8
    app, cli             the demo app and the command line

The edge predictor sits low because it needs only decoding and ``pathology`` (so it
stays TensorFlow-free); ``batch`` sits just above it for the same reason: its Beam
workers run the edge predictor and never import TensorFlow. ``export`` writes and
checks the bundles both read.
``tests/test_architecture.py`` checks every import against this order.

Installs: ``bcnet_tf[train]`` for everything but the edge predictor,
``bcnet_tf[edge]`` for the edge predictor alone, ``bcnet_tf[batch]`` for batch
prediction on Apache Beam.

Public names and the sub-packages are imported lazily, so ``import bcnet_tf`` stays
cheap and never imports TensorFlow until a function that needs it is used.
``bcnet_tf.explain`` and ``bcnet_tf.export`` are the sub-packages; their main
functions are ``bcnet_tf.explain_images`` and ``bcnet_tf.export_bundle``.

Example:
    >>> import bcnet_tf
    >>> index = bcnet_tf.discover("path/to/busi")          # doctest: +SKIP
    >>> split = bcnet_tf.split_dataset(index, seed=0)       # doctest: +SKIP
    >>> train_ds = bcnet_tf.make_dataset(split.records("train"), index.class_names,
    ...                                  image_size=224, training=True)  # doctest: +SKIP
    >>> model = bcnet_tf.build_model("bcnet_vgg16", len(index.class_names),
    ...                              weights="imagenet")     # doctest: +SKIP
    >>> bcnet_tf.export_bundle("saved_models/run", out="bundle")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

from bcnet_tf.errors import missing_extra_hint

__version__ = "0.1.0"

#: The layers, lowest first (``""`` is this module); see the module docstring.
PIPELINE: tuple[tuple[str, ...], ...] = (
    ("", "errors", "io", "console", "settings"),
    ("pathology",),
    ("data",),
    ("edge",),
    ("batch",),
    ("models",),
    ("training",),
    ("explain",),
    ("evaluation",),
    ("export",),
    ("app", "cli"),
)

#: Public name -> ``"module"`` (same attribute name) or ``"module:attribute"``.
_LAZY_EXPORTS = {
    "discover": "bcnet_tf.data.layouts",
    "DatasetIndex": "bcnet_tf.data.records",
    "ImageRecord": "bcnet_tf.data.records",
    "inspect_dataset": "bcnet_tf.data.inspection",
    "split_dataset": "bcnet_tf.data.splits",
    "kfold_splits": "bcnet_tf.data.splits",
    "Split": "bcnet_tf.data.splits",
    "make_dataset": "bcnet_tf.data.pipeline",
    "class_weights": "bcnet_tf.data.pipeline",
    "augmentation_policy": "bcnet_tf.data.augment",
    "synthetic_dataset": "bcnet_tf.data.synthetic",
    "build_model": "bcnet_tf.models",
    "list_models": "bcnet_tf.models",
    "HeadConfig": "bcnet_tf.models",
    "load_model": "bcnet_tf.models",
    "save_model": "bcnet_tf.models",
    "TrainConfig": "bcnet_tf.training",
    "train": "bcnet_tf.training",
    "cross_validate": "bcnet_tf.training",
    "cross_validation_report": "bcnet_tf.evaluation",
    "evaluate": "bcnet_tf.evaluation",
    "explain_images": "bcnet_tf.explain:explain",
    "export_bundle": "bcnet_tf.export:export",
    "Predictor": "bcnet_tf.edge",
}

_SUBPACKAGES = (
    "data",
    "pathology",
    "models",
    "training",
    "evaluation",
    "explain",
    "export",
    "edge",
    "batch",
)

__all__ = ["__version__", *_LAZY_EXPORTS]


def _import(module: str, name: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        hint = missing_extra_hint(error)
        if hint is None:
            raise
        raise ModuleNotFoundError(f"bcnet_tf.{name} needs it: {hint}", name=error.name) from None


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return _import(f"bcnet_tf.{name}", name)
    if name in _LAZY_EXPORTS:
        module, _, attribute = _LAZY_EXPORTS[name].partition(":")
        return getattr(_import(module, name), attribute or name)
    raise AttributeError(f"module 'bcnet_tf' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY_EXPORTS, *_SUBPACKAGES])
