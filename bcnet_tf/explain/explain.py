"""``explain``: heat-map overlays for image files, from a saved model."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from bcnet_tf.data.pipeline import load_files
from bcnet_tf.errors import BcnetError
from bcnet_tf.explain.gradcam import grad_cam
from bcnet_tf.explain.occlusion import occlusion_sensitivity
from bcnet_tf.explain.overlay import overlay, save_png
from bcnet_tf.models.saving import load_model

METHODS = ("gradcam", "occlusion")


def explain(
    model_path: str | os.PathLike[str],
    images: list[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    methods: tuple[str, ...] = METHODS,
    class_name: str | None = None,
    layer: str | None = None,
    trust: bool = False,
) -> list[Path]:
    """Write ``<image>_<method>_<class>.png`` overlays for each image into ``out``.

    Args:
        model_path: a bcnet_tf ``.keras`` file.
        images: image files (any format the data layer reads).
        out: output folder (created).
        methods: ``gradcam`` and/or ``occlusion``.
        class_name: the class to explain; default: each image's predicted class.
        layer: Grad-CAM feature layer; default: chosen automatically.
        trust: allow code (Lambda layers) in the model file.

    Example:
        >>> explain("best.keras", ["scan.png"], "explained")  # doctest: +SKIP
        [PosixPath('explained/scan_gradcam_malignant.png'), ...]
    """
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise BcnetError(f"unknown explain methods {unknown}; choose from {METHODS}.")
    model, info = load_model(model_path, trust=trust)
    names = list(info.class_names)
    if class_name is not None and class_name not in names:
        raise BcnetError(f"class {class_name!r} is not one of the model's classes {names}.")
    pixels = load_files(images, info.image_size)
    requested = None if class_name is None else names.index(class_name)
    heat, classes = grad_cam(model, pixels, requested, layer=layer)
    written = []
    for path, image, gradcam_heat, target in zip(images, pixels, heat, classes, strict=True):
        stem = Path(path).stem
        maps = {"gradcam": gradcam_heat}
        if "occlusion" in methods:
            maps["occlusion"] = occlusion_sensitivity(model, image, int(target))
        for method in methods:
            name = f"{stem}_{method}_{names[int(target)]}.png"
            side_by_side = np.concatenate([image, overlay(image, maps[method])], axis=1)
            written.append(save_png(side_by_side, Path(out) / name))
    return written
