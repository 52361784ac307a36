"""The ``tf.data`` input pipeline: records -> batches of RGB pixels and labels.

Per image: parallel read and decode (TensorFlow's decoders for plain PNG/JPEG/BMP,
Pillow for 16-bit, TIFF, PGM and EXIF-rotated files), resize (area averaging when
shrinking, bilinear when enlarging), ``uint8`` cache. Per batch: augmentation with
Keras preprocessing layers, prefetch.

Batches hold float32 pixels in 0..255. Normalisation (VGG/ResNet
``preprocess_input``, [0, 1] scaling) belongs to each model, so an exported model
takes raw pixels.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import reduce
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from sklearn.utils.class_weight import compute_class_weight

from bcnet_tf.data.augment import augmentation_policy
from bcnet_tf.data.decode import decode_rgb
from bcnet_tf.data.records import ImageRecord
from bcnet_tf.errors import DatasetError

AUTOTUNE = tf.data.AUTOTUNE


def _size(image_size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(image_size, int):
        return image_size, image_size
    height, width = image_size
    return int(height), int(width)


def _pillow_decode(path: bytes | np.ndarray) -> np.ndarray:
    return decode_rgb(os.fsdecode(np.asarray(path).item()))


def load_image(path: tf.Tensor, tf_native: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """Read, decode and resize one image to ``uint8`` ``(height, width, 3)``."""

    def native() -> tf.Tensor:
        contents = tf.io.read_file(path)
        return tf.cond(
            tf.io.is_jpeg(contents),
            # libjpeg's accurate integer IDCT, as Pillow uses (TF's default is the fast one)
            lambda: tf.io.decode_jpeg(contents, channels=3, dct_method="INTEGER_ACCURATE"),
            lambda: tf.io.decode_image(contents, channels=3, expand_animations=False),
        )

    def pillow() -> tf.Tensor:
        return tf.numpy_function(_pillow_decode, [path], tf.uint8, stateful=False)

    image = tf.cond(tf_native, native, pillow)
    image.set_shape([None, None, 3])
    return resize_image(image, size)


def resize_image(image: tf.Tensor | np.ndarray, size: tuple[int, int]) -> tf.Tensor:
    """Resize one RGB image to ``uint8`` ``size``: area averaging when shrinking,
    bilinear when enlarging (the training pipeline's resize, for prediction too)."""
    shrinking = tf.reduce_all(tf.shape(image)[:2] >= tf.constant(size))
    resized = tf.cond(
        shrinking,
        # Area averaging: anti-aliased like Pillow's reduce, ~2.5x faster than
        # tf.image.resize(antialias=True) (bench/pipeline.py).
        lambda: tf.image.resize(image, size, method="area"),
        lambda: tf.image.resize(image, size, method="bilinear"),
    )
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)


def load_files(
    paths: Sequence[str | os.PathLike[str]], image_size: int | Sequence[int]
) -> np.ndarray:
    """Decode and resize image files exactly as the pipeline does: ``uint8``
    ``(n, height, width, 3)``. Raises ``ImageDecodeError`` naming a bad file.

    Example:
        >>> load_files(["scan.png"], 224).shape  # doctest: +SKIP
        (1, 224, 224, 3)
    """
    size = _size(image_size)
    return np.stack([resize_image(decode_rgb(os.fspath(p)), size).numpy() for p in paths])


@contextmanager
def naming_unreadable_images(records: Sequence[ImageRecord]) -> Iterator[None]:
    """Turn TensorFlow's decode failure inside a pipeline (which names no file) into
    the :class:`ImageDecodeError` of the first unreadable record.

    Discovery reads only image headers, so a file truncated after its header is
    found when the pipeline decodes it; then every record is decoded with Pillow to
    name it.

    Example:
        >>> with naming_unreadable_images(split.train):  # doctest: +SKIP
        ...     model.fit(make_dataset(split.train, names))
    """
    try:
        yield
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError, tf.errors.DataLossError):
        for record in records:
            decode_rgb(record.path)  # raises ImageDecodeError naming the file
        raise


def _check_cache_path(cache: str | os.PathLike[str], records: Sequence[ImageRecord]) -> None:
    data_root = Path(os.path.commonpath([Path(r.path).parent for r in records]))
    if Path(cache).resolve().is_relative_to(data_root):
        raise DatasetError(
            f"cache file {cache} lies inside the dataset folder {data_root}; bcnet_tf never "
            "writes there. Fix: choose a cache path elsewhere (e.g. in the run directory)."
        )


def _label_ids(records: Sequence[ImageRecord], class_names: Sequence[str]) -> np.ndarray:
    if not records:
        raise DatasetError("no records to load. Fix: check the split or the filters.")
    position = {name: i for i, name in enumerate(class_names)}
    unknown = sorted({r.label for r in records} - set(position))
    if unknown:
        raise DatasetError(
            f"labels {unknown} are not in class_names {list(class_names)}. Fix: pass the "
            "class names the model was trained with (they travel with the model)."
        )
    return np.array([position[r.label] for r in records], np.int32)


def _decoded(
    records: Sequence[ImageRecord],
    labels: np.ndarray,
    indices: np.ndarray,
    size: tuple[int, int],
    cache: str | os.PathLike[str] | None,
    cache_suffix: str,
    shuffle_seed: int | None = None,
) -> tf.data.Dataset:
    """``(uint8 image, label id)`` of ``records[indices]``, decoded in parallel, cached;
    with ``shuffle_seed``, the file list is reshuffled every epoch before decoding."""
    ds = tf.data.Dataset.from_tensor_slices(
        (
            [records[i].path for i in indices],
            [records[i].tf_native for i in indices],
            labels[indices],
        )
    )
    if shuffle_seed is not None:
        ds = ds.shuffle(len(indices), seed=shuffle_seed, reshuffle_each_iteration=True)
    ds = ds.map(
        lambda path, native, label: (load_image(path, native, size), label),
        num_parallel_calls=AUTOTUNE,
    )
    if cache == "memory":
        return ds.cache()
    if cache is not None:
        _check_cache_path(cache, records)
        return ds.cache(f"{os.fspath(cache)}{cache_suffix}")
    return ds


def _to_float(depth: int, label_mode: str):
    def convert(images: tf.Tensor, label_ids: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        targets = tf.one_hot(label_ids, depth) if label_mode == "categorical" else label_ids
        return tf.cast(images, tf.float32), targets

    return convert


def make_dataset(
    records: Sequence[ImageRecord],
    class_names: Sequence[str],
    *,
    image_size: int | Sequence[int] = 224,
    batch_size: int = 32,
    training: bool = False,
    augment: str | keras.Layer | None = None,
    cache: str | os.PathLike[str] | None = "memory",
    oversample: bool = False,
    label_mode: str = "categorical",
    shuffle_buffer: int = 2048,
    seed: int = 0,
) -> tf.data.Dataset:
    """Build a batched ``tf.data.Dataset`` of ``(images, labels)``.

    Args:
        records: samples, e.g. ``split.train``.
        class_names: label order; a label's index is its position here.
        image_size: output size, an int or ``(height, width)``.
        batch_size: images per batch (the last batch may be smaller).
        training: shuffle each epoch and apply ``augment``.
        augment: a policy name from :mod:`bcnet_tf.data.augment`, or any Keras layer
            taking float32 0..255 batches; applied only when ``training``.
        cache: ``"memory"``, a file path for TensorFlow's on-disk cache (never inside
            the dataset folder), or ``None``. Decoded, resized ``uint8`` images are
            cached; augmentation runs after the cache, so it differs every epoch.
        oversample: draw classes with equal probability (epoch length unchanged).
        label_mode: ``"categorical"`` (one-hot float32) or ``"int"``.
        shuffle_buffer: elements in the post-cache shuffle buffer.
        seed: shuffling and oversampling seed.

    Example:
        >>> train = make_dataset(split.train, index.class_names, image_size=224,
        ...                      training=True, augment="bcnet")  # doctest: +SKIP
        >>> images, labels = next(iter(train))                    # doctest: +SKIP
        >>> images.shape, labels.shape                            # doctest: +SKIP
        (TensorShape([32, 224, 224, 3]), TensorShape([32, 3]))
    """
    if label_mode not in ("categorical", "int"):
        raise ValueError(f"label_mode must be 'categorical' or 'int', not {label_mode!r}")
    labels = _label_ids(records, class_names)
    size = _size(image_size)

    def decoded(indices: np.ndarray, cache_suffix: str = "") -> tf.data.Dataset:
        if training and cache is None:  # no cache: shuffle the file list, cheaply
            return _decoded(records, labels, indices, size, None, "", shuffle_seed=seed)
        ds = _decoded(records, labels, indices, size, cache, cache_suffix)
        return ds.shuffle(min(len(indices), shuffle_buffer), seed=seed) if training else ds

    if training and oversample:
        per_class = [
            decoded(np.flatnonzero(labels == c), f".class{c}").repeat() for c in np.unique(labels)
        ]
        ds = tf.data.Dataset.sample_from_datasets(
            per_class, seed=seed, rerandomize_each_iteration=True
        ).take(len(records))
    else:
        ds = decoded(np.arange(len(records)))
    ds = ds.batch(batch_size).map(_to_float(len(class_names), label_mode), AUTOTUNE)
    layer = augmentation_policy(augment, seed) if isinstance(augment, str) else augment
    if training and layer is not None:
        ds = ds.map(lambda x, y: (layer(x, training=True), y), num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def epoch_batches(
    records: Sequence[ImageRecord],
    class_names: Sequence[str],
    *,
    image_size: int | Sequence[int],
    batch_size: int,
    start: int,
    end: int,
    seed: int = 0,
    cache: str | os.PathLike[str] | None = "memory",
) -> tf.data.Dataset:
    """Training batches for epochs ``[start, end)`` as one stream, without augmentation.

    Epoch ``e`` is shuffled with a seed derived from ``(seed, e)`` alone, so a run
    resumed at epoch ``k`` sees exactly the batches an uninterrupted run would; the
    training engine augments inside the model step, where the random state is
    checkpointed with the weights. Use with ``fit(steps_per_epoch=ceil(n / batch_size))``.

    Example:
        >>> stream = epoch_batches(split.train, names, image_size=224, batch_size=32,
        ...                        start=0, end=50)  # doctest: +SKIP
    """
    labels = _label_ids(records, class_names)
    images = _decoded(records, labels, np.arange(len(records)), _size(image_size), cache, "")
    convert = _to_float(len(class_names), "categorical")
    epochs = [
        images.shuffle(len(records), seed=seed * 100_003 + e).batch(batch_size)
        for e in range(start, end)
    ]
    return reduce(tf.data.Dataset.concatenate, epochs).map(convert, AUTOTUNE).prefetch(AUTOTUNE)


def class_weights(records: Sequence[ImageRecord], class_names: Sequence[str]) -> dict[int, float]:
    """Balanced class weights (``n_samples / (n_classes * count)``) for ``model.fit``.

    Raises:
        DatasetError: a class has no sample in ``records`` (e.g. the training split).

    Example:
        >>> weights = class_weights(split.train, index.class_names)
        >>> model.fit(train, class_weight=weights)  # doctest: +SKIP
    """
    present = {r.label for r in records}
    absent = [name for name in class_names if name not in present]
    if absent:
        raise DatasetError(
            f"classes {absent} have no sample in these records, so no weight can be "
            "computed. Fix: check the split; every class needs training images."
        )
    position = {name: i for i, name in enumerate(class_names)}
    y = np.array([position[r.label] for r in records])
    classes = np.arange(len(class_names))
    weights = compute_class_weight("balanced", classes=classes, y=y)
    return {int(c): float(w) for c, w in zip(classes, weights, strict=True)}
