"""Keras preprocessing layers of bcnet_tf (registered, serialisable)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops


def _symmetric(value: float | Sequence[float]) -> tuple[float, float]:
    if isinstance(value, int | float):
        return -float(value), float(value)
    low, high = value
    return float(low), float(high)


@keras.saving.register_keras_serializable(package="bcnet_tf")
class RandomAffine(keras.layers.Layer):
    """Random rotation, per-axis zoom, translation and flips in ONE resampling.

    Chaining ``RandomRotation``, ``RandomZoom``, ``RandomTranslation`` and
    ``RandomFlip`` interpolates the image once per layer: slower, and each pass blurs.
    This layer composes them into one affine matrix per image and calls
    ``keras.ops.image.affine_transform`` once — the way ``ImageDataGenerator`` and
    torchvision's ``RandomAffine`` work. At inference it is the identity.

    Args:
        rotation: max angle as a fraction of a full turn (``0.25`` = ±90°), or a range.
        zoom: max relative scale change; ``(height, width)`` draws each axis
            independently (ImageDataGenerator's ``zoom_range``), a float keeps the
            aspect ratio. Positive scale samples a larger area (zooms out).
        translation: max shift as a fraction of ``(height, width)``.
        horizontal_flip: flip half of the images left to right.
        vertical_flip: flip half of the images upside down.
        interpolation: ``"bilinear"`` or ``"nearest"``.
        fill_mode: ``"reflect"``, ``"wrap"``, ``"constant"`` or ``"nearest"``.
        seed: random seed.

    Example:
        >>> layer = RandomAffine(zoom=(0.2, 0.2), horizontal_flip=True, seed=0)
        >>> tuple(layer(keras.ops.ones((2, 32, 32, 3)), training=True).shape)
        (2, 32, 32, 3)
    """

    def __init__(
        self,
        rotation: float | Sequence[float] = 0.0,
        zoom: float | Sequence[float] = 0.0,
        translation: float | Sequence[float] = 0.0,
        horizontal_flip: bool = False,
        vertical_flip: bool = False,
        interpolation: str = "bilinear",
        fill_mode: str = "reflect",
        fill_value: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.rotation = rotation
        self.zoom = zoom
        self.translation = translation
        self.horizontal_flip = horizontal_flip
        self.vertical_flip = vertical_flip
        self.interpolation = interpolation
        self.fill_mode = fill_mode
        self.fill_value = fill_value
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = False

    def _uniform(self, batch: Any, bounds: tuple[float, float]) -> Any:
        low, high = bounds
        if low == high:
            return ops.full((batch,), low, "float32")
        return keras.random.uniform((batch,), low, high, seed=self.seed_generator)

    def _flip_sign(self, batch: Any, enabled: bool) -> Any:
        if not enabled:
            return ops.ones((batch,), "float32")
        coin = keras.random.uniform((batch,), seed=self.seed_generator)
        return ops.where(coin < 0.5, -1.0, 1.0)

    def transform_matrix(self, batch: Any, height: Any, width: Any) -> Any:
        """Per-image ``(batch, 8)`` projective transforms (output -> input pixel)."""
        zoom = self.zoom
        if isinstance(zoom, int | float):
            scale_y = scale_x = 1.0 + self._uniform(batch, _symmetric(zoom))
        else:
            scale_y = 1.0 + self._uniform(batch, _symmetric(zoom[0]))
            scale_x = 1.0 + self._uniform(batch, _symmetric(zoom[1]))
        scale_x = scale_x * self._flip_sign(batch, self.horizontal_flip)
        scale_y = scale_y * self._flip_sign(batch, self.vertical_flip)
        angle = self._uniform(batch, _symmetric(self.rotation)) * (2.0 * math.pi)
        shift = self.translation
        shift_y, shift_x = (shift, shift) if isinstance(shift, int | float) else shift
        height = ops.cast(height, "float32")
        width = ops.cast(width, "float32")
        dy = self._uniform(batch, _symmetric(shift_y)) * height
        dx = self._uniform(batch, _symmetric(shift_x)) * width
        cos, sin = ops.cos(angle), ops.sin(angle)
        # input = R(angle) @ diag(scale_x, scale_y) @ (output - centre) + centre + shift
        a0, a1 = cos * scale_x, -sin * scale_y
        b0, b1 = sin * scale_x, cos * scale_y
        cx, cy = (width - 1.0) / 2.0, (height - 1.0) / 2.0
        a2 = cx + dx - a0 * cx - a1 * cy
        b2 = cy + dy - b0 * cx - b1 * cy
        zeros = ops.zeros_like(a0)
        return ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if not training:
            return inputs
        images = ops.cast(inputs, self.compute_dtype)
        unbatched = len(images.shape) == 3
        if unbatched:
            images = ops.expand_dims(images, 0)
        shape = ops.shape(images)
        transform = self.transform_matrix(shape[0], shape[1], shape[2])
        output = ops.image.affine_transform(
            images,
            transform,
            interpolation=self.interpolation,
            fill_mode=self.fill_mode,
            fill_value=self.fill_value,
        )
        return output[0] if unbatched else output

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            rotation=self.rotation,
            zoom=self.zoom,
            translation=self.translation,
            horizontal_flip=self.horizontal_flip,
            vertical_flip=self.vertical_flip,
            interpolation=self.interpolation,
            fill_mode=self.fill_mode,
            fill_value=self.fill_value,
            seed=self.seed,
        )
        return config


#: Ruifrok & Johnston (2001) optical-density vectors of haematoxylin, eosin and DAB,
#: one per row: scikit-image's ``rgb_from_hed`` (the tests check they agree).
RGB_FROM_HED = ((0.65, 0.70, 0.29), (0.07, 0.99, 0.11), (0.27, 0.57, 0.78))


@keras.saving.register_keras_serializable(package="bcnet_tf")
class RandomStainJitter(keras.layers.Layer):
    """H&E stain augmentation (Tellez et al. 2019, "HED" colour augmentation).

    Each image is unmixed into haematoxylin, eosin and DAB concentrations (colour
    deconvolution with :data:`RGB_FROM_HED`, in optical density ``-ln((x + 1) / 256)``),
    each concentration ``c`` becomes ``c * a + b`` with ``a`` drawn from
    ``[1 - scale, 1 + scale]`` and ``b`` from ``[-shift, shift]`` per image and stain,
    and the image is re-mixed. Colours change the way staining protocols differ; the
    tissue's structure does not move. At inference it is the identity.

    Args:
        scale: largest relative change of a stain's concentration (Tellez's
            "HED-light" uses 0.05, "HED-strong" 0.2).
        shift: largest additive change, in optical-density units.
        seed: random seed.

    Example:
        >>> layer = RandomStainJitter(scale=0.05, shift=0.05, seed=0)
        >>> tuple(layer(keras.ops.full((2, 16, 16, 3), 128.0), training=True).shape)
        (2, 16, 16, 3)
    """

    def __init__(
        self, scale: float = 0.05, shift: float = 0.05, seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.scale = scale
        self.shift = shift
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if not training:
            return inputs
        images = ops.cast(inputs, "float32")
        unbatched = len(images.shape) == 3
        if unbatched:
            images = ops.expand_dims(images, 0)
        batch = ops.shape(images)[0]
        mix = ops.convert_to_tensor(RGB_FROM_HED, "float32")
        density = -ops.log((ops.clip(images, 0.0, 255.0) + 1.0) / 256.0)
        stains = ops.matmul(density, ops.inv(mix))
        factor = keras.random.uniform(
            (batch, 1, 1, 3), 1.0 - self.scale, 1.0 + self.scale, seed=self.seed_generator
        )
        offset = keras.random.uniform(
            (batch, 1, 1, 3), -self.shift, self.shift, seed=self.seed_generator
        )
        remixed = ops.matmul(stains * factor + offset, mix)
        output = ops.clip(256.0 * ops.exp(-remixed) - 1.0, 0.0, 255.0)
        output = ops.cast(output, self.compute_dtype)
        return output[0] if unbatched else output

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(scale=self.scale, shift=self.shift, seed=self.seed)
        return config
