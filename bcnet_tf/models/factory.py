"""``build_model``: registry entry -> flat functional Keras model with weights."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from bcnet_tf.models.preprocessing import preprocessing_layer
from bcnet_tf.models.registry import HEAD_LAYERS, HeadConfig, get_spec
from bcnet_tf.models.weights import WeightsError, fetch_imagenet, load_weights
from bcnet_tf.settings import ImageSize

#: The layer whose output is a model's pooled backbone features (the head's input).
FEATURE_LAYER = "head_pool"


def with_features(model: keras.Model) -> keras.Model | None:
    """``model`` with two named outputs, ``probabilities`` and its pooled backbone
    ``features`` (same layers, same weights); ``None`` for a model without a
    :data:`FEATURE_LAYER`.

    Example:
        >>> import numpy as np
        >>> dual = with_features(build_model("resnet9", 2, image_size=32))
        >>> {name: tuple(value.shape) for name, value in dual(np.zeros((1, 32, 32, 3))).items()}
        {'probabilities': (1, 2), 'features': (1, 512)}
    """
    if FEATURE_LAYER not in {layer.name for layer in model.layers}:
        return None
    outputs = {"probabilities": model.outputs[0], "features": model.get_layer(FEATURE_LAYER).output}
    return keras.Model(model.input, outputs, name=f"{model.name}_with_features")


def copy_model(model: keras.Model) -> keras.Model:
    """A copy of ``model`` with the same layers, names and weights, sharing no variables
    with it: changing the copy's weights leaves ``model`` as it was.

    Example:
        >>> model = build_model("resnet9", 2, image_size=32)
        >>> copy = copy_model(model)
        >>> _ = copy.get_layer("prep_conv").kernel.assign(copy.get_layer("prep_conv").kernel * 0)
        >>> bool(keras.ops.all(model.get_layer("prep_conv").kernel == 0))
        False
    """
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def _head(features: Any, num_classes: int, head: HeadConfig) -> Any:
    """Pooling, optional dropout and hidden Dense layers (all named ``head_*``), then
    the ``predictions`` softmax, in float32 so it is safe under mixed precision."""
    pool = (
        keras.layers.GlobalAveragePooling2D
        if head.pooling == "avg"
        else (keras.layers.GlobalMaxPooling2D)
    )
    x = pool(name=FEATURE_LAYER)(features)
    if head.feature_dropout:
        x = keras.layers.Dropout(head.feature_dropout, name="head_feature_dropout")(x)
    for i, (width, activation) in enumerate(zip(head.hidden, head.activations, strict=True), 1):
        x = keras.layers.Dense(width, activation=activation, name=f"head_fc{i}")(x)
        if head.dropout:
            x = keras.layers.Dropout(head.dropout, name=f"head_fc{i}_dropout")(x)
    return keras.layers.Dense(
        num_classes, activation="softmax", dtype="float32", name="predictions"
    )(x)


def backbone_parameters(model: keras.Model) -> int:
    """Parameters of the backbone alone (no preprocessing, no head), counted as Keras
    ``count_params()`` does (BatchNorm moving statistics included).

    Example:
        >>> backbone_parameters(build_model("resnet18", 2))
        11186112
    """
    return sum(
        layer.count_params()
        for layer in model.layers
        if not layer.name.startswith((*HEAD_LAYERS, "preprocess_"))
    )


def freeze_stages(model: keras.Model, stages: Sequence[Sequence[str]], freeze: str | int) -> None:
    """Freeze the backbone: ``"all"`` stages, ``"none"``, or all but the last ``N``.

    A layer belongs to the stage of the longest prefix its name starts with (MobileNetV3's
    ``conv_1`` is in the last stage, its ``conv`` in the first), as for discriminative
    learning rates.

    Frozen BatchNorm layers run in inference mode (Keras 3 does this for any
    BatchNormalization with ``trainable=False``), so their statistics stay put.

    Example:
        >>> freeze_stages(model, spec_stages, 2)  # fine-tune the last two stages  # doctest: +SKIP
    """
    if freeze == "all":
        frozen = len(stages)
    elif freeze == "none":
        frozen = 0
    elif isinstance(freeze, int) and 0 <= freeze <= len(stages):
        frozen = len(stages) - freeze
    else:
        raise WeightsError(
            f"freeze must be 'all', 'none' or a number of trainable stages 0..{len(stages)}, "
            f"not {freeze!r}"
        )
    stage_of = {prefix: i for i, stage in enumerate(stages) for prefix in stage}
    longest_first = sorted(stage_of, key=len, reverse=True)
    for layer in model.layers:
        prefix = next((p for p in longest_first if layer.name.startswith(p)), None)
        if prefix is not None:
            layer.trainable = stage_of[prefix] >= frozen


def build_model(
    name: str,
    num_classes: int,
    *,
    image_size: int | Sequence[int] | None = None,
    weights: str | None = None,
    head: HeadConfig | None = None,
    freeze: str | int | None = None,
) -> keras.Model:
    """Build a registered model as one flat functional ``keras.Model``.

    The model takes raw RGB pixels (0..255, any float or int dtype) and does its own
    preprocessing; it ends in a float32 softmax.

    Args:
        name: a registered name (``bcnet-tf models`` lists them).
        num_classes: output classes.
        image_size: input side, ``(height, width)`` or an
            :class:`~bcnet_tf.settings.ImageSize`; default: the model's square.
        weights: ``None``, ``"imagenet"`` or a weights file (see
            :mod:`bcnet_tf.models.weights`).
        head: override the model's classifier head.
        freeze: ``"all"``, ``"none"`` or the number of last backbone stages left
            trainable; default: the model's (``"all"`` for BCNet and SqueezeNet).

    Raises:
        WeightsError: ImageNet weights unavailable offline, or a file that does not fit.

    Example:
        >>> model = build_model("resnet9", num_classes=3)
        >>> model.output_shape
        (None, 3)
    """
    spec = get_spec(name)
    if num_classes < 2:
        raise WeightsError(f"num_classes must be at least 2, not {num_classes}")
    height, width = ImageSize.of(spec.default_size if image_size is None else image_size)
    inputs = keras.Input((height, width, 3), name="image")
    features = spec.builder(preprocessing_layer(spec.preprocessing)(inputs))
    outputs = _head(features, num_classes, head or spec.head)
    model = keras.Model(inputs, outputs, name=name)
    if weights == "imagenet":
        if spec.imagenet is None:
            raise WeightsError(f"{name} is trained from scratch: it has no ImageNet weights.")
        load_weights(model, fetch_imagenet(spec.imagenet, name))
    elif weights is not None:
        load_weights(model, weights)
    freeze_stages(model, spec.stages, spec.default_freeze if freeze is None else freeze)
    return model
