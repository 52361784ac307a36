"""``explain``: heat-map overlays for image files, from a saved model."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from bcnet_tf.data.mammo import preprocess_of
from bcnet_tf.data.pipeline import load_files
from bcnet_tf.errors import BcnetError
from bcnet_tf.explain.gradcam import grad_cam
from bcnet_tf.explain.occlusion import occlusion_sensitivity
from bcnet_tf.explain.overlay import overlay, save_png
from bcnet_tf.explain.tiled import predict_tiled, tiled_grad_cam
from bcnet_tf.models.saving import load_model
from bcnet_tf.pathology.settings import from_model_extra

METHODS = ("gradcam", "occlusion")


def explain(
    model_path: str | os.PathLike[str],
    images: list[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    methods: tuple[str, ...] | None = None,
    class_name: str | None = None,
    layer: str | None = None,
    trust: bool = False,
) -> list[Path]:
    """Write ``<image>_<method>_<class>.png`` overlays for each image into ``out``.

    Args:
        model_path: a bcnet_tf ``.keras`` file.
        images: image files (any format the data layer reads).
        out: output folder (created).
        methods: ``gradcam`` and/or ``occlusion``; default: both, or Grad-CAM alone
            for a tile-mode model (its map is stitched from the tiles).
        class_name: the class to explain; default: each image's predicted class.
        layer: Grad-CAM feature layer; default: chosen automatically.
        trust: allow code (Lambda layers) in the model file.

    Example:
        >>> explain("best.keras", ["scan.png"], "explained")  # doctest: +SKIP
        [PosixPath('explained/scan_gradcam_malignant.png'), ...]
    """
    unknown = sorted(set(methods or ()) - set(METHODS))
    if unknown:
        raise BcnetError(f"unknown explain methods {unknown}; choose from {METHODS}.")
    model, info = load_model(model_path, trust=trust)
    names = list(info.class_names)
    if class_name is not None and class_name not in names:
        raise BcnetError(f"class {class_name!r} is not one of the model's classes {names}.")
    requested = None if class_name is None else names.index(class_name)
    stain, tiles = from_model_extra(info.extra)
    methods = methods or (METHODS if tiles is None else ("gradcam",))
    if tiles is None:
        pixels = load_files(images, info.image_size, stain, preprocess_of(info.extra))
        heat, classes = grad_cam(model, pixels, requested, layer=layer)
    else:  # whole images, maps stitched from their tiles
        if "occlusion" in methods:
            raise BcnetError(
                "occlusion maps are not available for tile-mode models. Fix: --methods gradcam."
            )
        predictions = [predict_tiled(model, path, tiles, stain) for path in images]
        pixels = [p.image[: p.height, : p.width] for p in predictions]
        heat = [tiled_grad_cam(model, p, requested) for p in predictions]
        classes = [
            int(np.argmax(p.probabilities)) if requested is None else requested for p in predictions
        ]
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
