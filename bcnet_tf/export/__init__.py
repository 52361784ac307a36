"""Export: verified, self-describing bundles for deployment.

===============  ======================================================================
module           concept
===============  ======================================================================
``convert``      lean SavedModel, TFLite float32 / float16 / dynamic / int8
``equalize``     ReLU channels rescaled to even activation ranges before int8 conversion
``bias``         biases corrected for each channel's mean int8 error before int8 conversion
``activations``  hard-swish spelled out so that XNNPACK runs it in int8
``guard``        fitting the input guard: class means, shrunk covariance, threshold
``card``         the model card
``bundle``       ``export``: artifacts verified against Keras, atomic bundle, checksums
===============  ======================================================================

Example:
    >>> from bcnet_tf.export import export
    >>> export("saved_models/resnet18-busi_256").recommended  # doctest: +SKIP
    'model_int8.tflite'
"""

from bcnet_tf.export.bundle import ExportError, ExportResult, export
from bcnet_tf.export.convert import tflite_model, write_saved_model
from bcnet_tf.export.guard import acceptance_threshold, fit_feature_guard

__all__ = [
    "ExportError",
    "ExportResult",
    "acceptance_threshold",
    "export",
    "fit_feature_guard",
    "tflite_model",
    "write_saved_model",
]
