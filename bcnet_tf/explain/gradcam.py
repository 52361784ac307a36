"""Grad-CAM (Selvaraju et al. 2017), as study 004 used it to show where the model looks.

The class score's gradient with respect to the last convolutional feature map,
averaged over space, weights that map's channels; the ReLU of the weighted sum,
upsampled to the input, is the heat map. The score is the class *logit* (the
``predictions`` layer before its softmax), as in the paper; models without a
``predictions`` layer use the output probability.

For every model in the zoo the feature map is the input of the ``head_pool`` layer,
found automatically; ``layer=`` overrides it.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from bcnet_tf.errors import BcnetError
from bcnet_tf.models.factory import FEATURE_LAYER


def gradcam_layer(model: keras.Model) -> str:
    """The layer whose output Grad-CAM explains: the one feeding the head's pooling,
    else the last layer with a 4-D output.

    Example:
        >>> from bcnet_tf.models import build_model
        >>> gradcam_layer(build_model("resnet18", 2, image_size=64, weights=None))
        'layer4_1_out'
    """
    if FEATURE_LAYER in {layer.name for layer in model.layers}:
        pooled = model.get_layer(FEATURE_LAYER).input
        for layer in model.layers:
            if layer.output is pooled:
                return layer.name
    four_d = [layer.name for layer in model.layers if len(layer.output.shape) == 4]
    if not four_d:
        raise BcnetError(f"model {model.name} has no 4-D feature map for Grad-CAM.")
    return four_d[-1]


def _score_model(model: keras.Model, layer: str) -> tuple[keras.Model, keras.Layer | None]:
    """A model returning (feature map, head input or probabilities), and the softmax
    Dense layer whose logits to take (``None``: use probabilities)."""
    try:
        features = model.get_layer(layer).output
    except ValueError:
        raise BcnetError(
            f"model {model.name} has no layer {layer!r}. Fix: pass one of its layers "
            f"with a 4-D output, e.g. {gradcam_layer(model)!r}."
        ) from None
    names = {item.name for item in model.layers}
    head = model.get_layer("predictions") if "predictions" in names else None
    if isinstance(head, keras.layers.Dense):
        return keras.Model(model.inputs, [features, head.input]), head
    return keras.Model(model.inputs, [features, model.outputs[0]]), None


def grad_cam(
    model: keras.Model,
    images: np.ndarray,
    class_index: int | None = None,
    *,
    layer: str | None = None,
    shared_scale: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM heat maps in [0, 1] at the input size, and the explained class ids.

    Args:
        model: a bcnet_tf model (or any functional classifier).
        images: ``(n, height, width, 3)`` raw RGB pixels, as the model takes them.
        class_index: the class to explain; default: each image's predicted class.
        layer: the feature-map layer; default :func:`gradcam_layer`.
        shared_scale: divide every map by the batch's peak instead of its own (tiles of
            one image keep their relative strength when stitched).

    Example:
        >>> heat, classes = grad_cam(model, load_files(["scan.png"], 224))  # doctest: +SKIP
        >>> heat.shape                                                     # doctest: +SKIP
        (1, 224, 224)
    """
    score_model, head = _score_model(model, layer or gradcam_layer(model))
    images = tf.convert_to_tensor(images, tf.float32)
    with tf.GradientTape() as tape:
        features, output = score_model(images, training=False)  # bfloat16 when mixed
        output = tf.cast(output, tf.float32)
        if head is not None:
            output = tf.matmul(output, tf.cast(head.kernel, tf.float32)) + tf.cast(
                head.bias, tf.float32
            )
        classes = (
            tf.argmax(output, axis=1, output_type=tf.int32)
            if class_index is None
            else tf.fill([tf.shape(images)[0]], class_index)
        )
        scores = tf.gather(output, classes, batch_dims=1)
    gradients = tf.cast(tape.gradient(scores, features), tf.float32)
    features = tf.cast(features, tf.float32)
    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1))
    peak = tf.reduce_max(cam, axis=(0, 1, 2) if shared_scale else (1, 2), keepdims=True)
    cam = tf.math.divide_no_nan(cam, peak)
    heat = tf.image.resize(cam[..., None], images.shape[1:3], method="bilinear")[..., 0]
    return heat.numpy(), classes.numpy()
