"""Basic-block ResNets rebuilt in Keras: ResNet18/34 in torchvision's exact layout
(studies 000 and 002), and the small from-scratch ResNet9 (study 001).

Layer names follow torchvision's module names with ``.`` -> ``_`` (``layer1.0.conv1``
-> ``layer1_0_conv1``), so torchvision state dicts load by name. Padding is explicit
(``ZeroPadding2D`` + ``valid``), as PyTorch pads, so converted weights give the same
numbers; BatchNorm uses PyTorch's epsilon 1e-5 and momentum 0.1.

References:
    He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", CVPR 2016,
    doi:10.1109/CVPR.2016.90.

    Subaar et al., "Investigating the detection of breast cancer with deep transfer
    learning using ResNet18 and ResNet34", Biomed. Phys. Eng. Express 10 035029, 2024
    (study 000).

    Achyuthanwesh et al., "Breast cancer detection and recognition by using deep learning
    techniques - ultrasound images" (study 001).

    Olalekan, Emmanuel, Umar & Oluwatosin, "Cancer Detection and Classification through
    Transfer Learning with ResNet18-Based Convolutional Neural Network" (study 002).
"""

from __future__ import annotations

from typing import Any

import keras

from bcnet_tf.models.registry import HeadConfig, register_model

layers = keras.layers


def _conv_bn(x: Any, filters: int, kernel: int, stride: int, conv: str, bn: str) -> Any:
    if kernel > 1:
        x = layers.ZeroPadding2D(kernel // 2, name=f"{conv}_pad")(x)
    x = layers.Conv2D(filters, kernel, strides=stride, use_bias=False, name=conv)(x)
    return layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=bn)(x)


def _basic_block(x: Any, filters: int, stride: int, name: str) -> Any:
    shortcut = x
    out = _conv_bn(x, filters, 3, stride, f"{name}_conv1", f"{name}_bn1")
    out = layers.ReLU(name=f"{name}_relu1")(out)
    out = _conv_bn(out, filters, 3, 1, f"{name}_conv2", f"{name}_bn2")
    if stride != 1 or x.shape[-1] != filters:
        shortcut = _conv_bn(x, filters, 1, stride, f"{name}_downsample_0", f"{name}_downsample_1")
    out = layers.Add(name=f"{name}_add")([out, shortcut])
    return layers.ReLU(name=f"{name}_out")(out)


_TORCHVISION_STAGES = (("conv1", "bn1"), *((f"layer{i}",) for i in range(1, 5)))


def _torchvision_resnet(x: Any, blocks: tuple[int, int, int, int]) -> Any:
    x = _conv_bn(x, 64, 7, 2, "conv1", "bn1")
    x = layers.ReLU(name="relu")(x)
    x = layers.ZeroPadding2D(1, name="maxpool_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="maxpool")(x)
    for stage, (count, filters) in enumerate(zip(blocks, (64, 128, 256, 512), strict=True), 1):
        for block in range(count):
            stride = 2 if stage > 1 and block == 0 else 1
            x = _basic_block(x, filters, stride, f"layer{stage}_{block}")
    return x


_TORCH_HEAD = HeadConfig()


@register_model(
    "resnet18",
    default_size=128,
    preprocessing="torch",
    stages=_TORCHVISION_STAGES,
    study="000 (Subaar et al. 2024) mammography, 4 classes; 002 (Olalekan et al.) multi-cancer",
    description="ResNet18, torchvision layout + GAP + softmax",
    head=_TORCH_HEAD,
    imagenet="resnet18",
)
def resnet18(x: Any) -> Any:
    return _torchvision_resnet(x, (2, 2, 2, 2))


@register_model(
    "resnet34",
    default_size=128,
    preprocessing="torch",
    stages=_TORCHVISION_STAGES,
    study="000 (Subaar et al. 2024) mammography, 4 classes",
    description="ResNet34, torchvision layout + GAP + softmax",
    head=_TORCH_HEAD,
    imagenet="resnet34",
)
def resnet34(x: Any) -> Any:
    return _torchvision_resnet(x, (3, 4, 6, 3))


def _conv_block(x: Any, filters: int, name: str, pool: bool = False) -> Any:
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"{name}_bn")(x)
    x = layers.ReLU(name=f"{name}_relu")(x)
    return layers.MaxPooling2D(2, name=f"{name}_pool")(x) if pool else x


def _residual(x: Any, filters: int, name: str) -> Any:
    out = _conv_block(x, filters, f"{name}_a")
    out = _conv_block(out, filters, f"{name}_b")
    return layers.Add(name=f"{name}_add")([x, out])


@register_model(
    "resnet9",
    default_size=64,
    preprocessing="unit",
    stages=tuple((name,) for name in ("prep", "layer1", "res1", "layer2", "layer3", "res2")),
    study="001 (Achyuthanwesh et al.) BUSI ultrasound, 3 classes, from scratch",
    description="ResNet9 (prep 64, 128+pool, res 128, 256+pool, 512+pool, res 512) "
    "+ global max pool + dropout 0.2 + softmax",
    head=HeadConfig(feature_dropout=0.2, pooling="max"),
)
def resnet9(x: Any) -> Any:
    x = _conv_block(x, 64, "prep")
    x = _conv_block(x, 128, "layer1", pool=True)
    x = _residual(x, 128, "res1")
    x = _conv_block(x, 256, "layer2", pool=True)
    x = _conv_block(x, 512, "layer3", pool=True)
    return _residual(x, 512, "res2")
