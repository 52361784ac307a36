"""Stain normalisation and augmentation on the real BreakHis samples in ../shared."""

import keras
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from bcnet_tf.data.decode import decode_rgb
from bcnet_tf.data.layers import RGB_FROM_HED, RandomStainJitter
from bcnet_tf.pathology.stain import (
    StainNormalizer,
    StainWarning,
    lab_statistics,
    macenko_stains,
)
from tests.conftest import SHARED

#: Largest difference of a stain-vector component between the reference and an image
#: normalised to it (measured: at most 0.050 over the 11 samples), and the least cosine
#: similarity of each stain vector (measured: at least 0.997).
STAIN_TOLERANCE = 0.06
STAIN_COSINE = 0.99


@pytest.fixture(scope="module")
def breakhis() -> list[np.ndarray]:
    folder = SHARED / "data" / "breakhis_samples"
    if not folder.is_dir():
        pytest.skip("../shared/data/breakhis_samples is not present")
    files = sorted(folder.glob("*.png"))
    assert len(files) == 12
    return [decode_rgb(str(f)) for f in files]


def test_macenko_normalised_images_carry_the_reference_stain_vectors(breakhis) -> None:
    reference, others = breakhis[0], breakhis[1:]
    normalizer = StainNormalizer.fit("macenko", [reference])
    target = np.reshape(normalizer.reference, (3, 2))
    for image in others:
        normalized = normalizer(image)
        assert normalized.shape == image.shape == (460, 700, 3)  # numpy backend: no transpose
        assert normalized.dtype == np.uint8
        stains, _ = macenko_stains(normalized)
        assert np.abs(stains - target).max() <= STAIN_TOLERANCE
        cosines = np.sum(stains * target, axis=0) / (
            np.linalg.norm(stains, axis=0) * np.linalg.norm(target, axis=0)
        )
        assert cosines.min() >= STAIN_COSINE
        # and the image really changed where its own stains differed
        own, _ = macenko_stains(image)
        if np.abs(own - target).max() > 0.1:
            assert np.abs(normalized.astype(int) - image).mean() > 2


def test_reinhard_matches_the_reference_lab_statistics(breakhis) -> None:
    normalizer = StainNormalizer.fit("reinhard", [breakhis[0]])
    for image in breakhis[1:]:
        means, stds = lab_statistics(normalizer(image))
        assert np.abs(means - normalizer.reference).max() < 0.5  # uint8 rounding
        assert np.abs(stds - normalizer.scales).max() < 0.1


def test_a_set_of_references_pools_their_pixels(breakhis) -> None:
    pair = StainNormalizer.fit("reinhard", breakhis[:2])
    pooled = np.concatenate([breakhis[0], breakhis[1]])
    assert np.allclose(pair.reference, lab_statistics(pooled)[0], atol=1e-4)


def test_json_round_trip_repeats_the_transform(breakhis) -> None:
    for method in ("macenko", "reinhard"):
        normalizer = StainNormalizer.fit(method, [breakhis[0]])
        restored = StainNormalizer.from_json(normalizer.to_json())
        assert restored == normalizer
        assert np.array_equal(restored(breakhis[3]), normalizer(breakhis[3]))


def _one_stain_image() -> np.ndarray:
    concentration = np.random.default_rng(0).uniform(0, 1.5, (64, 64, 1))
    return (240 * np.exp(-concentration * np.array(RGB_FROM_HED[0]))).astype(np.uint8)


BACKGROUND = np.full((64, 64, 3), 250, np.uint8)
BLACK = np.zeros((64, 64, 3), np.uint8)


@pytest.mark.parametrize(
    ("method", "image"),
    [
        ("macenko", BACKGROUND),
        ("macenko", BLACK),
        ("macenko", _one_stain_image()),  # Reinhard is well-posed on one stain
        ("reinhard", BACKGROUND),
        ("reinhard", BLACK),
    ],
    ids=[
        "macenko-background",
        "macenko-black",
        "macenko-one-stain",
        "reinhard-background",
        "reinhard-black",
    ],
)
def test_ill_posed_images_fall_back_unchanged_with_a_warning(breakhis, method, image) -> None:
    normalizer = StainNormalizer.fit(method, [breakhis[0]])
    with pytest.warns(StainWarning, match="used as it is"):
        result = normalizer(image)
    assert np.array_equal(result, image)


def test_fitting_to_background_is_refused() -> None:
    with pytest.raises(ValueError, match="background"):
        StainNormalizer.fit("macenko", [np.full((32, 32, 3), 252, np.uint8)])


def _edges(image: np.ndarray) -> np.ndarray:
    grey = image.astype(np.float64).mean(axis=-1)
    return np.hypot(ndimage.sobel(grey, 0), ndimage.sobel(grey, 1))


def test_stain_jitter_changes_colour_not_structure(breakhis) -> None:
    images = np.stack(
        [np.asarray(Image.fromarray(i).resize((175, 115)), np.float32) for i in breakhis[:4]]
    )
    layer = RandomStainJitter(scale=0.2, shift=0.2, seed=1)
    jittered = keras.ops.convert_to_numpy(layer(images, training=True))
    assert jittered.shape == images.shape and np.isfinite(jittered).all()
    for before, after in zip(images, jittered, strict=True):
        colour_change = np.abs(before.mean(axis=(0, 1)) - after.mean(axis=(0, 1))).max()
        assert colour_change > 3  # mean colour moves by several grey levels
        correlation = np.corrcoef(_edges(before).ravel(), _edges(after).ravel())[0, 1]
        assert correlation > 0.9  # edges stay where they were
    # the identity at inference and with no jitter
    assert np.array_equal(keras.ops.convert_to_numpy(layer(images, training=False)), images)
    still = RandomStainJitter(scale=0.0, shift=0.0)(images, training=True)
    assert np.abs(keras.ops.convert_to_numpy(still) - images).max() < 0.05


def test_stain_jitter_uses_scikit_image_stain_vectors_and_serialises() -> None:
    from skimage.color import rgb_from_hed

    assert np.allclose(RGB_FROM_HED, rgb_from_hed)
    layer = RandomStainJitter(scale=0.1, shift=0.02, seed=3)
    clone = RandomStainJitter.from_config(layer.get_config())
    assert (clone.scale, clone.shift, clone.seed) == (0.1, 0.02, 3)
    model = keras.Sequential([keras.Input((8, 8, 3)), layer])
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    assert isinstance(restored.layers[0], RandomStainJitter)
