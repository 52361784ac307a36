"""The keras.applications backbones: published parameter counts, stages, ImageNet
weights through Keras' cache (and offline in one line), Grad-CAM, TFLite export."""

from __future__ import annotations

from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from bcnet_tf.edge.runtime import TFLiteModel
from bcnet_tf.explain.gradcam import grad_cam, gradcam_layer
from bcnet_tf.export.convert import tflite_model, write_saved_model
from bcnet_tf.models import backbone_parameters, build_model, get_spec
from bcnet_tf.models import weights as weights_module
from bcnet_tf.models.preprocessing import preprocessing_layer
from bcnet_tf.models.weights import ImagenetSource, WeightsError, fetch_imagenet

#: Published parameters of the ImageNet classifiers (Keras applications' table;
#: torchvision's for ConvNeXt-T), and of the layers after the backbone in each:
#: the MobileNets' 1x1 convolutions (with bias) to 1024/1280 and to 1000 classes,
#: a Dense layer to 1000 classes for the others.
PUBLISHED_TOTAL = {
    "mobilenet_v3_small": 2_554_968,
    "mobilenet_v3_large": 5_507_432,
    "efficientnet_v2_b0": 7_200_312,
    "densenet121": 8_062_504,
    "convnext_tiny": 28_589_128,
}
PUBLISHED_CLASSIFIER = {
    "mobilenet_v3_small": (576 * 1024 + 1024) + (1024 * 1000 + 1000),
    "mobilenet_v3_large": (960 * 1280 + 1280) + (1280 * 1000 + 1000),
    "efficientnet_v2_b0": 1280 * 1000 + 1000,
    "densenet121": 1024 * 1000 + 1000,
    "convnext_tiny": 768 * 1000 + 1000,
}
MOBILENETS = ("mobilenet_v3_small", "mobilenet_v3_large")


#: Per backbone: a first-stage layer, a last-stage layer, and the layer whose output
#: (or its activation's) feeds the pooling, which Grad-CAM explains.
LAYERS = {
    "mobilenet_v3_small": ("conv", "conv_1", "conv_1_bn"),
    "mobilenet_v3_large": ("conv_bn", "expanded_conv_14_project", "conv_1_bn"),
    "efficientnet_v2_b0": ("stem_conv", "top_conv", "top_activation"),
    "densenet121": ("conv1_conv", "conv5_block16_2_conv", "relu"),
    "convnext_tiny": ("convnext_tiny_stem", "convnext_tiny_stage_3_block_2_depthwise_conv",
                      "layer_normalization"),
}  # fmt: skip


@pytest.mark.parametrize("name", PUBLISHED_TOTAL)
def test_published_parameters_stages_and_grad_cam(name: str) -> None:
    model = build_model(name, 3, image_size=32, freeze=1)
    assert backbone_parameters(model) == PUBLISHED_TOTAL[name] - PUBLISHED_CLASSIFIER[name]
    first, last, features = LAYERS[name]
    assert model.get_layer(last).trainable and not model.get_layer(first).trainable
    found = gradcam_layer(model)
    assert found == features or model.get_layer(found).input is model.get_layer(features).output
    images = np.random.default_rng(0).uniform(0, 255, (1, 32, 32, 3)).astype("float32")
    heat, _ = grad_cam(model, images)
    assert heat.shape[0] == 1 and np.isfinite(heat).all()


def test_tf_preprocessing_matches_keras_mobilenet_convention() -> None:
    pixels = np.array([[[[0.0, 127.5, 255.0]]]], dtype="float32")
    expected = keras.applications.imagenet_utils.preprocess_input(pixels.copy(), mode="tf")
    np.testing.assert_allclose(preprocessing_layer("tf")(pixels), expected, atol=1e-6)
    np.testing.assert_allclose(expected, [[[[-1.0, 0.0, 1.0]]]], atol=1e-6)


@pytest.mark.parametrize("name", PUBLISHED_TOTAL)
def test_offline_imagenet_download_is_one_actionable_line(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    source = weights_module.IMAGENET_SOURCES[get_spec(name).imagenet]
    assert source.url.startswith("https://storage.googleapis.com/tensorflow/keras-applications/")
    assert source.url.endswith(source.file_name)
    closed = ImagenetSource(source.file_name, "http://127.0.0.1:9/weights.h5", None)
    monkeypatch.setitem(weights_module.IMAGENET_SOURCES, name, closed)
    with pytest.raises(WeightsError) as caught:
        if name == "mobilenet_v3_small":  # the whole path once; the others' fetch alone
            build_model(name, 3, image_size=32, weights="imagenet")
        fetch_imagenet(name, name)
    message = str(caught.value)
    assert "\n" not in message
    assert f"{name}: cannot download ImageNet weights from http://127.0.0.1:9" in message
    assert f"copy {source.file_name} into {tmp_path / 'keras_home' / 'models'}" in message


def test_imagenet_weights_load_from_keras_cache_by_layer_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Keras 2 HDF5 file in Keras' cache (as Keras publishes them) loads by name,
    checked by hash, without the network."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    donor = build_model("mobilenet_v3_small", 3, image_size=32)
    source = weights_module.IMAGENET_SOURCES["mobilenet_v3_small"]
    cached = tmp_path / "keras_home" / "models" / source.file_name
    cached.parent.mkdir(parents=True)
    with h5py.File(cached, "w") as handle:
        names = [layer.name for layer in donor.layers if layer.weights]
        names = [n for n in names if n != "predictions"]
        handle.attrs["layer_names"] = [n.encode() for n in names]
        for name in names:
            layer, group = donor.get_layer(name), handle.create_group(name)
            group.attrs["weight_names"] = [f"{name}/{w.name}:0".encode() for w in layer.weights]
            for weight in layer.weights:
                group[f"{name}/{weight.name}:0"] = weight.numpy()
    digest = keras.src.utils.file_utils.hash_file(str(cached), algorithm="md5")
    monkeypatch.setitem(
        weights_module.IMAGENET_SOURCES,
        "mobilenet_v3_small",
        ImagenetSource(source.file_name, "http://127.0.0.1:9/x.h5", digest),
    )
    model = build_model("mobilenet_v3_small", 3, image_size=32, weights="imagenet")
    for name in ("conv", "expanded_conv_10_project_bn", "conv_1"):
        for mine, theirs in zip(
            model.get_layer(name).weights, donor.get_layer(name).weights, strict=True
        ):
            np.testing.assert_array_equal(mine.numpy(), theirs.numpy())


@pytest.mark.slow
@pytest.mark.parametrize("name", MOBILENETS)
def test_tflite_export_matches_keras(name: str, tmp_path: Path) -> None:
    model = build_model(name, 3, image_size=32)
    images = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    blob = tflite_model(write_saved_model(model, tmp_path / "saved_model"))
    (tmp_path / "model.tflite").write_bytes(blob)
    lite = TFLiteModel(tmp_path / "model.tflite")
    got = np.concatenate([lite.predict(image[None]) for image in images])
    np.testing.assert_allclose(got, model.predict(images, verbose=0), atol=1e-4)


def test_mobilenet_batch_norm_statistics_follow_a_short_training() -> None:
    """A hundred training-mode batches (a short run on a small dataset) move the moving
    statistics far enough that inference-mode features still tell images apart, as
    training-mode ones do. Under Keras' momentum 0.999 the moving variances keep most
    of their initial 1.0, every batch-norm layer shrinks the activations, and the
    pooled features of different images coincide."""
    keras.utils.set_random_seed(0)
    model = build_model("mobilenet_v3_small", 3, image_size=32)
    features = keras.Model(model.input, model.get_layer("head_pool").output)
    images = np.random.default_rng(0).uniform(0, 255, (100, 8, 32, 32, 3)).astype("float32")
    step = tf.function(lambda batch: model(batch, training=True))  # updates the statistics
    for batch in images:
        step(batch)
    probe = images[0]
    spread = np.asarray(features(probe, training=False)).std(0).mean()
    training_spread = np.asarray(features(probe, training=True)).std(0).mean()
    assert spread > 0.3 * training_spread, (spread, training_spread)
