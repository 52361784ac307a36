"""RandomAffine: exact geometry, inference identity, Keras serialisation; the ``bcnet``
policy against the legacy ``ImageDataGenerator`` it reproduces."""

from pathlib import Path

import keras
import numpy as np
import pytest

from bcnet_tf.data.augment import augmentation_policy
from bcnet_tf.data.layers import RandomAffine


def _grid(batch: int = 1, size: int = 5) -> np.ndarray:
    return np.tile(
        np.arange(size * size, dtype="float32").reshape(1, size, size, 1), (batch, 1, 1, 1)
    )


def test_identity_at_inference() -> None:
    layer = RandomAffine(rotation=0.5, zoom=0.3, translation=0.2, horizontal_flip=True)
    np.testing.assert_array_equal(layer(_grid(), training=False), _grid())


def test_flips_are_exact_and_random() -> None:
    layer = RandomAffine(horizontal_flip=True, interpolation="nearest", seed=3)
    out = keras.ops.convert_to_numpy(layer(_grid(16), training=True))
    flipped = [np.array_equal(o, _grid()[0, :, ::-1]) for o in out]
    kept = [np.array_equal(o, _grid()[0]) for o in out]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert 0 < sum(flipped) < 16


def test_quarter_turn_rotation_is_exact() -> None:
    layer = RandomAffine(rotation=(0.25, 0.25), interpolation="nearest")
    out = keras.ops.convert_to_numpy(layer(_grid(), training=True))[0, ..., 0]
    np.testing.assert_array_equal(out, np.rot90(_grid()[0, ..., 0], k=1))


def test_zoom_per_axis_changes_aspect() -> None:
    layer = RandomAffine(zoom=((-0.5, -0.5), (0.0, 0.0)), interpolation="nearest")
    image = np.zeros((1, 9, 9, 1), "float32")
    image[0, 3:6, :, 0] = 1  # horizontal band of height 3
    out = keras.ops.convert_to_numpy(layer(image, training=True))[0, :, 4, 0]
    assert out.sum() == pytest.approx(6)  # zoomed in 2x vertically only


def test_bcnet_policy_zooms_like_image_data_generator() -> None:
    pytest.importorskip("scipy")  # the legacy generator resamples with scipy.ndimage
    from keras.src.legacy.preprocessing.image import ImageDataGenerator

    image = np.random.default_rng(0).uniform(0, 255, (24, 24, 3)).astype("float32")
    zx, zy = 1.15, 0.85  # width sampled wider (fill at the sides), height narrower
    expected = ImageDataGenerator(zoom_range=0.2).apply_transform(image, {"zx": zx, "zy": zy})
    (policy_layer,) = augmentation_policy("bcnet").layers
    fixed_zoom = ((zy - 1, zy - 1), (zx - 1, zx - 1))  # (height, width): one value each
    layer = RandomAffine.from_config({**policy_layer.get_config(), "zoom": fixed_zoom})
    out = keras.ops.convert_to_numpy(layer(image[None], training=True))[0]
    np.testing.assert_allclose(out, expected, atol=0.01)  # float32 rounding on 0..255


def test_saved_inside_a_model(tmp_path: Path) -> None:
    inputs = keras.Input((8, 8, 3))
    outputs = RandomAffine(zoom=(0.2, 0.2), horizontal_flip=True, seed=1)(inputs)
    model = keras.Model(inputs, outputs)
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras")
    layer = restored.layers[1]
    assert isinstance(layer, RandomAffine)
    assert layer.get_config()["zoom"] == [0.2, 0.2] or layer.get_config()["zoom"] == (0.2, 0.2)
