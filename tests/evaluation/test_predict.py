"""Test-time augmentation: the views, and that prediction averages over them; the
traced inference graph."""

import gc
import weakref

import keras
import numpy as np
import tensorflow as tf

from bcnet_tf.evaluation.predict import inference_function, predict_probabilities, tta_views


def test_views_are_the_dihedral_transforms_for_square_images() -> None:
    image = np.arange(2 * 4 * 4 * 3, dtype="float32").reshape(2, 4, 4, 3)
    views = [v.numpy() for v in tta_views(tf.constant(image))]
    assert len(views) == 6
    assert np.array_equal(views[1], image[:, :, ::-1])  # left-right
    assert np.array_equal(views[2], image[:, ::-1])  # up-down
    for k in (1, 2, 3):  # 90, 180, 270 degrees
        assert np.array_equal(views[2 + k], np.rot90(image, k, axes=(1, 2)))
    assert np.array_equal(views[4], image[:, ::-1, ::-1])  # 180 degrees, by hand
    assert len(tta_views(tf.zeros((1, 4, 6, 3)))) == 3  # no rotation of non-square images


def test_prediction_averages_the_views() -> None:
    """A model that looks only at the left column: TTA must change its output to the
    mean over the image, its flips and its three rotations (made here with NumPy)."""
    inputs = keras.Input((4, 4, 3))
    left = keras.layers.Lambda(lambda x: x[:, :, 0, :])(inputs)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(left))
    model = keras.Model(inputs, outputs)
    images = np.random.default_rng(0).uniform(0, 1, (5, 4, 4, 3)).astype("float32")
    data = tf.data.Dataset.from_tensor_slices((images, np.eye(2)[[0, 1, 0, 1, 1]])).batch(2)
    plain, labels = predict_probabilities(model, data)
    averaged, _ = predict_probabilities(model, data, tta=True)
    dihedral = [
        images,
        images[:, :, ::-1],  # left-right
        images[:, ::-1],  # up-down
        *(np.rot90(images, k, axes=(1, 2)) for k in (1, 2, 3)),
    ]
    expected = np.mean([model.predict(v, verbose=0) for v in dihedral], axis=0)
    assert labels.tolist() == [0, 1, 0, 1, 1]
    assert np.allclose(averaged, expected, atol=1e-6)
    assert not np.allclose(plain, averaged)


def test_inference_graph_matches_the_model_traces_once_and_lets_the_model_go() -> None:
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.BatchNormalization()(x)
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    forward = inference_function(model)
    assert inference_function(model) is forward
    rng = np.random.default_rng(0)
    for batch in (5, 2, 7):  # every batch size through the one graph
        images = rng.uniform(0, 255, (batch, 6, 6, 3)).astype("float32")
        expected = model(images, training=False).numpy()
        assert np.allclose(forward(tf.constant(images)).numpy(), expected, atol=1e-6)
    assert forward.experimental_get_tracing_count() == 1
    owner = weakref.ref(model)
    del model, forward
    gc.collect()
    assert owner() is None
