"""Explanations: where a model looks.

=================  ================================================================
module             concept
=================  ================================================================
``gradcam``        Grad-CAM with the feature layer chosen for every zoo model
``occlusion``      occlusion sensitivity (model-agnostic check on Grad-CAM)
``overlay``        heat map over image, PNG output
``tiled``          tile-mode prediction of an image, Grad-CAM stitched from its tiles
``slides``         slide prediction from tissue tiles, heat maps over the thumbnail
``explain``        ``explain``: overlays for image files (or slides) from a saved model
=================  ================================================================

Example:
    >>> from bcnet_tf.explain import explain
    >>> explain("best.keras", ["scan.png"], "explained")  # doctest: +SKIP
"""

from bcnet_tf.explain.explain import METHODS, explain
from bcnet_tf.explain.gradcam import grad_cam, gradcam_layer
from bcnet_tf.explain.occlusion import occlusion_sensitivity
from bcnet_tf.explain.overlay import overlay
from bcnet_tf.explain.tiled import TiledPrediction, predict_tiled, tiled_grad_cam

__all__ = [
    "METHODS",
    "TiledPrediction",
    "explain",
    "grad_cam",
    "gradcam_layer",
    "occlusion_sensitivity",
    "overlay",
    "predict_tiled",
    "tiled_grad_cam",
]
