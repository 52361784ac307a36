"""SqueezeNet v1.1 (Iandola et al. 2016): a 1.2 M-parameter backbone for point-of-care
devices. Layer names are the published Keras port's with ``/`` -> ``_`` (Keras 3 refuses
``/`` in names), so its ImageNet weights file loads by name.

References:
    Iandola et al., "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and
    <0.5MB model size", arXiv:1602.07360, 2016.
"""

from __future__ import annotations

from typing import Any

import keras

from bcnet_tf.models.registry import HeadConfig, register_model

layers = keras.layers
_FIRES = {
    2: (16, 64),
    3: (16, 64),
    4: (32, 128),
    5: (32, 128),
    6: (48, 192),
    7: (48, 192),
    8: (64, 256),
    9: (64, 256),
}


def _fire(x: Any, index: int) -> Any:
    squeeze, expand = _FIRES[index]
    name = f"fire{index}"
    x = layers.Conv2D(squeeze, 1, activation="relu", name=f"{name}_squeeze1x1")(x)
    left = layers.Conv2D(expand, 1, activation="relu", name=f"{name}_expand1x1")(x)
    right = layers.Conv2D(expand, 3, padding="same", activation="relu", name=f"{name}_expand3x3")(x)
    return layers.Concatenate(name=f"{name}_concat")([left, right])


@register_model(
    "squeezenet",
    default_size=227,
    preprocessing="caffe",
    stages=(("conv1",), *((f"fire{i}",) for i in range(2, 10))),
    study="point-of-care backbone (SqueezeNet v1.1, Iandola et al. 2016)",
    description="SqueezeNet v1.1 conv base (frozen) + GAP + dropout 0.2 + softmax",
    head=HeadConfig(feature_dropout=0.2),
    default_freeze="all",
    imagenet="squeezenet",
)
def squeezenet(x: Any) -> Any:
    x = layers.Conv2D(64, 3, strides=2, activation="relu", name="conv1")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for index in range(2, 10):
        x = _fire(x, index)
        if index in (3, 5):
            x = layers.MaxPooling2D(3, strides=2, name=f"pool{index}")(x)
    return x
