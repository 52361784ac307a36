"""Bias correction: only biases move, and the int8 file's channel means come back to
Keras's on a model whose int8 weights are coarse."""

from pathlib import Path

import keras
import numpy as np

from bcnet_tf.export.bias import correct_biases, quantized_kernel

layers = keras.layers


def _coarse_model() -> keras.Model:
    """conv -> conv -> pooled features -> softmax, each output channel of the convs with
    one weight 60x its others, so int8 rounds the others to a few levels."""
    keras.utils.set_random_seed(5)
    inputs = keras.Input((12, 12, 3))
    x = layers.Conv2D(8, 3, activation="relu", name="first")(inputs)
    x = layers.Conv2D(8, 1, activation="relu", name="second")(x)
    x = layers.GlobalAveragePooling2D(name="head_pool")(x)
    model = keras.Model(inputs, layers.Dense(3, activation="softmax", name="predictions")(x))
    rng = np.random.default_rng(5)
    for name in ("first", "second"):
        layer = model.get_layer(name)
        kernel = rng.uniform(0.0, 0.1, layer.kernel.shape).astype(np.float32)
        kernel.reshape(-1, kernel.shape[-1])[0] *= 60
        layer.set_weights([kernel, np.zeros(kernel.shape[-1], np.float32)])
    return model


def _images(count: int) -> np.ndarray:
    return np.random.default_rng(2).uniform(0, 255, (count, 12, 12, 3)).astype(np.float32)


def test_int8_kernel_rounds_each_output_channel_to_its_own_127_levels() -> None:
    kernel = np.array([[2.54, 0.013], [1.011, -0.02]])
    # channel 0: step 2.54 / 127 = 0.02; channel 1: step 0.02 / 127
    expected = np.array([[2.54, 83 * 0.02 / 127], [1.02, -0.02]])
    np.testing.assert_allclose(quantized_kernel(kernel), expected, rtol=1e-6)


def test_only_the_biases_change_and_the_model_is_left_alone() -> None:
    model = _coarse_model()
    before = [weight.copy() for weight in model.get_weights()]
    corrected, names = correct_biases(model, _images(16))
    assert names == ["first", "second", "predictions"]
    for weight, original in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(weight, original)
    for name in names:
        kernel, bias = corrected.get_layer(name).get_weights()
        np.testing.assert_array_equal(kernel, model.get_layer(name).get_weights()[0])
        assert np.any(bias != 0), name


def test_a_model_without_biases_comes_back_unchanged() -> None:
    inputs = keras.Input((12, 12, 3))
    model = keras.Model(inputs, layers.Conv2D(4, 3, use_bias=False)(inputs))
    corrected, names = correct_biases(model, _images(4))
    assert names == [] and corrected is model


def test_int8_pooled_features_keep_keras_means(tmp_path: Path) -> None:
    """The int8 file (TFLite's own quantisation, not the simulation) of the corrected
    model has a smaller mean error per pooled channel against Keras."""
    from bcnet_tf.edge.runtime import TFLiteModel
    from bcnet_tf.export.convert import tflite_model, write_saved_model

    model = _coarse_model()
    images = _images(64)
    features = keras.Model(model.input, model.get_layer("head_pool").output)
    expected = np.asarray(features(images))

    def mean_error(candidate: keras.Model, name: str) -> float:
        probe = keras.Model(candidate.input, candidate.get_layer("head_pool").output)
        blob = tflite_model(write_saved_model(probe, tmp_path / name), "int8", images)
        (tmp_path / f"{name}.tflite").write_bytes(blob)
        outputs = TFLiteModel(tmp_path / f"{name}.tflite").predict(images)
        return float(np.abs((outputs - expected).mean(axis=0)).mean() / np.abs(expected).mean())

    corrected, _ = correct_biases(model, images)
    plain, fixed = mean_error(model, "plain"), mean_error(corrected, "corrected")
    assert fixed < plain / 3, (fixed, plain)
