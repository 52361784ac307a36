"""Grad-CAM and occlusion: they point at the lesion that decides the class; the layer
choice works for every model in the zoo; tf-explain agrees where it runs."""

from pathlib import Path

import keras
import numpy as np
import pytest

from bcnet_tf.explain import grad_cam, gradcam_layer, occlusion_sensitivity
from bcnet_tf.models import build_model, list_models
from tests.lesions import LESION, lesion_images, small_cnn, trained_cnn

SIZE = 64


@pytest.fixture(scope="module")
def trained() -> keras.Model:
    return trained_cnn(SIZE)


def _inside(heat: np.ndarray, corners: np.ndarray, margin: int = 6) -> np.ndarray:
    """Whether each map peaks on its lesion, give or take half a lesion (the 16x16
    feature map is upsampled 4x; edge features peak at the lesion's border)."""
    rows, cols = np.unravel_index(heat.reshape(len(heat), -1).argmax(1), heat.shape[1:])
    top, left = corners[:, 0], corners[:, 1]
    return (
        (rows >= top - margin)
        & (rows < top + LESION + margin)
        & (cols >= left - margin)
        & (cols < left + LESION + margin)
    )


def test_gradcam_peaks_on_the_lesion(trained: keras.Model) -> None:
    images, labels, corners = lesion_images(40, seed=1)
    assert trained.evaluate(images, labels, verbose=0)[1] >= 0.95
    lesions = labels == 1
    heat, classes = grad_cam(trained, images[lesions])
    assert gradcam_layer(trained) == "features"
    assert heat.shape == (lesions.sum(), SIZE, SIZE) and heat.min() >= 0 and heat.max() <= 1
    assert (classes == 1).all()
    assert _inside(heat, corners[lesions]).mean() >= 0.9


def test_occlusion_agrees_on_the_lesion(trained: keras.Model) -> None:
    images, labels, corners = lesion_images(6, seed=2)
    lesions = np.flatnonzero(labels == 1)
    heat = np.stack(
        [occlusion_sensitivity(trained, images[i], 1, patch=16, stride=4) for i in lesions]
    )
    assert _inside(heat, corners[lesions]).all()


@pytest.mark.parametrize("name", list_models())
def test_gradcam_layer_is_the_last_feature_map_of_every_zoo_model(name: str) -> None:
    model = build_model(name, 3, image_size=64)
    layer = gradcam_layer(model)
    assert model.get_layer("head_pool").input is model.get_layer(layer).output
    heat, classes = grad_cam(model, np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)))
    assert heat.shape == (2, 64, 64) and np.isfinite(heat).all()
    assert classes.shape == (2,)


@pytest.mark.filterwarnings("ignore:The structure of `inputs`:UserWarning")
def test_gradcam_matches_tf_explain(trained: keras.Model, tmp_path: Path) -> None:
    """Cross-check with tf-explain 0.3.1's GradCAM (given the layer name: it cannot
    pick one under Keras 3). It uses guided gradients of the softmax output, so the
    maps are compared by their peak and their correlation, not bit for bit."""
    grad_cam_module = pytest.importorskip("tf_explain.core.grad_cam")
    images, labels, corners = lesion_images(8, seed=3)
    lesions = labels == 1
    ours, _ = grad_cam(trained, images[lesions], 1)
    explainer = grad_cam_module.GradCAM()
    outputs, grads = explainer.get_gradients_and_filters(
        trained, images[lesions], "features", 1, True
    )
    theirs = explainer.generate_ponderated_output(outputs, grads)
    theirs = np.stack([keras.ops.convert_to_numpy(t) for t in theirs])
    theirs = keras.ops.convert_to_numpy(keras.ops.image.resize(theirs[..., None], (SIZE, SIZE)))[
        ..., 0
    ]
    assert _inside(theirs, corners[lesions]).mean() >= 0.75
    for mine, other in zip(ours, theirs, strict=True):
        assert np.corrcoef(mine.ravel(), other.ravel())[0, 1] > 0.8


def test_gradcam_under_mixed_bfloat16(trained: keras.Model) -> None:
    """Models trained with precision='auto' on this CPU compute in bfloat16."""
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = small_cnn(SIZE)
    finally:
        keras.config.set_dtype_policy("float32")
    model.set_weights(trained.get_weights())
    images, labels, corners = lesion_images(40, seed=1)
    heat, _ = grad_cam(model, images[labels == 1], 1)
    assert np.isfinite(heat).all()
    assert _inside(heat, corners[labels == 1]).mean() >= 0.9
