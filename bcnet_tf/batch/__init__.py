"""Batch prediction on Apache Beam: a bundle's TFLite model over millions of images.

=============  ====================================================================
module         concept
=============  ====================================================================
``handler``    ``BundleModelHandler``: the edge predictor behind ``RunInference``;
               ``BundleModel``: the bundle's model file, checksum, table columns
``pipeline``   ``predict_batch``: paths -> RunInference -> CSV, Parquet, dead letter
=============  ====================================================================

Needs ``pip install bcnet_tf[batch]`` (Apache Beam and the edge predictor's LiteRT);
the workers never import TensorFlow. The names below are imported on first use, so
this package imports without Beam installed.

Example:
    >>> from bcnet_tf.batch import predict_batch  # doctest: +SKIP
    >>> predict_batch("bundle", "scans/manifest.csv", "predictions/")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BundleModel": "handler",
    "BundleModelHandler": "handler",
    "Unreadable": "handler",
    "BatchResult": "pipeline",
    "ReadPaths": "pipeline",
    "pipeline_options": "pipeline",
    "predict_batch": "pipeline",
}

__all__ = [
    "BatchResult",
    "BundleModel",
    "BundleModelHandler",
    "ReadPaths",
    "Unreadable",
    "pipeline_options",
    "predict_batch",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'bcnet_tf.batch' has no attribute {name!r}")
    return getattr(importlib.import_module(f"bcnet_tf.batch.{_EXPORTS[name]}"), name)
