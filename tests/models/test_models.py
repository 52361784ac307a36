"""Architecture details: heads, freezing, attention, preprocessing."""

import keras
import numpy as np
import pytest

from bcnet_tf.models import HeadConfig, build_model
from bcnet_tf.models.layers import ChannelAttention
from bcnet_tf.models.preprocessing import preprocessing_layer
from bcnet_tf.models.weights import WeightsError


def test_bcnet_matches_the_study() -> None:
    model = build_model("bcnet_vgg16", 3, image_size=64)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [(d.units, d.activation.__name__) for d in dense] == [
        (1024, "relu"),
        (1024, "relu"),
        (3, "softmax"),
    ]
    assert isinstance(model.get_layer("head_pool"), keras.layers.GlobalAveragePooling2D)
    conv = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(conv) == 13 and not any(layer.trainable for layer in conv)  # frozen VGG16


def test_attention_model_matches_the_study() -> None:
    model = build_model("resnet50_attention", 2, image_size=64)
    attention = model.get_layer("layer4_attention")
    assert attention.input.shape[-1] == 2048 and attention.trainable
    assert [model.get_layer(n).activation.__name__ for n in ("head_fc1", "head_fc2")] == [
        "leaky_relu",
        "relu",
    ]
    assert model.get_layer("head_fc1_dropout").rate == 0.25


def test_channel_attention_scales_channels_between_zero_and_one() -> None:
    x = np.random.default_rng(0).uniform(0.5, 1.0, (2, 5, 5, 32)).astype("float32")
    y = keras.ops.convert_to_numpy(ChannelAttention(reduction=4)(x))
    ratio = y / x
    assert np.all((ratio > 0) & (ratio < 1))
    np.testing.assert_allclose(ratio, ratio[:, :1, :1, :].repeat(5, 1).repeat(5, 2), rtol=1e-5)


def test_freeze_last_stages_and_frozen_batchnorm_stays_in_inference_mode() -> None:
    model = build_model("resnet18", 2, image_size=48, freeze=1)
    assert model.get_layer("layer4_1_conv2").trainable
    assert not model.get_layer("layer3_1_conv2").trainable
    assert not model.get_layer("bn1").trainable
    frozen_bn = model.get_layer("layer1_0_bn1")
    before = [w.numpy().copy() for w in frozen_bn.weights]
    model.compile("sgd", "categorical_crossentropy")
    images = np.random.default_rng(0).uniform(0, 255, (4, 48, 48, 3)).astype("float32")
    model.train_on_batch(images, keras.utils.to_categorical([0, 1, 0, 1], 2))
    for old, new in zip(before, frozen_bn.weights, strict=True):
        np.testing.assert_array_equal(old, new.numpy())  # moving stats untouched
    assert model.get_layer("layer4_1_bn2").moving_mean.numpy().any()  # trainable BN updated


def test_freeze_all_leaves_only_the_head_trainable() -> None:
    model = build_model("squeezenet", 2, image_size=64)
    trainable = {w.path.split("/")[0] for w in model.trainable_weights}
    assert trainable == {"predictions"}
    with pytest.raises(WeightsError, match="freeze must be"):
        build_model("squeezenet", 2, image_size=64, freeze=12)


def test_custom_head() -> None:
    head = HeadConfig(hidden=(32,), activations=("gelu",), dropout=0.5, pooling="max")
    model = build_model("resnet9", 4, head=head)
    assert model.get_layer("head_fc1").units == 32
    assert isinstance(model.get_layer("head_pool"), keras.layers.GlobalMaxPooling2D)
    assert model.output_shape == (None, 4)


@pytest.mark.parametrize(
    ("name", "pixel", "expected"),
    [
        ("caffe", (255.0, 0.0, 0.0), (-103.939, -116.779, 131.32)),
        ("torch", (255.0, 0.0, 0.0), ((1 - 0.485) / 0.229, -0.456 / 0.224, -0.406 / 0.225)),
        ("unit", (255.0, 0.0, 51.0), (1.0, 0.0, 0.2)),
    ],
)
def test_preprocessing_conventions(name, pixel, expected) -> None:
    out = preprocessing_layer(name)(np.array([[[pixel]]], "float32"))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out)[0, 0, 0], expected, rtol=1e-5)


def test_caffe_matches_keras_preprocess_input() -> None:
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    ours = keras.ops.convert_to_numpy(preprocessing_layer("caffe")(pixels))
    reference = keras.applications.vgg16.preprocess_input(pixels.copy())
    np.testing.assert_allclose(ours, reference, rtol=1e-6)
