"""Screening-mammogram preprocessing, in numpy: crop to the breast, flip every breast to
one side, pad to the model's aspect ratio.

One implementation for every caller: the training pipeline runs it through
``tf.numpy_function``, evaluation, explanation and export verification call it through
:func:`bcnet_tf.data.pipeline.load_files`, and the edge predictor calls it without
TensorFlow. A model trained with it carries ``{"preprocess": "mammo"}`` in its
``ModelInfo.extra`` (and so in a bundle's ``spec.json``).

Steps (after decoding; the resize to the model's input follows):

1. **Crop**: on a copy of the green channel (the grey level of a grey image) shrunk
   by block averaging to at most :data:`MASK_SIDE` pixels, pixels above
   :data:`THRESHOLD` of the way from the 1st to the 99th grey percentile are tissue;
   an opening (erosion then dilation, :data:`OPENING` pixels) cuts thin bridges to
   labels and markers; the largest 4-connected region is the breast; its bounding box
   plus :data:`MARGIN` of the image side on each side is kept.
2. **Flip**: every breast ends with its chest wall on the left. Right breasts
   (ImageLaterality ``R``) are mirrored; without laterality, an image whose breast
   region weighs more on its right half is mirrored.
3. **Pad**: black is added (right side, or top and bottom equally) up to the model's
   aspect ratio, so the resize scales both axes alike: never squashed.

Example:
    >>> image = np.zeros((300, 200, 3), np.uint8)
    >>> image[50:250, 120:200] = 180          # a breast against the right edge
    >>> prepared = prepare_mammogram(image, (224, 224))
    >>> prepared.shape, prepared[150, 0, 0], prepared[150, -1, 0]
    ((206, 206, 3), np.uint8(180), np.uint8(0))
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from bcnet_tf.data.decode import decode_with_laterality
from bcnet_tf.errors import BcnetError

#: ``none``: images as decoded; ``mammo``: the steps of this module.
PREPROCESSING = ("none", "mammo")
#: Longest side of the shrunk copy the breast region is found on.
MASK_SIDE = 256
#: Tissue threshold, as a fraction of the way from the 1st to the 99th grey percentile.
THRESHOLD = 0.1
#: Erosion and dilation steps (pixels of the shrunk copy) that detach markers.
OPENING = 2
#: Margin kept around the breast's bounding box, as a fraction of each image side.
MARGIN = 0.01


def check_preprocess(preprocess: str) -> str:
    """``preprocess`` if it is one of :data:`PREPROCESSING`, else a one-line error."""
    if preprocess not in PREPROCESSING:
        raise BcnetError(f"preprocess must be one of {PREPROCESSING}, not {preprocess!r}")
    return preprocess


def preprocess_extra(preprocess: str) -> dict[str, Any]:
    """The ``ModelInfo.extra`` entry that makes every later step repeat ``preprocess``.

    Example:
        >>> preprocess_extra("mammo"), preprocess_extra("none")
        ({'preprocess': 'mammo'}, {})
    """
    return {} if check_preprocess(preprocess) == "none" else {"preprocess": preprocess}


def preprocess_of(extra: dict[str, Any]) -> str:
    """The preprocessing a model was trained with, from its ``ModelInfo.extra``.

    Example:
        >>> preprocess_of({"preprocess": "mammo"}), preprocess_of({})
        ('mammo', 'none')
    """
    return check_preprocess(extra.get("preprocess", "none"))


def _shift_all(mask: np.ndarray, keep: bool) -> np.ndarray:
    """One 4-neighbour erosion (``keep=True``: AND) or dilation (OR) step."""
    padded = np.pad(mask, 1)
    neighbours = [padded[1:-1, 1:-1], padded[:-2, 1:-1], padded[2:, 1:-1]]
    neighbours += [padded[1:-1, :-2], padded[1:-1, 2:]]
    return np.logical_and.reduce(neighbours) if keep else np.logical_or.reduce(neighbours)


def largest_region(mask: np.ndarray) -> np.ndarray:
    """The largest 4-connected region of a boolean mask (all False if it is empty),
    labelled by runs: each row's runs of True joined with the runs they overlap in the
    row above.

    Example:
        >>> mask = np.array([[1, 1, 0, 1], [0, 1, 0, 0], [0, 0, 0, 1]], bool)
        >>> largest_region(mask).astype(int).tolist()
        [[1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]]
    """
    runs: list[tuple[int, int, int]] = []  # (row, start, end)
    parent: list[int] = []

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    above: list[int] = []
    for row in range(mask.shape[0]):
        edges = np.flatnonzero(np.diff(np.concatenate(([0], mask[row].astype(np.int8), [0]))))
        here = []
        for start, end in zip(edges[::2], edges[1::2], strict=True):
            index = len(runs)
            runs.append((row, int(start), int(end)))
            parent.append(index)
            for other in above:
                if runs[other][1] < end and start < runs[other][2]:
                    parent[find(other)] = find(index)
            here.append(index)
        above = here
    result = np.zeros(mask.shape, bool)
    if not runs:
        return result
    sizes: dict[int, int] = {}
    for index, (_, start, end) in enumerate(runs):
        root = find(index)
        sizes[root] = sizes.get(root, 0) + end - start
    best = max(sizes, key=sizes.__getitem__)
    for index, (row, start, end) in enumerate(runs):
        if find(index) == best:
            result[row, start:end] = True
    return result


def breast_region(grey: np.ndarray) -> tuple[slice, slice, bool]:
    """Rows and columns of the breast's bounding box (with margin) in a grey image,
    and whether the breast weighs more on the image's right half.

    Example:
        >>> grey = np.zeros((100, 80)); grey[20:70, 0:30] = 200
        >>> breast_region(grey)
        (slice(19, 71, None), slice(0, 31, None), False)
    """
    height, width = grey.shape
    factor = max(1, -(-max(height, width) // MASK_SIDE))
    rows, cols = height // factor, width // factor
    small = grey[: rows * factor, : cols * factor].reshape(rows, factor, cols, factor)
    small = small.mean(axis=(1, 3), dtype=np.float32)
    low, high = np.percentile(small, (1, 99))
    mask = small > low + THRESHOLD * (high - low)
    opened = mask
    for keep in [True] * OPENING + [False] * OPENING:
        opened = _shift_all(opened, keep)
    region = largest_region(opened if opened.any() else mask)
    if not region.any():
        return slice(0, height), slice(0, width), False
    found_rows = np.flatnonzero(region.any(axis=1))
    found_cols = np.flatnonzero(region.any(axis=0))
    pad_y, pad_x = round(MARGIN * height), round(MARGIN * width)
    top = max(0, found_rows[0] * factor - pad_y)
    bottom = min(height, (found_rows[-1] + 1) * factor + pad_y)
    left = max(0, found_cols[0] * factor - pad_x)
    right = min(width, (found_cols[-1] + 1) * factor + pad_x)
    weight = region.sum(axis=0)
    on_right = weight[cols // 2 :].sum() > weight[: cols // 2].sum()
    return slice(int(top), int(bottom)), slice(int(left), int(right)), bool(on_right)


def prepare_mammogram(
    image: np.ndarray, size: tuple[int, int], laterality: str | None = None
) -> np.ndarray:
    """Crop, flip and pad one decoded RGB ``uint8`` mammogram for a ``(height, width)``
    model input (the resize follows); see the module docstring.

    Args:
        image: ``(h, w, 3)`` ``uint8``, bright = dense.
        size: the model's input ``(height, width)``: only its aspect ratio is used.
        laterality: ``"L"`` or ``"R"`` (ImageLaterality); ``None``: judged from the image.
    """
    rows, cols, on_right = breast_region(image[..., 1])  # green: the grey of grey images
    cropped = image[rows, cols]
    if laterality == "R" or (laterality is None and on_right):
        cropped = cropped[:, ::-1]
    height, width = cropped.shape[:2]
    target_h, target_w = size
    if height * target_w > width * target_h:  # too tall: widen, away from the chest wall
        pad = round(height * target_w / target_h) - width
        padding = ((0, 0), (0, pad), (0, 0))
    else:  # too wide: heighten, equally above and below
        pad = round(width * target_h / target_w) - height
        padding = ((pad // 2, pad - pad // 2), (0, 0), (0, 0))
    return np.ascontiguousarray(np.pad(cropped, padding))


def prepared_pixels(
    image: np.ndarray, size: tuple[int, int], preprocess: str, laterality: str | None = None
) -> np.ndarray:
    """One decoded image as ``preprocess`` wants it before the resize (unchanged for
    ``"none"``).

    Example:
        >>> prepared_pixels(np.zeros((8, 6, 3), np.uint8), (4, 4), "none").shape
        (8, 6, 3)
    """
    if check_preprocess(preprocess) == "none":
        return image
    return prepare_mammogram(image, size, laterality)


def load_prepared(
    path: str | os.PathLike[str],
    size: tuple[int, int],
    preprocess: str,
    frame: int | None = None,
) -> np.ndarray:
    """Decode an image file (``frame``: of a multi-frame DICOM file) and apply
    ``preprocess`` (laterality from a DICOM header).

    Example:
        >>> load_prepared("RCC.dcm", (512, 416), "mammo").shape  # doctest: +SKIP
        (3410, 2778, 3)
    """
    image, laterality = decode_with_laterality(os.fspath(path), frame)
    return prepared_pixels(image, size, preprocess, laterality)
