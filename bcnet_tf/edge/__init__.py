"""Point-of-care prediction from an exported bundle, without TensorFlow.

=============  ====================================================================
module         concept
=============  ====================================================================
``runtime``    ``TFLiteModel``: LiteRT interpreter, quantised input/outputs handled
``guard``      ``InputGuard``: image checks + feature score -> in distribution or not
``predictor``  ``Predictor``: bundle + image files -> top-k classes (optional TTA)
               and the input guard's ``Verdict``
``benchmark``  ``benchmark_bundle``: time a bundle's files here, recommend the
               fastest verified one
=============  ====================================================================

Needs only ``pip install bcnet_tf[edge]``: ai-edge-litert, numpy, Pillow.

Example:
    >>> from bcnet_tf.edge import Predictor
    >>> Predictor("saved_models/run-bundle").predict(["scan.png"])  # doctest: +SKIP
"""

from bcnet_tf.edge.benchmark import BenchmarkSettings, benchmark_bundle
from bcnet_tf.edge.guard import FeatureGuard, InputGuard, Verdict
from bcnet_tf.edge.predictor import Prediction, Predictor
from bcnet_tf.edge.runtime import TFLiteModel

__all__ = [
    "BenchmarkSettings",
    "FeatureGuard",
    "InputGuard",
    "Prediction",
    "Predictor",
    "TFLiteModel",
    "Verdict",
    "benchmark_bundle",
]
