"""``explain``: heat-map overlays for image files (or whole slides), from a saved model."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from bcnet_tf.data.mammo import preprocess_of
from bcnet_tf.data.pipeline import load_files
from bcnet_tf.errors import BcnetError
from bcnet_tf.explain.gradcam import grad_cam
from bcnet_tf.explain.occlusion import occlusion_sensitivity
from bcnet_tf.explain.overlay import overlay, save_png
from bcnet_tf.explain.slides import SlidePrediction, attention_head, predict_slide, slide_maps
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

    For a whole-slide model, ``images`` are slides, read tile by tile (never decoded
    whole): each gets ``<slide>_tiles_<class>.png``, every tissue tile's probability of
    the class painted over the slide's thumbnail, and with an attention-MIL head
    ``<slide>_attention.png``, the tiles' attention weights scaled to their maximum.

    Args:
        model_path: a bcnet_tf ``.keras`` file.
        images: image files (any format the data layer reads), or slides.
        out: output folder (created).
        methods: ``gradcam`` and/or ``occlusion``; default: both, or Grad-CAM alone
            for a tile-mode model (its map is stitched from the tiles); none for a
            whole-slide model.
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
    if tiles is not None and tiles.whole_slide:
        if methods:
            raise BcnetError(
                "Grad-CAM and occlusion maps are not available for whole-slide models; "
                "explain writes tile-probability heat maps. Fix: leave out --method."
            )
        mil = attention_head(model_path, tiles, trust)
        predictions = (predict_slide(model, path, tiles, stain, mil=mil) for path in images)
        return _slide_pictures(images, predictions, names, requested, Path(out))
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


def _slide_pictures(
    slides: list[str | os.PathLike[str]],
    predictions: Iterable[SlidePrediction],
    names: list[str],
    requested: int | None,
    out: Path,
) -> list[Path]:
    """Write each slide's heat maps (:func:`~bcnet_tf.explain.slides.slide_maps`)."""
    written = []
    for path, prediction in zip(slides, predictions, strict=True):
        target = int(np.argmax(prediction.probabilities)) if requested is None else requested
        maps = slide_maps(prediction, target)
        stem = Path(path).stem
        written.append(save_png(maps[0], out / f"{stem}_tiles_{names[target]}.png"))
        if len(maps) > 1:
            written.append(save_png(maps[1], out / f"{stem}_attention.png"))
    return written
