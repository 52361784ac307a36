"""Model zoo: the five studies' architectures and the backbones users expect, behind
one factory.

=======================  ============================================================
module                   concept
=======================  ============================================================
``registry``             ``register_model``, ``unregister_model``, ``ModelSpec``, ``HeadConfig``
``factory``              ``build_model``: input, preprocessing, backbone, head, weights
``preprocessing``        normalisation inside the model (caffe / torch / unit)
``layers``               ``ChannelAttention`` (study 004)
``weights``              ImageNet sources, weight files, torchvision conversion
``saving``               ``save_model`` / ``load_model``: .keras files with their labels
``predict``              prediction through one traced graph; test-time augmentation
``vgg``                  ``bcnet_vgg16`` (study 003)
``resnet50``             ``resnet50``, ``resnet50_attention`` (study 004)
``resnet_basic``         ``resnet18``, ``resnet34`` (000, 002), ``resnet9`` (001)
``squeezenet``           ``squeezenet`` v1.1 (point of care)
``applications``         ``mobilenet_v3_small``/``_large``, ``efficientnet_v2_b0`` (point of
                         care), ``densenet121``, ``convnext_tiny`` from keras.applications
=======================  ============================================================

Example:
    >>> from bcnet_tf.models import build_model, list_models
    >>> model = build_model("bcnet_vgg16", num_classes=3, weights=None)
"""

from bcnet_tf.models import (  # noqa: F401  (register)
    applications,
    resnet50,
    resnet_basic,
    squeezenet,
    vgg,
)
from bcnet_tf.models.factory import backbone_parameters, build_model, copy_model, freeze_stages
from bcnet_tf.models.registry import (
    HeadConfig,
    get_spec,
    list_models,
    register_model,
    unregister_model,
)
from bcnet_tf.models.saving import ModelInfo, load_model, read_info, save_model
from bcnet_tf.models.weights import WeightsError, load_weights

__all__ = [
    "HeadConfig",
    "ModelInfo",
    "WeightsError",
    "backbone_parameters",
    "build_model",
    "copy_model",
    "freeze_stages",
    "get_spec",
    "list_models",
    "load_model",
    "load_weights",
    "read_info",
    "register_model",
    "save_model",
    "unregister_model",
]
