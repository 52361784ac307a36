"""Weights: Keras' cache, offline failures, local files of every format."""

import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
from safetensors.numpy import save_file

from bcnet_tf.models import build_model, load_weights
from bcnet_tf.models import weights as weights_module
from bcnet_tf.models.weights import ImagenetSource, WeightsError, fetch_imagenet


@pytest.fixture
def keras_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return tmp_path / "keras_home" / "models"


@pytest.fixture
def offline_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the VGG16 download at a closed local port: a deterministic offline failure."""
    source = weights_module.IMAGENET_SOURCES["vgg16"]
    broken = ImagenetSource(source.file_name, "http://127.0.0.1:9/vgg16_notop.h5", None)
    monkeypatch.setitem(weights_module.IMAGENET_SOURCES, "vgg16", broken)


def test_offline_download_fails_in_one_actionable_line(keras_home: Path, offline_source) -> None:
    with pytest.raises(WeightsError) as caught:
        build_model("bcnet_vgg16", 3, weights="imagenet")
    message = str(caught.value)
    assert "\n" not in message
    assert "cannot download ImageNet weights from http://127.0.0.1:9" in message
    assert f"copy vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 into {keras_home}" in message
    assert "weights=PATH" in message


def test_real_offline_download_of_keras_weights(keras_home: Path) -> None:
    """The real URL without network access: still one line, no Keras stack trace."""
    code = (
        "from bcnet_tf.models import build_model\n"
        "from bcnet_tf.errors import BcnetError\n"
        "try:\n    build_model('resnet50', 2, weights='imagenet')\n"
        "except BcnetError as e:\n    print('ERROR', e)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    if "ERROR" not in result.stdout:
        pytest.skip("this machine can reach storage.googleapis.com")
    assert "cannot download ImageNet weights from https://storage.googleapis.com" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_squeezenet_imagenet_from_keras_cache_is_checksummed(
    shared: Path, keras_home: Path
) -> None:
    with pytest.raises(WeightsError, match=r"have no download.*is missing.*weights=PATH"):
        build_model("squeezenet", 3, weights="imagenet")
    keras_home.mkdir(parents=True)
    source = shared / "weights" / "squeezenet_v1.1_imagenet_notop.h5"
    shutil.copy(source, keras_home / source.name)
    model = build_model("squeezenet", 3, weights="imagenet")
    with h5py.File(source) as handle:  # the file's own numbers are in the model
        group = handle["fire9/expand3x3"]
        kernel = np.asarray(group[group.attrs["weight_names"][0].decode()])
    np.testing.assert_array_equal(model.get_layer("fire9_expand3x3").kernel.numpy(), kernel)
    (keras_home / source.name).write_bytes(source.read_bytes()[:-10] + b"corrupted!")
    with pytest.raises(WeightsError, match="fails its checksum"):
        fetch_imagenet("squeezenet", "squeezenet")


def test_squeezenet_weights_file_loads_every_conv_layer(shared: Path) -> None:
    path = shared / "weights" / "squeezenet_v1.1_imagenet_notop.h5"
    model = build_model("squeezenet", 3, image_size=96)
    report = load_weights(model, path)
    assert len(report.loaded) == 25 and not report.skipped


def test_keras_file_with_other_classes_loads_backbone_only(tmp_path: Path) -> None:
    trained = build_model("resnet9", 3)
    trained.save(tmp_path / "trained.keras")
    target = build_model("resnet9", 5, weights=str(tmp_path / "trained.keras"))
    np.testing.assert_array_equal(
        target.get_layer("res2_b_conv").kernel.numpy(),
        trained.get_layer("res2_b_conv").kernel.numpy(),
    )
    report = load_weights(target, tmp_path / "trained.keras")
    assert "predictions" in report.skipped and "shape" in report.skipped["predictions"]


def test_weights_h5_round_trip(tmp_path: Path) -> None:
    source = build_model("resnet9", 3)
    source.save_weights(tmp_path / "w.weights.h5")
    target = build_model("resnet9", 3, weights=str(tmp_path / "w.weights.h5"))
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    np.testing.assert_array_equal(target.predict(x, verbose=0), source.predict(x, verbose=0))


def test_torchvision_state_dict_layout_is_converted(tmp_path: Path) -> None:
    """Shapes and layouts (OIHW conv, BatchNorm stats, fc): the numbers are proven
    against torchvision itself in test_torch_parity.py."""
    rng = np.random.default_rng(0)
    state = {
        "conv1.weight": rng.normal(size=(64, 3, 7, 7)).astype("float32"),
        "bn1.weight": rng.uniform(size=64).astype("float32"),
        "bn1.bias": rng.uniform(size=64).astype("float32"),
        "bn1.running_mean": rng.uniform(size=64).astype("float32"),
        "bn1.running_var": rng.uniform(size=64).astype("float32"),
        "bn1.num_batches_tracked": np.array(3, dtype="int64"),
        "fc.weight": rng.normal(size=(2, 512)).astype("float32"),
        "fc.bias": rng.normal(size=2).astype("float32"),
    }
    save_file(state, str(tmp_path / "partial.safetensors"))
    model = build_model("resnet18", 2, image_size=64)
    report = load_weights(model, tmp_path / "partial.safetensors")
    assert sorted(report.loaded) == ["bn1", "conv1", "predictions"]
    np.testing.assert_array_equal(
        model.get_layer("conv1").kernel.numpy(), state["conv1.weight"].transpose(2, 3, 1, 0)
    )
    np.testing.assert_array_equal(
        model.get_layer("bn1").moving_variance.numpy(), state["bn1.running_var"]
    )
    np.testing.assert_array_equal(
        model.get_layer("predictions").kernel.numpy(), state["fc.weight"].T
    )


@pytest.mark.parametrize(
    ("file_name", "content", "message"),
    [
        ("missing.h5", None, "does not exist"),
        ("weights.npz", b"x", "unsupported weights file"),
        ("broken.h5", b"not hdf5", "not a Keras HDF5 weights file"),
        ("broken.safetensors", b"garbage", "not a readable safetensors file"),
    ],
)
def test_bad_weight_files(tmp_path: Path, file_name: str, content, message: str) -> None:
    path = tmp_path / file_name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(WeightsError, match=message):
        build_model("resnet9", 3, weights=str(path))


def test_file_for_another_model_is_refused(tmp_path: Path) -> None:
    build_model("resnet9", 3).save(tmp_path / "r9.keras")
    with pytest.raises(WeightsError, match="no layer of squeezenet matches"):
        build_model("squeezenet", 3, image_size=64, weights=str(tmp_path / "r9.keras"))


def test_scratch_model_has_no_imagenet_weights() -> None:
    with pytest.raises(WeightsError, match="trained from scratch"):
        build_model("resnet9", 3, weights="imagenet")


def test_keras_imagenet_path_uses_the_cache(keras_home: Path, monkeypatch) -> None:
    """weights='imagenet' for a Keras-hosted model reads Keras' cache when the file is
    there (checked by hash), without touching the network."""
    donor = build_model("bcnet_vgg16", 3, image_size=32)
    keras_home.mkdir(parents=True)
    cached = keras_home / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    with h5py.File(cached, "w") as handle:  # Keras 2 layout: layer_names / weight_names
        names = [layer.name for layer in donor.layers if layer.name.startswith("block")]
        handle.attrs["layer_names"] = [n.encode() for n in names]
        for name in names:
            group = handle.create_group(name)
            layer = donor.get_layer(name)
            group.attrs["weight_names"] = [f"{name}/{w.name}:0".encode() for w in layer.weights]
            for w in layer.weights:
                group[f"{name}/{w.name}:0"] = w.numpy()
    source = weights_module.IMAGENET_SOURCES["vgg16"]
    digest = keras.src.utils.file_utils.hash_file(str(cached), algorithm="md5")
    monkeypatch.setitem(
        weights_module.IMAGENET_SOURCES,
        "vgg16",
        ImagenetSource(source.file_name, "http://127.0.0.1:9/x.h5", digest),
    )
    model = build_model("bcnet_vgg16", 3, image_size=32, weights="imagenet")
    np.testing.assert_array_equal(
        model.get_layer("block5_conv3").kernel.numpy(),
        donor.get_layer("block5_conv3").kernel.numpy(),
    )
