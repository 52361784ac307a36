"""Channel equalisation: the same function, rescaled only where it is safe, and an int8
file much closer to Keras on a model with one channel of huge activation range."""

from pathlib import Path

import keras
import numpy as np

from bcnet_tf.export.equalize import equalize_channels

layers = keras.layers


def _fire_model(seed: int = 0) -> keras.Model:
    """A small SqueezeNet-like model: squeeze -> two expands -> concat -> max pool ->
    conv -> pooled features -> softmax, with seeded weights."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(8, 3, activation="relu", name="stem")(inputs)
    squeeze = layers.Conv2D(4, 1, activation="relu", name="squeeze")(x)
    left = layers.Conv2D(6, 1, activation="relu", name="left")(squeeze)
    right = layers.Conv2D(6, 3, padding="same", activation="relu", name="right")(squeeze)
    x = layers.MaxPooling2D(2, name="pool")(layers.Concatenate(name="concat")([left, right]))
    x = layers.Conv2D(8, 1, activation="relu", name="last")(x)
    x = layers.GlobalAveragePooling2D(name="head_pool")(x)
    return keras.Model(inputs, layers.Dense(3, activation="softmax", name="predictions")(x))


def _images(count: int = 32) -> np.ndarray:
    return np.random.default_rng(1).uniform(0, 255, (count, 16, 16, 3)).astype(np.float32)


def test_rescales_only_channels_that_reach_weights_and_keeps_the_function() -> None:
    model = _fire_model()
    images = _images()
    equalized, rescaled = equalize_channels(model, images, protect=("head_pool",))
    # "last" feeds the protected pooled features; "predictions" is the model's output.
    assert rescaled == ["stem", "squeeze", "left", "right"]
    np.testing.assert_allclose(equalized(images), model(images), atol=1e-5)
    features = keras.Model(model.input, model.get_layer("head_pool").output)(images)
    equalized_features = keras.Model(equalized.input, equalized.get_layer("head_pool").output)
    np.testing.assert_allclose(equalized_features(images), features, rtol=1e-4, atol=1e-4)
    changed = [
        layer.name
        for layer, before in zip(equalized.layers, model.layers, strict=True)
        if layer.weights
        and not np.allclose(layer.get_weights()[0], before.get_weights()[0], rtol=1e-6)
    ]
    assert changed == ["stem", "squeeze", "left", "right", "last"]  # last reads "left"/"right"


def test_a_model_without_homogeneous_channels_comes_back_unchanged() -> None:
    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(4, 3, activation="sigmoid")(inputs)
    x = layers.Conv2D(4, 1, activation="relu")(x)
    model = keras.Model(inputs, layers.BatchNormalization()(x))
    equalized, rescaled = equalize_channels(model, _images(4))
    assert rescaled == []
    assert equalized is model


def test_int8_of_a_channel_with_a_huge_range_is_much_closer_to_keras(tmp_path: Path) -> None:
    """One squeeze channel computes 200x larger activations (and the expands read it
    200x weaker): the float function is ordinary, but one int8 scale for the whole
    tensor leaves the other channels almost no levels, unless equalised first."""
    from bcnet_tf.edge.runtime import TFLiteModel
    from bcnet_tf.export.convert import tflite_model, write_saved_model

    model = _fire_model(seed=3)
    squeeze = model.get_layer("squeeze")
    kernel, bias = squeeze.get_weights()
    kernel[..., 0] *= 200
    bias[0] *= 200
    squeeze.set_weights([kernel, bias])
    for name in ("left", "right"):
        reader = model.get_layer(name)
        kernel, bias = reader.get_weights()
        kernel[..., 0, :] /= 200
        reader.set_weights([kernel, bias])
    images = _images(64)
    expected = keras.Model(model.input, model.get_layer("concat").output)(images[:16])

    def int8_error(candidate: keras.Model, name: str) -> float:
        probe = keras.Model(candidate.input, candidate.get_layer("concat").output)
        blob = tflite_model(write_saved_model(probe, tmp_path / name), "int8", images)
        (tmp_path / f"{name}.tflite").write_bytes(blob)
        outputs = TFLiteModel(tmp_path / f"{name}.tflite").predict(images[:16])
        return float(np.sqrt(np.mean((outputs - expected) ** 2) / np.mean(expected**2)))

    equalized, rescaled = equalize_channels(model, images, protect=("concat",))
    assert "squeeze" in rescaled
    plain, even = int8_error(model, "plain"), int8_error(equalized, "equalized")
    assert even < plain / 3, (even, plain)
