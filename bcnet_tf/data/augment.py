"""Named augmentation policies built from Keras preprocessing layers.

keras-cv is retired upstream; core Keras 3 has the photometric layers
(``RandomContrast``, ``RandAugment``...). Geometric changes go through
:class:`~bcnet_tf.data.layers.RandomAffine`, which applies rotation, zoom, shift and
flips in one resampling instead of one per layer.

A policy is a ``keras.Sequential`` taking float32 RGB batches in 0..255. Create it
once, outside any ``tf.data`` map function (Keras layers created inside a mapped
function fail with "tf.function only supports singleton tf.Variables");
:func:`~bcnet_tf.data.pipeline.make_dataset` does this for you.

===================  =================================================================
policy               what it does
===================  =================================================================
``none``             nothing
``bcnet``            zoom 0.8-1.2 drawn per axis, bilinear sampling, edge pixels
                     repeated outside the image: study 003 (BCNet)'s
                     ``ImageDataGenerator(zoom_range=0.2)`` (its defaults
                     ``interpolation_order=1``, ``fill_mode="nearest"``), reproduced
``flip_rotate``      horizontal flip, rotation ±10°, zoom ±10 %, shift ±5 %, contrast
                     0.2: the fastai/torchvision sets of studies 000 and 002
``histology``        any rotation, flips on both axes (tissue has no orientation), zoom
                     ±10 %, contrast 0.2
``histology_stain``  ``histology`` + H&E stain jitter (:class:`RandomStainJitter`,
                     Tellez et al. 2019 "HED-light": concentrations x U(0.95, 1.05)
                     + U(-0.05, 0.05))
``randaugment``      horizontal flip + ``RandAugment(num_ops=2, factor=0.5)``
===================  =================================================================
"""

from __future__ import annotations

import keras

from bcnet_tf.data.layers import RandomAffine, RandomStainJitter

POLICIES = ("none", "bcnet", "flip_rotate", "histology", "histology_stain", "randaugment")


def augmentation_policy(
    name: str, seed: int | None = None, dtype: str = "float32"
) -> keras.Sequential | None:
    """Build the named policy (``None`` for ``"none"``). Its layers compute in ``dtype``
    (float32 by default, also under a mixed-precision policy: pixels stay exact).

    Example:
        >>> augment = augmentation_policy("flip_rotate", seed=0)
        >>> [layer.__class__.__name__ for layer in augment.layers]
        ['RandomAffine', 'RandomContrast']
    """
    if name == "none":
        return None
    if name == "bcnet":
        layers = [
            RandomAffine(zoom=(0.2, 0.2), interpolation="bilinear", fill_mode="nearest", seed=seed)
        ]
    elif name == "flip_rotate":
        layers = [
            RandomAffine(
                rotation=10 / 360, zoom=0.1, translation=0.05, horizontal_flip=True, seed=seed
            ),
            keras.layers.RandomContrast(0.2, value_range=(0, 255), seed=seed),
        ]
    elif name in ("histology", "histology_stain"):
        layers = [
            RandomAffine(
                rotation=0.5, zoom=0.1, horizontal_flip=True, vertical_flip=True, seed=seed
            ),
            keras.layers.RandomContrast(0.2, value_range=(0, 255), seed=seed),
        ]
        if name == "histology_stain":
            layers.insert(0, RandomStainJitter(seed=seed))
    elif name == "randaugment":
        layers = [
            RandomAffine(horizontal_flip=True, seed=seed),
            keras.layers.RandAugment(value_range=(0, 255), num_ops=2, factor=0.5, seed=seed),
        ]
    else:
        raise ValueError(f"unknown augmentation policy {name!r}; choose one of {POLICIES}")
    for layer in layers:
        layer.dtype_policy = keras.DTypePolicy(dtype)
    return keras.Sequential(layers, name=f"augment_{name}")
