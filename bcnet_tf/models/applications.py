"""Backbones from ``keras.applications`` that users expect: the point-of-care
MobileNetV3-Small/-Large and EfficientNetV2-B0, DenseNet121 (the most used backbone
in medical imaging) and ConvNeXt-Tiny.

Each is Keras' own architecture called on the preprocessed input, so its layers stay
flat in the model and keep Keras' names: the ImageNet files Keras publishes
(``include_top=False``) load by layer name. Keras' built-in input scaling is left out
(``include_preprocessing=False``); :mod:`bcnet_tf.models.preprocessing` does the same
inside the model (``tf`` for the MobileNets, ``torch`` for the others).

References:
    Howard et al., "Searching for MobileNetV3", ICCV 2019, arXiv:1905.02244.

    Tan & Le, "EfficientNetV2: Smaller Models and Faster Training", ICML 2021,
    arXiv:2104.00298.

    Huang et al., "Densely Connected Convolutional Networks", CVPR 2017,
    arXiv:1608.06993.

    Liu et al., "A ConvNet for the 2020s", CVPR 2022, arXiv:2201.03545.
"""

from __future__ import annotations

from typing import Any

import keras

from bcnet_tf.models.registry import HeadConfig, register_model

_POINT_OF_CARE = "point-of-care backbone"
#: Batch-norm momentum of the MobileNetV3s: PyTorch's default (0.1 in its convention).
#: Keras' 0.999 suits long ImageNet runs. After the few hundred steps of a small medical
#: dataset, its moving variances still hold much of their initial 1.0, every batch-norm
#: layer shrinks the activations at inference, and a model trained from scratch
#: predicts the same class for every image.
MOBILENET_BN_MOMENTUM = 0.9
#: Keras' ImageNet classifiers end in dropout 0.2 before the last layer.
_DROPOUT_HEAD = HeadConfig(feature_dropout=0.2)


def _blocks(first: int, last: int) -> tuple[str, ...]:
    """MobileNetV3 block prefixes ``expanded_conv_<first>`` .. ``<last>`` (block 0 is
    ``expanded_conv``; the longest prefix decides a layer's stage)."""
    return tuple(f"expanded_conv_{i}" if i else "expanded_conv" for i in range(first, last + 1))


@register_model(
    "mobilenet_v3_small",
    default_size=224,
    preprocessing="tf",
    stages=(("conv",), _blocks(0, 0), _blocks(1, 2), _blocks(3, 7), (*_blocks(8, 10), "conv_1")),
    study=f"{_POINT_OF_CARE} (MobileNetV3-Small, Howard et al. 2019)",
    description="Keras MobileNetV3Small (alpha 1.0) + GAP + dropout 0.2 + softmax",
    head=_DROPOUT_HEAD,
    imagenet="mobilenet_v3_small",
)
def mobilenet_v3_small(x: Any) -> Any:
    return _mobilenet_v3(keras.applications.MobileNetV3Small, x)


@register_model(
    "mobilenet_v3_large",
    default_size=224,
    preprocessing="tf",
    stages=(
        ("conv",),
        _blocks(0, 2),
        _blocks(3, 5),
        _blocks(6, 11),
        (*_blocks(12, 14), "conv_1"),
    ),
    study=f"{_POINT_OF_CARE} (MobileNetV3-Large, Howard et al. 2019)",
    description="Keras MobileNetV3Large (alpha 1.0) + GAP + dropout 0.2 + softmax",
    head=_DROPOUT_HEAD,
    imagenet="mobilenet_v3_large",
)
def mobilenet_v3_large(x: Any) -> Any:
    return _mobilenet_v3(keras.applications.MobileNetV3Large, x)


def _mobilenet_v3(application: Any, x: Any) -> Any:
    backbone = application(
        include_top=False, weights=None, input_tensor=x, include_preprocessing=False
    )
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = MOBILENET_BN_MOMENTUM
    return backbone.output


@register_model(
    "efficientnet_v2_b0",
    default_size=224,
    preprocessing="torch",
    stages=(("stem_",), *((f"block{i}",) for i in range(1, 6)), ("block6", "top_")),
    study=f"{_POINT_OF_CARE} (EfficientNetV2-B0, Tan & Le 2021)",
    description="Keras EfficientNetV2B0 + GAP + dropout 0.2 + softmax",
    head=_DROPOUT_HEAD,
    imagenet="efficientnet_v2_b0",
)
def efficientnet_v2_b0(x: Any) -> Any:
    return keras.applications.EfficientNetV2B0(
        include_top=False, weights=None, input_tensor=x, include_preprocessing=False
    ).output


@register_model(
    "densenet121",
    default_size=224,
    preprocessing="torch",
    stages=(
        ("conv1",),
        ("conv2", "pool2"),
        ("conv3", "pool3"),
        ("conv4", "pool4"),
        ("conv5", "bn"),
    ),
    study="the most used backbone in medical imaging (DenseNet121, Huang et al. 2017)",
    description="Keras DenseNet121 + GAP + softmax",
    imagenet="densenet121",
)
def densenet121(x: Any) -> Any:
    return keras.applications.DenseNet121(include_top=False, weights=None, input_tensor=x).output


@register_model(
    "convnext_tiny",
    default_size=224,
    preprocessing="torch",
    stages=(
        ("convnext_tiny_stem",),
        ("convnext_tiny_stage_0",),
        *(
            (f"convnext_tiny_downsampling_block_{i - 1}", f"convnext_tiny_stage_{i}")
            for i in (1, 2)
        ),
        ("convnext_tiny_downsampling_block_2", "convnext_tiny_stage_3", "layer_normalization"),
    ),
    study="modern CNN (ConvNeXt-Tiny, Liu et al. 2022)",
    description="Keras ConvNeXtTiny + final LayerNorm + GAP + softmax",
    imagenet="convnext_tiny",
)
def convnext_tiny(x: Any) -> Any:
    backbone = keras.applications.ConvNeXtTiny(
        include_top=False, weights=None, input_tensor=x, include_preprocessing=False
    )
    # Keras ends the headless ConvNeXt in a LayerNormalization it names on its own
    # ("layer_normalization", then "_1", "_2"... as more models are built); the same
    # layer, named as in Keras' ImageNet file, keeps the name and the weights stable.
    last_stage = backbone.layers[-2].output
    return keras.layers.LayerNormalization(epsilon=1e-6, name="layer_normalization")(last_stage)
