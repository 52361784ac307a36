"""Hard-swish spelled out for int8: the same function, every op in one XNNPACK
partition, and int8 outputs as close to Keras as the fused op's."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from bcnet_tf.edge.runtime import TFLiteModel
from bcnet_tf.export.activations import spell_out_hard_swish, spelled_hard_swish
from bcnet_tf.export.card import model_card
from bcnet_tf.export.convert import tflite_model, write_saved_model

layers = keras.layers


def _mobile_model(activation: str = "hard_swish") -> keras.Model:
    """MobileNetV3-like: conv -> BN -> hard-swish -> depthwise -> BN -> hard-swish ->
    conv with hard-swish -> pooled features -> softmax, with seeded weights."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((16, 16, 3))
    x = layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="stem")(x)
    x = layers.BatchNormalization(name="stem_bn")(x)
    stem = layers.Activation(activation, name="stem_act")(x)
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(stem)
    x = layers.BatchNormalization(name="dw_bn")(x)
    x = layers.Activation(activation, name="dw_act")(x)
    x = layers.Add(name="residual")([stem, x])
    x = layers.Conv2D(24, 1, activation=activation, name="expand")(x)
    x = layers.GlobalAveragePooling2D(name="head_pool")(x)
    model = keras.Model(inputs, layers.Dense(3, activation="softmax", name="predictions")(x))
    for layer in model.layers:  # BN statistics as after training, not the identity
        if isinstance(layer, layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            rng = np.random.default_rng(len(layer.name))
            layer.set_weights([gamma * 2, rng.normal(0, 1, beta.shape), mean + 0.1, variance * 0.5])
    return model


def _pixels(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (count, 16, 16, 3)).astype(np.float32)


def test_spelled_hard_swish_is_hard_swish() -> None:
    x = np.linspace(-8, 8, 161, dtype=np.float32)
    reference = x * np.clip(x + 3, 0, 6) / 6  # Howard et al. 2019
    spelled = keras.ops.convert_to_numpy(spelled_hard_swish(keras.ops.convert_to_tensor(x)))
    np.testing.assert_allclose(spelled, reference, atol=1e-6)


def test_only_hard_swish_layers_are_spelled_out_and_the_function_is_kept() -> None:
    model = _mobile_model()
    pixels = _pixels(8, 0)
    spelled, names = spell_out_hard_swish(model)
    assert names == ["stem_act", "dw_act", "expand"]
    np.testing.assert_allclose(spelled(pixels), model(pixels), atol=1e-6)
    assert model.get_layer("expand").activation is not spelled_hard_swish  # a copy
    inputs = keras.Input((4, 4, 3))
    plain = keras.Model(inputs, layers.Conv2D(2, 1, activation="relu")(inputs))
    assert spell_out_hard_swish(plain) == (plain, [])


def _int8(model: keras.Model, folder: Path) -> Path:
    blob = tflite_model(write_saved_model(model, folder / "sm"), "int8", _pixels(128, 1))
    path = folder / "model.tflite"
    path.write_bytes(blob)
    return path


def _ops(path: Path, delegated: bool) -> list[str]:
    resolver = OpResolverType.AUTO
    if not delegated:
        resolver = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = Interpreter(model_path=str(path), experimental_op_resolver_type=resolver)
    interpreter.allocate_tensors()
    return [op["op_name"] for op in interpreter._get_ops_details()]


def _int8_error(model: keras.Model, path: Path) -> float:
    """Largest error of the pooled features (the probabilities are int8 too: their
    1/256 steps would hide the difference) relative to their largest value."""
    pixels = _pixels(64, 2)
    features = keras.Model(model.input, model.get_layer("head_pool").output)(pixels)
    error = np.abs(TFLiteModel(path).run(pixels)["features"] - features)
    return float(error.max() / np.abs(features).max())


def _other_order(x: object) -> object:
    """hard-swish spelled with the operands of the product swapped."""
    return keras.ops.multiply(keras.ops.multiply(x, 1.0 / 6.0), keras.ops.relu6(x + 3.0))


@pytest.fixture(scope="module")
def int8_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    model = _mobile_model()
    spelled, names = spell_out_hard_swish(model)
    swapped, _ = spell_out_hard_swish(model)
    for name in names:
        swapped.get_layer(name).activation = _other_order
    candidates = {"fused": model, "spelled": spelled, "swapped": swapped}
    candidates["relu"] = _mobile_model("relu")
    files = {}
    for name, candidate in candidates.items():
        folder = tmp_path_factory.mktemp(name)
        files[name] = _int8(candidate, folder)
    return files


def test_spelled_int8_file_has_no_hard_swish_and_no_more_xnnpack_partitions_than_relu(
    int8_files: dict[str, Path],
) -> None:
    """XNNPACK partitions: as many as the same model with ReLU (whose int8 ops all run
    in XNNPACK), where the fused file has one more per HARD_SWISH."""
    assert _ops(int8_files["fused"], delegated=False).count("HARD_SWISH") == 3
    assert "HARD_SWISH" not in _ops(int8_files["spelled"], delegated=False)
    relu = _ops(int8_files["relu"], delegated=True).count("DELEGATE")
    assert _ops(int8_files["spelled"], delegated=True).count("DELEGATE") == relu
    assert _ops(int8_files["fused"], delegated=True).count("DELEGATE") == relu + 3


def test_spelled_int8_file_is_as_close_to_keras_as_the_fused_one(
    int8_files: dict[str, Path],
) -> None:
    model = _mobile_model()
    fused = _int8_error(model, int8_files["fused"])
    spelled = _int8_error(model, int8_files["spelled"])
    swapped = _int8_error(model, int8_files["swapped"])
    assert spelled < 1.1 * fused, (spelled, fused)
    assert swapped > 1.3 * fused, (swapped, fused)  # why the operand order matters


def test_model_card_names_the_spelled_out_layers(bundle: Path) -> None:
    spec = json.loads((bundle / "spec.json").read_text())
    assert spec["artifacts"]["model_int8.tflite"]["spelled_out_layers"] == []  # no hard-swish
    assert "hard-swish" not in model_card(spec, None)
    spec["artifacts"]["model_int8.tflite"]["spelled_out_layers"] = ["stem_act", "expand"]
    assert "hard-swish of 2 layers (`stem_act`, `expand`)" in model_card(spec, None)
