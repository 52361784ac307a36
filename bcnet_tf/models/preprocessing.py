"""Input normalisation inside the model, so an exported model takes raw RGB pixels.

=========  ==========================================================================
name       what the model does to 0..255 RGB input
=========  ==========================================================================
``caffe``  RGB -> BGR, ImageNet channel means subtracted, no scaling: Keras' VGG16 /
           ResNet50 ``preprocess_input`` and the SqueezeNet weights' convention
``torch``  x / 255, then ImageNet mean / std per channel: torchvision's ResNet18/34,
           Keras' DenseNet121, EfficientNetV2-B0 and ConvNeXt-Tiny
``tf``     x / 127.5 - 1 (range -1..1): Keras' MobileNetV3
``unit``   x / 255 (models trained from scratch, e.g. ResNet9)
=========  ==========================================================================
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
PREPROCESSING = ("caffe", "torch", "tf", "unit")
#: 1x1 convolution kernel (in RGB, out BGR) that reverses the channel order.
_RGB_TO_BGR = [[[[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]]]


@keras.saving.register_keras_serializable(package="bcnet_tf")
class CaffePreprocess(keras.layers.Layer):
    """RGB -> BGR and ImageNet mean subtraction (``preprocess_input`` mode "caffe").

    Example:
        >>> tuple(CaffePreprocess()(keras.ops.ones((1, 2, 2, 3)) * 255).shape)
        (1, 2, 2, 3)
    """

    def call(self, inputs: Any) -> Any:
        # The channel swap is a constant 1x1 convolution, not ops.flip or a gather:
        # TFLite folds the mean into its bias, so the whole normalisation is one CONV_2D
        # that XNNPACK runs in float and int8 (a gather and a subtraction would run
        # outside the delegate), and int8's REVERSE_V2 copies bytes without rescaling
        # (tests/export/ checks both).
        swap = ops.convert_to_tensor(_RGB_TO_BGR, dtype=self.compute_dtype)
        bgr = ops.conv(ops.cast(inputs, self.compute_dtype), swap, data_format="channels_last")
        return bgr - ops.convert_to_tensor(CAFFE_MEAN_BGR, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape


def preprocessing_layer(name: str) -> keras.layers.Layer:
    """The layer for a preprocessing convention (see the module table)."""
    if name == "caffe":
        return CaffePreprocess(name="preprocess_caffe")
    if name == "torch":
        scale = [1 / (255 * s) for s in IMAGENET_STD_RGB]
        offset = [-m / s for m, s in zip(IMAGENET_MEAN_RGB, IMAGENET_STD_RGB, strict=True)]
        return keras.layers.Rescaling(scale, offset, name="preprocess_torch")
    if name == "tf":
        return keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="preprocess_tf")
    if name == "unit":
        return keras.layers.Rescaling(1 / 255, name="preprocess_unit")
    raise ValueError(f"unknown preprocessing {name!r}; choose one of {PREPROCESSING}")
