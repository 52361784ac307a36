"""Occlusion sensitivity (Zeiler and Fergus 2014): how much the class probability
drops when a grey patch hides each part of the image. Model-agnostic, no gradients;
a check on Grad-CAM."""

from __future__ import annotations

import keras
import numpy as np


def occlusion_sensitivity(
    model: keras.Model,
    image: np.ndarray,
    class_index: int,
    *,
    patch: int | None = None,
    stride: int | None = None,
    batch_size: int = 32,
) -> np.ndarray:
    """Probability drop per pixel, scaled to [0, 1], for one ``(h, w, 3)`` image.

    Args:
        patch: side of the grey square (default: an eighth of the image side).
        stride: step between patches (default: half the patch).

    Example:
        >>> heat = occlusion_sensitivity(model, images[0], class_index=1)  # doctest: +SKIP
    """
    height, width = image.shape[:2]
    patch = patch or max(height // 8, 1)
    stride = stride or max(patch // 2, 1)
    corners = [
        (top, left)
        for top in range(0, max(height - patch, 0) + 1, stride)
        for left in range(0, max(width - patch, 0) + 1, stride)
    ]
    occluded = np.repeat(image[None].astype(np.float32), len(corners), axis=0)
    for i, (top, left) in enumerate(corners):
        occluded[i, top : top + patch, left : left + patch] = 127.5
    baseline = model.predict(image[None].astype(np.float32), verbose=0)[0, class_index]
    scores = model.predict(occluded, batch_size=batch_size, verbose=0)[:, class_index]
    drop = np.zeros((height, width))
    covered = np.zeros((height, width))
    for (top, left), score in zip(corners, scores, strict=True):
        drop[top : top + patch, left : left + patch] += baseline - score
        covered[top : top + patch, left : left + patch] += 1
    drop = np.clip(drop / np.maximum(covered, 1), 0, None)
    return drop / drop.max() if drop.max() > 0 else drop
