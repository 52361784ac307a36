"""One image inside the ``tf.data`` graph: read, decode, resize, stain-normalise.

Decoding uses TensorFlow's decoders for plain PNG/JPEG/BMP and Pillow or pydicom
(:func:`bcnet_tf.data.decode.decode_rgb`) for 16-bit, TIFF, PGM, EXIF-rotated and
DICOM files, so both give the same pixels. With a preprocessing policy
(:mod:`bcnet_tf.data.mammo`) every image is decoded and prepared in numpy. Resizing
averages areas when shrinking and is bilinear when enlarging; prediction resizes with
the same function. A file's ``frame`` is the frame of a multi-frame DICOM file, or
``-1`` for none (a tensor holds no ``None``).
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from bcnet_tf.data.decode import decode_rgb
from bcnet_tf.data.mammo import load_prepared
from bcnet_tf.pathology.stain import StainNormalizer


def _file_and_frame(path: bytes | np.ndarray, frame: int | np.ndarray) -> tuple[str, int | None]:
    """A file name and frame as ``tf.numpy_function`` passes them, in Python terms."""
    number = int(frame)
    return os.fsdecode(np.asarray(path).item()), None if number < 0 else number


def decode_image(path: tf.Tensor, tf_native: tf.Tensor, frame: tf.Tensor | int = -1) -> tf.Tensor:
    """Read and decode one image to ``uint8`` ``(height, width, 3)`` at full size."""

    def native() -> tf.Tensor:
        contents = tf.io.read_file(path)
        return tf.cond(
            tf.io.is_jpeg(contents),
            # libjpeg's accurate integer IDCT, as Pillow uses (TF's default is the fast one)
            lambda: tf.io.decode_jpeg(contents, channels=3, dct_method="INTEGER_ACCURATE"),
            lambda: tf.io.decode_image(contents, channels=3, expand_animations=False),
        )

    def pillow() -> tf.Tensor:
        return tf.numpy_function(
            lambda name, number: decode_rgb(*_file_and_frame(name, number)),
            [path, frame],
            tf.uint8,
            stateful=False,
        )

    image = tf.cond(tf_native, native, pillow)
    image.set_shape([None, None, 3])
    return image


def decode_prepared(
    path: tf.Tensor, size: tuple[int, int], preprocess: str, frame: tf.Tensor | int = -1
) -> tf.Tensor:
    """Read, decode and prepare one image with ``preprocess`` (numpy, in the graph)."""

    def prepare(file_name: bytes | np.ndarray, number: int | np.ndarray) -> np.ndarray:
        name, chosen = _file_and_frame(file_name, number)
        return load_prepared(name, size, preprocess, chosen)

    image = tf.numpy_function(prepare, [path, frame], tf.uint8, stateful=False)
    image.set_shape([None, None, 3])
    return image


def normalize_stain(image: tf.Tensor, stain: StainNormalizer | None) -> tf.Tensor:
    """Apply a fitted stain normaliser to one ``uint8`` image inside the graph."""
    if stain is None:
        return image
    normalized = tf.numpy_function(stain, [image], tf.uint8, stateful=False)
    normalized.set_shape(image.shape)
    return normalized


def load_image(
    path: tf.Tensor,
    tf_native: tf.Tensor,
    size: tuple[int, int],
    stain: StainNormalizer | None = None,
    preprocess: str = "none",
    frame: tf.Tensor | int = -1,
) -> tf.Tensor:
    """Read, decode (and prepare, :mod:`bcnet_tf.data.mammo`) and resize one image to
    ``uint8`` ``(height, width, 3)``, then stain-normalise it if a normaliser is given."""
    if preprocess == "none":
        image = decode_image(path, tf_native, frame)
    else:
        image = decode_prepared(path, size, preprocess, frame)
    return normalize_stain(resize_image(image, size), stain)


def resize_image(image: tf.Tensor | np.ndarray, size: tuple[int, int]) -> tf.Tensor:
    """Resize one RGB image to ``uint8`` ``size``: area averaging when shrinking,
    bilinear when enlarging (the training pipeline's resize, for prediction too)."""
    shrinking = tf.reduce_all(tf.shape(image)[:2] >= tf.convert_to_tensor(size))
    resized = tf.cond(
        shrinking,
        # Area averaging: anti-aliased like Pillow's reduce, and cheaper than
        # tf.image.resize(antialias=True).
        lambda: tf.image.resize(image, size, method="area"),
        lambda: tf.image.resize(image, size, method="bilinear"),
    )
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)
