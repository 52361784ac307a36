"""Point-of-care prediction from an exported bundle, without TensorFlow.

=============  ====================================================================
module         concept
=============  ====================================================================
``runtime``    ``TFLiteModel``: LiteRT interpreter, quantised input/output handled
``predictor``  ``Predictor``: bundle + image files -> top-k classes (optional TTA)
=============  ====================================================================

Needs only ``pip install bcnet_tf[edge]``: ai-edge-litert, numpy, Pillow.

Example:
    >>> from bcnet_tf.edge import Predictor
    >>> Predictor("saved_models/run-bundle").predict(["scan.png"])  # doctest: +SKIP
"""

from bcnet_tf.edge.predictor import Prediction, Predictor
from bcnet_tf.edge.runtime import TFLiteModel

__all__ = ["Prediction", "Predictor", "TFLiteModel"]
