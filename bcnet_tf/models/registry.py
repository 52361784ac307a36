"""The model registry: every architecture is one decorated function.

A builder takes the preprocessed input tensor and returns its feature map;
``stages`` (declared at registration) say how its layers group into stages, first to
last, by layer-name prefix. :func:`build_model` adds the input, the preprocessing, the
head, the weights and the freezing, so each builder holds only its own architecture.

:func:`register_model` shows how to add a model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bcnet_tf.errors import BcnetError


@dataclass(frozen=True)
class HeadConfig:
    """Classifier head on the pooled features.

    Attributes:
        hidden: width of each hidden Dense layer, in order.
        activations: one activation per hidden layer (Keras names, e.g. ``"leaky_relu"``).
        dropout: dropout rate after each hidden layer (0 = none).
        feature_dropout: dropout rate on the pooled features, before the first Dense.
        pooling: ``"avg"`` or ``"max"`` global pooling of the feature map.
    """

    hidden: tuple[int, ...] = ()
    activations: tuple[str, ...] = ()
    dropout: float = 0.0
    feature_dropout: float = 0.0
    pooling: str = "avg"

    def __post_init__(self) -> None:
        if len(self.activations) != len(self.hidden):
            raise BcnetError(
                f"head needs one activation per hidden layer: {self.hidden} vs {self.activations}"
            )
        if self.pooling not in ("avg", "max"):
            raise BcnetError(f"head pooling must be 'avg' or 'max', not {self.pooling!r}")


@dataclass(frozen=True)
class ModelSpec:
    """A registered architecture and what travels with it.

    ``stages``: each backbone stage's layer-name prefixes, first to last (``freeze=N``
    leaves the last N trainable; fine-tuning gives each its own learning rate). Layers
    in no stage (study 004's attention block) are new and always trainable.
    """

    name: str
    builder: Callable[[Any], Any]
    default_size: int
    preprocessing: str
    stages: tuple[tuple[str, ...], ...]
    study: str
    description: str
    head: HeadConfig = field(default_factory=HeadConfig)
    default_freeze: str | int = "none"
    imagenet: str | None = None  # key into bcnet_tf.models.weights.IMAGENET_SOURCES


_REGISTRY: dict[str, ModelSpec] = {}
#: Name prefixes of the layers build_model adds after the backbone.
HEAD_LAYERS = ("head_", "predictions")


def register_model(
    name: str,
    *,
    default_size: int,
    preprocessing: str,
    stages: tuple[tuple[str, ...], ...],
    study: str,
    description: str,
    head: HeadConfig | None = None,
    default_freeze: str | int = "none",
    imagenet: str | None = None,
) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """Decorator that adds a backbone builder to the registry under ``name``.

    The builder takes the preprocessed input tensor and returns the feature map;
    :func:`~bcnet_tf.models.build_model` adds the input, preprocessing, head and weights.

    Args:
        name: the name ``build_model`` and ``--model`` take.
        default_size: input side in pixels when ``image_size`` is not given.
        preprocessing: ``"caffe"``, ``"torch"`` or ``"unit"`` (see
            :mod:`bcnet_tf.models.preprocessing`).
        stages: each backbone stage's layer-name prefixes, first to last (``freeze``
            counts them from the end).
        study: the study the model reproduces, shown by ``bcnet-tf models``.
        description: one line on the architecture, shown by ``bcnet-tf models``.
        head: the classifier head (default: pooling + softmax).
        default_freeze: ``freeze`` when ``build_model`` is not given one.
        imagenet: key of the model's ImageNet weights source, if any.

    Example:
        >>> import keras
        >>> from bcnet_tf.models import build_model, register_model, unregister_model
        >>> @register_model("tiny_example", default_size=32, preprocessing="unit",
        ...                 stages=(("tiny_block1",), ("tiny_block2",)), study="none",
        ...                 description="two convolutions")
        ... def tiny_example(x):
        ...     x = keras.layers.Conv2D(8, 3, activation="relu", name="tiny_block1_conv")(x)
        ...     return keras.layers.Conv2D(16, 3, strides=2, name="tiny_block2_conv")(x)
        >>> model = build_model("tiny_example", num_classes=2, freeze=1)
        >>> model.output_shape, model.get_layer("tiny_block1_conv").trainable
        ((None, 2), False)
        >>> unregister_model("tiny_example")
        >>> "tiny_example" in list_models()
        False
    """

    def decorate(builder: Callable[[Any], Any]) -> Callable[[Any], Any]:
        if name in _REGISTRY:
            raise BcnetError(f"model {name!r} is registered twice")
        _REGISTRY[name] = ModelSpec(
            name,
            builder,
            default_size,
            preprocessing,
            stages,
            study,
            description,
            head or HeadConfig(),
            default_freeze,
            imagenet,
        )
        return builder

    return decorate


def unregister_model(name: str) -> None:
    """Remove ``name`` from the registry (a model registered for a test, for example).

    Example: see :func:`register_model`.
    """
    get_spec(name)  # an unknown name raises with the list of known ones
    del _REGISTRY[name]


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``name``; raises with the list of known names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise BcnetError(
            f"unknown model {name!r}; choose one of {', '.join(sorted(_REGISTRY))} "
            "(`bcnet-tf models` lists them)"
        ) from None


def list_models() -> list[str]:
    """Names of every registered model, sorted.

    Example:
        >>> "bcnet_vgg16" in list_models()
        True
    """
    return sorted(_REGISTRY)
