"""A task with a known answer for explainers and export: noisy grey images, class
``lesion`` has one bright square somewhere, class ``clear`` none; and a small
functional CNN named like the zoo's models (``head_pool``, ``predictions``)."""

from pathlib import Path

import keras
import numpy as np
from PIL import Image

from bcnet_tf.models.saving import ModelInfo, save_model
from bcnet_tf.training.callbacks import ThresholdStop

LESION = 12
CLASSES = ("clear", "lesion")


def lesion_images(n: int, seed: int, size: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(images float32 0..255, labels, lesion top-left corners)``; odd indices are
    lesions."""
    rng = np.random.default_rng(seed)
    images = rng.normal(110, 20, (n, size, size, 3)).clip(0, 255)
    labels = np.arange(n) % 2
    side = max(size * LESION // 64, 3)
    corners = rng.integers(2, size - side - 2, (n, 2))
    for image, label, (top, left) in zip(images, labels, corners, strict=True):
        if label:
            image[top : top + side, left : left + side] = 235
    return images.round().astype("float32"), labels, corners


def small_cnn(size: int = 64) -> keras.Model:
    """Three convolutions; the feature map is a quarter of the input side."""
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    for i, width in enumerate((16, 32)):
        x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=f"conv{i}")(x)
        x = keras.layers.MaxPooling2D(name=f"pool{i}")(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="features")(x)
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


def trained_cnn(size: int = 64, max_epochs: int = 40, n: int = 384) -> keras.Model:
    """The small CNN trained until it fits the lesion task (training accuracy 0.98).

    A fixed epoch count was fragile: at 64 px the small lesion is found after anywhere
    between 6 and 25 epochs depending on the initialisation a Keras version draws.
    """
    keras.utils.set_random_seed(0)
    images, labels, _ = lesion_images(n, seed=0, size=size)
    model = small_cnn(size)
    model.compile(
        keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    stop = ThresholdStop("accuracy", 0.98)
    model.fit(images, labels, epochs=max_epochs, batch_size=32, verbose=0, callbacks=[stop])
    return model


def write_lesion_dataset(root: Path, n: int, seed: int, size: int) -> Path:
    """``root/<class>/img_<i>.png`` class folders of lesion images."""
    images, labels, _ = lesion_images(n, seed, size)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.astype(np.uint8)).save(folder / f"img_{i:03d}.png")
    return root


def save_trained(path: Path, size: int) -> Path:
    return save_model(trained_cnn(size), path, ModelInfo(CLASSES, "small_cnn", (size, size)))
