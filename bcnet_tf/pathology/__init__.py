"""Histopathology: H&E stain normalisation and augmentation, high-resolution tiling.

=====================  ===============================================================
module                 what it holds
=====================  ===============================================================
``stain``              Macenko / Reinhard normalisers (torchstain's numpy backend),
                       fitted on reference images, JSON-serialisable, safe fallback
``tiles``              tissue filter, tile grid, aggregation, stitching (numpy only)
``prepare``            the pipeline's resize in numpy; one decoded image -> its tiles
``settings``           the stain normaliser and tile spec a model file carries
=====================  ===============================================================

The stain augmentation layer is :class:`bcnet_tf.data.layers.RandomStainJitter` (policy
``histology_stain``); the tile training pipeline is ``make_dataset(..., tiles=...)``;
tile-mode prediction and the stitched Grad-CAM are in :mod:`bcnet_tf.explain.tiled`.
No module here imports TensorFlow (the edge predictor uses them).
"""

from bcnet_tf.pathology.stain import StainNormalizer, StainWarning
from bcnet_tf.pathology.tiles import TileSpec, TissueWarning

__all__ = ["StainNormalizer", "StainWarning", "TileSpec", "TissueWarning"]
