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


@pytest.mark.parametrize("name", list_models())
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

    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (4, SMALL_SIZE, SMALL_SIZE, 3)).astype("float32")
    labels = keras.utils.to_categorical([0, 1, 2, 0], 3)
    model.compile(keras.optimizers.SGD(1e-3), "categorical_crossentropy")
    before = [w.numpy().copy() for w in model.trainable_weights[-2:]]
    loss = model.train_on_batch(images, labels)
    assert np.isfinite(loss)
    assert any(
        not np.array_equal(b, w.numpy())
        for b, w in zip(before, model.trainable_weights[-2:], strict=True)
    )

    expected = model.predict(images, verbose=0)
    np.testing.assert_allclose(expected.sum(1), 1.0, rtol=1e-5)
    model.save(tmp_path / f"{name}.keras")
    restored = keras.saving.load_model(tmp_path / f"{name}.keras")  # safe_mode stays on
    np.testing.assert_array_equal(restored.predict(images, verbose=0), expected)


def test_registry_lists_every_model_once() -> None:
    assert list_models() == sorted(
        [
            "bcnet_vgg16",
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
