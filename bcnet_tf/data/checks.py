"""Cheap image checks run before a model sees an image: blank, saturated, too small,
not an image of the colour the model was trained on.

They cost a few array reductions on a grid of at most about :data:`GRID` x
:data:`GRID` pixels of the decoded image (so the cost does not grow with the image)
and catch the captures no feature-space guard should have to judge. The same function
runs in the Keras-side code (export measures it) and on the device
(:mod:`bcnet_tf.edge`), so it uses numpy alone.

Example:
    >>> import numpy as np
    >>> check_image(np.full((64, 64, 3), 128, np.uint8), min_side=32)
    'blank image (no contrast)'
    >>> check_image(np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8), 32)
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

#: Grey-level standard deviation under which an image is blank (0..255 scale).
BLANK_STD = 2.0
#: Grey level from which a pixel counts as clipped white.
SATURATED_LEVEL = 250
#: Fraction of clipped-white pixels from which an image is saturated.
SATURATED_FRACTION = 0.5
#: Largest mean channel difference (grey levels) of an image that counts as grey.
GREY_TOLERANCE = 3.0
#: Pixels per side of the grid the checks look at (every n-th row and column).
GRID = 64
#: Colour modes a model can be trained on.
COLOUR_MODES = ("grey", "colour", "any")


def is_grey(image: np.ndarray) -> bool:
    """True when an RGB image's channels are (almost) equal: a grey image stored as RGB.

    Example:
        >>> is_grey(np.zeros((4, 4, 3), np.uint8))
        True
    """
    pixels = image.astype(np.int16)
    spread = np.abs(pixels[..., 0] - pixels[..., 1]) + np.abs(pixels[..., 1] - pixels[..., 2])
    return float(spread.mean()) <= GREY_TOLERANCE


def colour_mode(images: Iterable[np.ndarray], share: float = 0.95) -> str:
    """``"grey"`` or ``"colour"`` when at least ``share`` of ``images`` are so, else
    ``"any"``: what the colour check then expects of an input.

    Example:
        >>> colour_mode([np.zeros((4, 4, 3), np.uint8)] * 3)
        'grey'
    """
    grey = [is_grey(image) for image in images]
    if not grey:
        return "any"
    fraction = sum(grey) / len(grey)
    return "grey" if fraction >= share else "colour" if fraction <= 1 - share else "any"


def check_image(image: np.ndarray, min_side: int, colour: str = "any") -> str | None:
    """Why ``image`` (a decoded array, at its own size) cannot be judged by the model,
    or ``None`` when it passes every check.

    Args:
        image: ``(h, w)`` or ``(h, w, channels)`` pixels, 0..255.
        min_side: shortest side accepted, in pixels.
        colour: what the model was trained on: ``grey``, ``colour`` or ``any``.
    """
    if colour not in COLOUR_MODES:
        raise ValueError(f"colour must be one of {COLOUR_MODES}, not {colour!r}")
    image = np.asarray(image)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (1, 3, 4)):
        return f"not an image: array of shape {image.shape} (need h x w x 1, 3 or 4)"
    if min(image.shape[:2]) < min_side:
        return f"too small: {image.shape[0]}x{image.shape[1]} px (need {min_side}+ per side)"
    step = max(1, min(image.shape[:2]) // GRID)
    rgb = image[::step, ::step] if image.ndim == 3 else image[::step, ::step, None]
    rgb = rgb[..., :3] if rgb.shape[-1] >= 3 else np.repeat(rgb[..., :1], 3, axis=-1)
    channels = [rgb[..., c].astype(np.float32) for c in range(3)]
    if float(np.std(sum(channels) / 3)) < BLANK_STD:
        return "blank image (no contrast)"
    clipped = np.minimum(np.minimum(channels[0], channels[1]), channels[2]) >= SATURATED_LEVEL
    if float(np.mean(clipped)) >= SATURATED_FRACTION:
        return "saturated image (mostly clipped white)"
    if colour == "grey" and not is_grey(rgb):
        return "colour image, but the model was trained on grey images"
    if colour == "colour" and is_grey(rgb):
        return "grey image, but the model was trained on colour images"
    return None
