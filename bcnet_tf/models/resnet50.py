"""ResNet50 with lightweight channel attention (study 004, Liu & Achutha), and the
plain ResNet50 baseline of the study's comparison table.

Keras' ResNet50 is ResNet v1 (stride in the first 1x1 convolution); torchvision's,
which the study used, is v1.5 (stride in the 3x3). The ImageNet weights are Keras'.

References:
    He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", CVPR 2016,
    doi:10.1109/CVPR.2016.90.

    Liu & Achutha, "Enhancing Breast Cancer Classification Using Transfer ResNet with
    Lightweight Attention Mechanism" (study 004).

    Spanhol et al., "A Dataset for Breast Cancer Histopathological Image Classification",
    IEEE Trans. Biomed. Eng. 63(7), 2016, doi:10.1109/TBME.2015.2496264 (BreakHis).
"""

from __future__ import annotations

from typing import Any

import keras

from bcnet_tf.models.layers import ChannelAttention
from bcnet_tf.models.registry import HeadConfig, register_model

_STAGES = tuple((f"conv{i}",) for i in range(1, 6))


def _resnet50_base(x: Any) -> Any:
    return keras.applications.ResNet50(include_top=False, weights=None, input_tensor=x).output


@register_model(
    "resnet50",
    default_size=224,
    preprocessing="caffe",
    stages=_STAGES,
    study="004 baseline (Liu & Achutha), BreakHis benign/malignant",
    description="Keras ResNet50 (v1) + GAP + softmax",
    imagenet="resnet50",
)
def resnet50(x: Any) -> Any:
    return _resnet50_base(x)


@register_model(
    "resnet50_attention",
    default_size=224,
    preprocessing="caffe",
    stages=_STAGES,
    study="004 (Liu & Achutha), BreakHis benign/malignant per magnification",
    description="ResNet50 + channel attention after the last stage + "
    "FC LeakyReLU -> FC ReLU (dropout 0.25) + softmax",
    head=HeadConfig(hidden=(512, 256), activations=("leaky_relu", "relu"), dropout=0.25),
    imagenet="resnet50",
)
def resnet50_attention(x: Any) -> Any:
    return ChannelAttention(reduction=16, name="layer4_attention")(_resnet50_base(x))
