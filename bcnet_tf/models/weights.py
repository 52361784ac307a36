"""Where weights come from and how they get into a model.

``weights=`` accepts:

* ``None`` — random initialisation;
* ``"imagenet"`` — the published ImageNet weights of the architecture, fetched once into
  Keras' own cache (``$KERAS_HOME/models``, default ``~/.keras/models``) with
  ``keras.utils.get_file`` and checked against the pinned hash. VGG16, ResNet50,
  MobileNetV3, EfficientNetV2-B0, DenseNet121 and ConvNeXt-Tiny use Keras' own files;
  ResNet18/34 torchvision's weights as published in safetensors
  (``timm/resnet18.tv_in1k``, ``timm/resnet34.tv_in1k``), converted on load; SqueezeNet
  has no download, so its file must already be in the cache (or be given as a path);
* a path — ``.h5``/``.hdf5`` (Keras 2 weights, matched by layer name), ``.weights.h5``
  (Keras 3), ``.keras`` (a saved model: weights copied by layer name) or
  ``.safetensors`` (a torchvision-style state dict, converted).

Layers whose shapes differ (a head with another number of classes) are skipped and
reported; a file that fills no backbone layer is an error (wrong file for the model).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import keras
import numpy as np

from bcnet_tf.errors import BcnetError
from bcnet_tf.models.registry import HEAD_LAYERS

logger = logging.getLogger("bcnet_tf")
_KERAS_APPS = "https://storage.googleapis.com/tensorflow/keras-applications"


class WeightsError(BcnetError):
    """Weights cannot be found, downloaded or matched to the model."""


@dataclass(frozen=True)
class ImagenetSource:
    """One published ImageNet weight file: its cache name, download URL (``None`` when
    there is none) and hash (md5 or sha256, as ``keras.utils.get_file`` checks)."""

    file_name: str
    url: str | None
    file_hash: str | None


IMAGENET_SOURCES = {
    "vgg16": ImagenetSource(
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        f"{_KERAS_APPS}/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "6d6bbae143d832006294945121d1f1fc",
    ),
    "resnet50": ImagenetSource(
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        f"{_KERAS_APPS}/resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "4d473c1dd8becc155b73f8504c6f6626",
    ),
    "mobilenet_v3_small": ImagenetSource(
        "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
        f"{_KERAS_APPS}/mobilenet_v3/weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
        "d3e8ec802a04aa4fc771ee12a9a9b836",
    ),
    "mobilenet_v3_large": ImagenetSource(
        "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5",
        f"{_KERAS_APPS}/mobilenet_v3/weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5",
        "07fb09a5933dd0c8eaafa16978110389",
    ),
    "efficientnet_v2_b0": ImagenetSource(
        "efficientnetv2-b0_notop.h5",
        f"{_KERAS_APPS}/efficientnet_v2/efficientnetv2-b0_notop.h5",
        "893217f2bb855e2983157299931e43ff",
    ),
    "densenet121": ImagenetSource(
        "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
        f"{_KERAS_APPS}/densenet/densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "30ee3e1110167f948a6b9946edeeb738",
    ),
    "convnext_tiny": ImagenetSource(
        "convnext_tiny_notop.h5",
        f"{_KERAS_APPS}/convnext/convnext_tiny_notop.h5",
        "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1",
    ),
    # torchvision's ImageNet weights (the studies' own), as published in safetensors.
    # Their SHA-256 is not pinned yet: set file_hash to pin it.
    "resnet18": ImagenetSource(
        "resnet18.tv_in1k.safetensors",
        "https://huggingface.co/timm/resnet18.tv_in1k/resolve/main/model.safetensors",
        None,
    ),
    "resnet34": ImagenetSource(
        "resnet34.tv_in1k.safetensors",
        "https://huggingface.co/timm/resnet34.tv_in1k/resolve/main/model.safetensors",
        None,
    ),
    "squeezenet": ImagenetSource(
        "squeezenet_v1.1_imagenet_notop.h5",
        None,
        "17154246284f555591549ac2c83e127abfbf4307dc4b0060fdaa2931d0fa38da",
    ),
}


@dataclass
class LoadReport:
    """Which layers got weights from ``source`` and which were skipped (and why)."""

    source: str
    loaded: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        text = f"loaded {len(self.loaded)} layers from {self.source}"
        if self.skipped:
            text += f"; skipped {len(self.skipped)}: " + ", ".join(
                f"{name} ({why})" for name, why in list(self.skipped.items())[:5]
            )
        return text


def keras_cache_dir() -> Path:
    """Keras' download cache for model weights (``$KERAS_HOME/models``)."""
    home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return Path(home) / "models"


def fetch_imagenet(key: str, model_name: str) -> Path:
    """Path of the ImageNet weight file ``key``, downloading it into Keras' cache once.

    Raises:
        WeightsError: one line saying what was tried and how to supply the file.
    """
    source = IMAGENET_SOURCES[key]
    cached = keras_cache_dir() / source.file_name
    fix = f"Fix: copy {source.file_name} into {cached.parent}, or pass weights=PATH."
    if source.url is None:
        if not cached.is_file():
            raise WeightsError(
                f"{model_name}: ImageNet weights have no download; {cached} is missing. {fix}"
            )
        if source.file_hash and not _hash_matches(cached, source.file_hash):
            raise WeightsError(f"{model_name}: {cached} fails its checksum (corrupt?). {fix}")
        return cached
    try:
        return Path(
            keras.utils.get_file(
                source.file_name,
                source.url,
                file_hash=source.file_hash,
                cache_subdir="models",
                cache_dir=str(keras_cache_dir().parent),
            )
        )
    except Exception as error:  # get_file raises bare Exception on network failure
        reason = str(error).split("\n")[0].split(" -- ")[-1][:120]  # "[Errno -2] Name or ..."
        raise WeightsError(
            f"{model_name}: cannot download ImageNet weights from {source.url} ({reason}). {fix}"
        ) from None


def _hash_matches(path: Path, expected: str) -> bool:
    """Compare a file's SHA-256 (64 hex digits) or MD5 (32) with ``expected``."""
    digest = hashlib.sha256() if len(expected) == 64 else hashlib.md5()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest() == expected.lower()


def load_weights(model: keras.Model, path: str | os.PathLike[str]) -> LoadReport:
    """Load a weights file into ``model`` by layer name (format from the suffix).

    Example:
        >>> report = load_weights(model, "squeezenet_v1.1_imagenet_notop.h5")  # doctest: +SKIP
        >>> print(report.summary())                                             # doctest: +SKIP
        loaded 26 layers from squeezenet_v1.1_imagenet_notop.h5
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist. Fix: check the path.")
    name = path.name.lower()
    if name.endswith(".weights.h5"):
        model.load_weights(path, skip_mismatch=True)
        report = LoadReport(str(path), [layer.name for layer in model.layers if layer.weights])
    elif name.endswith((".h5", ".hdf5")):
        report = _assign(model, _read_legacy_h5(path), str(path))
    elif name.endswith(".keras"):
        source = keras.saving.load_model(path, compile=False)
        arrays = {layer.name: layer.get_weights() for layer in source.layers if layer.weights}
        report = _assign(model, arrays, str(path))
    elif name.endswith(".safetensors"):
        report = _assign(model, _read_torch_safetensors(path), str(path))
    else:
        raise WeightsError(
            f"unsupported weights file {path}. Fix: use .h5, .weights.h5, .keras or .safetensors."
        )
    if not [name for name in report.loaded if not name.startswith(HEAD_LAYERS)]:
        raise WeightsError(
            f"no layer of {model.name} matches {path} (wrong file for this model?). "
            + report.summary()
        )
    logger.info(report.summary())
    return report


def _read_legacy_h5(path: Path) -> dict[str, list[np.ndarray]]:
    """Keras 2 HDF5 weights by layer, ``/`` in names mapped to ``_`` (SqueezeNet)."""
    arrays: dict[str, list[np.ndarray]] = {}
    try:
        with h5py.File(path, "r") as handle:
            group = handle.get("model_weights", handle)
            for layer_name in group.attrs["layer_names"]:
                layer_name = layer_name.decode() if isinstance(layer_name, bytes) else layer_name
                layer = group[layer_name]
                names = [
                    n.decode() if isinstance(n, bytes) else n for n in layer.attrs["weight_names"]
                ]
                if names:
                    arrays[layer_name.replace("/", "_")] = [np.asarray(layer[n]) for n in names]
    except (OSError, KeyError) as error:
        raise WeightsError(f"{path} is not a Keras HDF5 weights file ({error}).") from None
    return arrays


_TORCH_ALIASES = {"fc": "predictions"}  # torchvision's classifier is our output layer


def _read_torch_safetensors(path: Path) -> dict[str, list[np.ndarray]]:
    """A torchvision-style state dict as Keras arrays per layer (``a.b.weight`` ->
    layer ``a_b``, ``fc`` -> ``predictions``): conv kernels OIHW -> HWIO, linear
    weights transposed, BatchNorm as gamma, beta, moving mean, moving variance."""
    from safetensors.numpy import load_file

    try:
        tensors = load_file(path)
    except Exception as error:  # safetensors raises its own SafetensorError
        raise WeightsError(f"{path} is not a readable safetensors file ({error}).") from None
    modules: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    for key, value in tensors.items():
        module, _, kind = key.rpartition(".")
        module = _TORCH_ALIASES.get(module, module)
        modules[module.replace(".", "_")][kind] = value
    arrays = {}
    for layer_name, parts in modules.items():
        if "running_mean" in parts:
            arrays[layer_name] = [
                parts["weight"],
                parts["bias"],
                parts["running_mean"],
                parts["running_var"],
            ]
        elif parts.get("weight") is not None and parts["weight"].ndim == 4:
            arrays[layer_name] = [parts["weight"].transpose(2, 3, 1, 0)] + (
                [parts["bias"]] if "bias" in parts else []
            )
        elif parts.get("weight") is not None and parts["weight"].ndim == 2:
            arrays[layer_name] = [parts["weight"].T, parts["bias"]]
    return arrays


def _assign(model: keras.Model, arrays: dict[str, list[np.ndarray]], source: str) -> LoadReport:
    report = LoadReport(source)
    layers = {layer.name: layer for layer in model.layers}
    for name, values in arrays.items():
        layer = layers.get(name)
        if layer is None:
            report.skipped[name] = "not in this model"
            continue
        expected = [tuple(w.shape) for w in layer.weights]
        got = [tuple(v.shape) for v in values]
        if expected != got:
            report.skipped[name] = f"shape {got} != {expected}"
            continue
        layer.set_weights(values)
        report.loaded.append(name)
    return report
