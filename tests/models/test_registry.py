"""One test over the whole registry, and the reference parameter counts."""

from pathlib import Path

import keras
import numpy as np
import pytest

from bcnet_tf.models import backbone_parameters, build_model, get_spec, list_models
from bcnet_tf.models.registry import register_model

# Conv-base parameters as Keras count_params() reports them (BatchNorm statistics in).
REFERENCE_BACKBONE_PARAMETERS = {
    "bcnet_vgg16": 14_714_688,
    "resnet50": 23_587_712,
    "resnet18": 11_186_112,
    "resnet34": 21_301_696,
    "squeezenet": 722_496,
}
SMALL_SIZE = 48  # every model builds at 48 px; tests stay fast


@pytest.mark.parametrize(("name", "expected"), REFERENCE_BACKBONE_PARAMETERS.items())
def test_backbone_parameter_counts(name: str, expected: int) -> None:
    assert backbone_parameters(build_model(name, 3, image_size=SMALL_SIZE)) == expected


@pytest.fixture(params=["float32", "mixed_bfloat16"])
def precision(request: pytest.FixtureRequest):
    keras.mixed_precision.set_global_policy(request.param)
    yield request.param
    keras.mixed_precision.set_global_policy("float32")


#: Large keras.applications backbones: built and trained once in float32 only (below);
#: MobileNetV3-Small stands for them in the full round trip, keeping the suite fast.
HEAVY = ("mobilenet_v3_large", "efficientnet_v2_b0", "densenet121", "convnext_tiny")
#: Keras' ConvNeXt keeps its stem and downsampling blocks as nested Sequentials.
NESTED = {
    "convnext_tiny": [
        "convnext_tiny_stem",
        *(f"convnext_tiny_downsampling_block_{i}" for i in range(3)),
    ]
}


def _trains_one_step(model: keras.Model) -> np.ndarray:
    """One SGD step on four random images changes the last weights; returns the images."""
    rng = np.random.default_rng(0)
    size = model.input_shape[1]
    images = rng.uniform(0, 255, (4, size, size, 3)).astype("float32")
    labels = keras.utils.to_categorical([0, 1, 2, 0], 3)
    model.compile(keras.optimizers.SGD(1e-3), "categorical_crossentropy")
    before = [w.numpy().copy() for w in model.trainable_weights[-2:]]
    assert np.isfinite(model.train_on_batch(images, labels))
    assert any(
        not np.array_equal(b, w.numpy())
        for b, w in zip(before, model.trainable_weights[-2:], strict=True)
    )
    return images


@pytest.mark.parametrize("name", [n for n in list_models() if n not in HEAVY])
def test_every_model_builds_trains_saves_and_reloads(
    name: str, precision: str, tmp_path: Path
) -> None:
    model = build_model(name, 3, image_size=SMALL_SIZE, freeze="none")
    assert model.output.dtype == "float32"  # softmax stays float32 under mixed precision
    assert not any(isinstance(layer, keras.Model) for layer in model.layers)  # flat
    compute = {
        layer.compute_dtype for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
    }
    assert compute == {"float32" if precision == "float32" else "bfloat16"}
    images = _trains_one_step(model)

    expected = model.predict(images, verbose=0)
    np.testing.assert_allclose(expected.sum(1), 1.0, rtol=1e-5)
    model.save(tmp_path / f"{name}.keras")
    restored = keras.saving.load_model(tmp_path / f"{name}.keras")  # safe_mode stays on
    np.testing.assert_array_equal(restored.predict(images, verbose=0), expected)


@pytest.mark.slow
@pytest.mark.parametrize("name", HEAVY)
def test_heavy_backbones_build_and_train(name: str) -> None:
    model = build_model(name, 3, image_size=32, freeze="none")
    nested = [layer.name for layer in model.layers if isinstance(layer, keras.Model)]
    assert nested == NESTED.get(name, [])
    images = _trains_one_step(model)
    np.testing.assert_allclose(model.predict(images, verbose=0).sum(1), 1.0, rtol=1e-5)


def test_registry_lists_every_model_once() -> None:
    assert list_models() == sorted(
        [
            "bcnet_vgg16",
            "convnext_tiny",
            "densenet121",
            "efficientnet_v2_b0",
            "mobilenet_v3_large",
            "mobilenet_v3_small",
            "resnet18",
            "resnet34",
            "resnet50",
            "resnet50_attention",
            "resnet9",
            "squeezenet",
        ]
    )
    assert get_spec("resnet9").default_size == 64


def test_unknown_model_and_duplicate_registration() -> None:
    from bcnet_tf.errors import BcnetError

    with pytest.raises(BcnetError, match="unknown model 'vgg19'; choose one of"):
        build_model("vgg19", 3)
    with pytest.raises(BcnetError, match="registered twice"):
        register_model(
            "resnet9", default_size=1, preprocessing="unit", stages=(), study="", description=""
        )(lambda x: x)
