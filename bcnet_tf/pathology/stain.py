"""H&E stain normalisation: Macenko and Reinhard, fitted once, saved with the model.

Slides from different labs, scanners and staining days differ in colour far more than
the tissue does; a classifier trained on one lab's pink learns the pink. Stain
normalisation maps every image onto a reference's colours before it reaches the model.

* **Macenko** (Macenko et al., ISBI 2009): estimates each image's haematoxylin and
  eosin optical-density vectors and re-renders its stain concentrations with the
  reference's vectors. Needs both stains and enough tissue.
* **Reinhard** (Reinhard et al. 2001): matches the mean and standard deviation of each
  LAB channel to the reference's. Cheap, works on anything, ignores stain physics.

The mathematics is torchstain's numpy backend (kept, numpy-only; its TensorFlow
backend returned a transposed ``(width, 3, height)`` array here, so it is not used).
This module adds what a pipeline needs around it: fitting on one reference image or a
set of them, a JSON form that travels inside the model file (so evaluation, export and
the edge predictor repeat the same transform), and a fallback for images where
normalisation is ill-posed (mostly background, one stain only): the image is returned
unchanged with a :class:`StainWarning`, never NaNs.

It imports no TensorFlow: the edge predictor uses it too.

Example:
    >>> normalizer = StainNormalizer.fit("macenko", [reference_rgb])   # doctest: +SKIP
    >>> normalized = normalizer(image_rgb)                             # doctest: +SKIP
    >>> StainNormalizer.from_json(normalizer.to_json()) == normalizer  # doctest: +SKIP
    True
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torchstain.numpy.normalizers import NumpyMacenkoNormalizer, NumpyReinhardNormalizer

from bcnet_tf.pathology.tiles import tissue_mask

METHODS = ("macenko", "reinhard")

#: Macenko's light intensity and transparent-pixel threshold (torchstain's defaults).
_MACENKO_IO = 240
_MACENKO_BETA = 0.15
#: Below this share of stained (Macenko) or tissue (Reinhard) pixels, an image is
#: treated as background.
MIN_STAINED_FRACTION = 0.05
#: Haematoxylin and eosin vectors closer than this (degrees) mean one stain only.
MIN_STAIN_ANGLE = 5.0


class StainWarning(UserWarning):
    """An image could not be stain-normalised and is used unchanged."""


def stained_fraction(image: np.ndarray) -> float:
    """Share of pixels Macenko counts as stained: optical density at least 0.15 in every
    channel (light intensity 240), i.e. not glass or background.

    Example:
        >>> stained_fraction(np.full((4, 4, 3), 250, np.uint8))
        0.0
    """
    density = -np.log((image.reshape(-1, 3).astype(np.float64) + 1) / _MACENKO_IO)
    return float(np.all(density >= _MACENKO_BETA, axis=1).mean())


def _stain_angle(stains: np.ndarray) -> float:
    """Angle in degrees between the haematoxylin and eosin columns of a 3x2 matrix."""
    h, e = stains[:, 0], stains[:, 1]
    cosine = abs(h @ e) / (np.linalg.norm(h) * np.linalg.norm(e))
    return float(np.degrees(np.arccos(np.clip(cosine, 0.0, 1.0))))


def macenko_stains(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An image's Macenko stain matrix (3x2: haematoxylin, eosin optical-density unit
    vectors) and the 99th-percentile concentration of each stain.

    Raises:
        ValueError: too little stained tissue, one stain only, or no finite estimate.

    Example:
        >>> stains, max_concentrations = macenko_stains(image_rgb)  # doctest: +SKIP
        >>> stains.shape, max_concentrations.shape                  # doctest: +SKIP
        ((3, 2), (2,))
    """
    if stained_fraction(image) < MIN_STAINED_FRACTION:
        raise ValueError("mostly background: too few stained pixels")
    estimator = NumpyMacenkoNormalizer()
    try:
        with np.errstate(all="ignore"):
            estimator.fit(image, Io=_MACENKO_IO, beta=_MACENKO_BETA)
    except np.linalg.LinAlgError as error:
        raise ValueError(f"no stain estimate ({error})") from None
    stains, maxima = np.asarray(estimator.HERef), np.asarray(estimator.maxCRef)
    if not (np.all(np.isfinite(stains)) and np.all(np.isfinite(maxima)) and np.all(maxima > 0)):
        raise ValueError("the stain estimate is not finite")
    angle = _stain_angle(stains)
    if angle < MIN_STAIN_ANGLE:
        raise ValueError(f"one stain only: stain vectors under {MIN_STAIN_ANGLE:g} degrees apart")
    return stains, maxima


def lab_statistics(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of the L, a, b channels (torchstain's LAB scaling:
    L in 0..100, a and b centred on 0), as Reinhard matches them.

    Example:
        >>> means, stds = lab_statistics(image_rgb)  # doctest: +SKIP
    """
    estimator = NumpyReinhardNormalizer()
    estimator.fit(image)
    return np.asarray(estimator.target_means), np.asarray(estimator.target_stds)


def _as_one_image(images: Sequence[np.ndarray]) -> np.ndarray:
    """The pixels of several images as one ``(n, 1, 3)`` image: fitting on it fits the
    set (both estimators only use pixel statistics)."""
    if len(images) == 0:
        raise ValueError("stain normalisation needs at least one reference image")
    return np.concatenate([np.asarray(i, np.uint8).reshape(-1, 1, 3) for i in images])


@dataclass(frozen=True)
class StainNormalizer:
    """A fitted stain normaliser: call it on a ``uint8`` RGB image.

    Attributes:
        method: ``"macenko"`` or ``"reinhard"``.
        reference: Macenko: the reference's 3x2 stain matrix, row by row; Reinhard: its
            LAB channel means.
        scales: Macenko: the reference's max stain concentrations; Reinhard: its LAB
            channel standard deviations.
    """

    method: str
    reference: tuple[float, ...]
    scales: tuple[float, ...]

    @classmethod
    def fit(cls, method: str, images: Sequence[np.ndarray]) -> StainNormalizer:
        """Fit to one reference image or a set of them (their pixels pooled).

        Raises:
            ValueError: unknown method, or (Macenko) references with too little tissue
                or a single stain.

        Example:
            >>> normalizer = StainNormalizer.fit("reinhard", [reference_rgb])  # doctest: +SKIP
        """
        if method not in METHODS:
            raise ValueError(f"stain method must be one of {METHODS}, not {method!r}")
        pooled = _as_one_image(images)
        if method == "macenko":
            try:
                stains, scales = macenko_stains(pooled)
            except ValueError as error:
                raise ValueError(f"cannot fit Macenko to the reference images: {error}") from None
        else:
            stains, scales = lab_statistics(pooled)
        return cls(method, _floats(stains), _floats(scales))

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """The normalised ``uint8`` image; the input unchanged (with a
        :class:`StainWarning`) where normalisation is ill-posed."""
        image = np.asarray(image, np.uint8)
        try:
            if self.method == "macenko":
                return self._macenko(image)
            return self._reinhard(image)
        except ValueError as error:
            warnings.warn(
                f"{self.method} stain normalisation is ill-posed for an image ({error}); it "
                "is used as it is.",
                StainWarning,
                stacklevel=2,
            )
            return image

    def _macenko(self, image: np.ndarray) -> np.ndarray:
        macenko_stains(image)  # raises where the estimate is ill-posed
        normalizer = NumpyMacenkoNormalizer()
        normalizer.HERef = np.reshape(self.reference, (3, 2))
        normalizer.maxCRef = np.array(self.scales)
        with np.errstate(all="ignore"):
            normalized, _, _ = normalizer.normalize(
                image, Io=_MACENKO_IO, beta=_MACENKO_BETA, stains=False
            )
        return normalized

    def _reinhard(self, image: np.ndarray) -> np.ndarray:
        if tissue_mask(image).mean() < MIN_STAINED_FRACTION:
            raise ValueError("mostly background")
        _, stds = lab_statistics(image)
        if np.any(stds < 1e-3):
            raise ValueError("a LAB channel is constant")
        normalizer = NumpyReinhardNormalizer()
        normalizer.target_means = np.array(self.reference)
        normalizer.target_stds = np.array(self.scales)
        return normalizer.normalize(image)

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "reference": self.reference, "scales": self.scales}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StainNormalizer:
        return cls(data["method"], _floats(data["reference"]), _floats(data["scales"]))


def _floats(values: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in np.ravel(values))
