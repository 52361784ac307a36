"""Data layer: from a folder of medical images to ``tf.data`` batches.

===================  ============================================================
module               concept
===================  ============================================================
``files``            which files are samples (skip rules), image header probe
``decode``           any supported format -> RGB uint8 (Pillow reference decoder)
``checks``           cheap image checks: blank, saturated, too small, colour mode
``records``          ``ImageRecord`` and ``DatasetIndex``
``layouts``          ``discover()``: folders, BreakHis, Databiox, CSV manifest, auto
``duplicates``       exact and perceptual-hash near-duplicate groups
``inspection``       ``inspect_dataset()``: counts, sizes, problems
``splits``           patient/duplicate-grouped stratified splits, k-fold, JSON
``layers``           ``RandomAffine`` preprocessing layer
``augment``          named augmentation policies
``images``           one image in the graph: decode, resize, stain-normalise
``tiles``            tile mode: tile source, random and grid crops, ``load_tiles()``
``pipeline``         ``make_dataset()``, ``class_weights()``, ``load_files()``
``synthetic``        the embedded synthetic IDC-grade dataset
===================  ============================================================

Only ``images``, ``tiles``, ``pipeline``, ``layers`` and ``augment`` import
TensorFlow/Keras.
"""
