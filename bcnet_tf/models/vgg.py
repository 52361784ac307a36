"""BCNet (study 003, Zavareh et al.): frozen VGG16 + GAP + Dense 1024 x2 + softmax.

References:
    Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
    Recognition", ICLR 2015, arXiv:1409.1556.

    Zavareh, Safayari & Bolhasani, "BCNet: A Deep Convolutional Neural Network for
    Breast Cancer Grading" (study 003).
"""

from __future__ import annotations

from typing import Any

import keras

from bcnet_tf.models.registry import HeadConfig, register_model


@register_model(
    "bcnet_vgg16",
    default_size=224,
    preprocessing="caffe",
    stages=tuple((f"block{i}",) for i in range(1, 6)),
    study="003 BCNet (Zavareh et al.), Databiox IDC grades I-III",
    description="VGG16 conv base (frozen) + GAP + Dense 1024 ReLU x2 + softmax",
    head=HeadConfig(hidden=(1024, 1024), activations=("relu", "relu")),
    default_freeze="all",
    imagenet="vgg16",
)
def bcnet_vgg16(x: Any) -> Any:
    """Keras' VGG16 conv base, called on ``x`` so its layers stay flat in the model."""
    return keras.applications.VGG16(include_top=False, weights=None, input_tensor=x).output
