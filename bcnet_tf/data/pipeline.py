"""The ``tf.data`` input pipeline: records -> batches of RGB pixels and labels.

Per image: parallel read, decode and resize (:mod:`bcnet_tf.data.images`; tiles in
tile mode, :mod:`bcnet_tf.data.tiles`; tiles read from whole-slide images on demand,
:mod:`bcnet_tf.data.slides`), ``uint8`` cache. Per batch: augmentation with
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
from bcnet_tf.data.images import load_image, resize_image
from bcnet_tf.data.mammo import check_preprocess, load_prepared
from bcnet_tf.data.records import ImageRecord, image_file
from bcnet_tf.data.slides import slide_tile_batches
from bcnet_tf.data.tiles import crop_tiles, load_tile_source, random_tiles
from bcnet_tf.errors import DatasetError
from bcnet_tf.io import refuse_inside_dataset
from bcnet_tf.pathology.stain import StainNormalizer
from bcnet_tf.pathology.tiles import TileSpec
from bcnet_tf.settings import ImageSize

AUTOTUNE = tf.data.AUTOTUNE


def _parallel_map(ds: tf.data.Dataset, function) -> tf.data.Dataset:
    """``ds.map`` in parallel, without AutoGraph: these functions use ``tf.cond``
    rather than Python control flow, so converting them is pure start-up cost."""
    return ds.map(tf.autograph.experimental.do_not_convert(function), num_parallel_calls=AUTOTUNE)


def load_files(
    paths: Sequence[str | os.PathLike[str] | ImageRecord],
    image_size: int | Sequence[int],
    stain: StainNormalizer | None = None,
    preprocess: str = "none",
) -> np.ndarray:
    """Decode, prepare (``preprocess``, :mod:`bcnet_tf.data.mammo`), resize (and
    stain-normalise) image files, or the records' files and frames, exactly as the
    pipeline does: ``uint8`` ``(n, height, width, 3)``. Raises ``ImageDecodeError``
    naming a bad file.

    Example:
        >>> load_files(["scan.png"], 224).shape  # doctest: +SKIP
        (1, 224, 224, 3)
    """
    size = ImageSize.of(image_size)
    resized = []
    for item in paths:
        path, frame = image_file(item)
        resized.append(resize_image(load_prepared(path, size, preprocess, frame), size).numpy())
    return np.stack([stain(image) if stain else image for image in resized])


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
            decode_rgb(record.path, record.frame)  # raises ImageDecodeError naming the file
        raise


def _check_cache_path(cache: str | os.PathLike[str], records: Sequence[ImageRecord]) -> None:
    data_root = Path(os.path.commonpath([Path(r.path).parent for r in records]))
    refuse_inside_dataset(cache, data_root, flag="the cache")


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
    stain: StainNormalizer | None = None,
    tiles: TileSpec | None = None,
    preprocess: str = "none",
) -> tf.data.Dataset:
    """``(uint8 image, label id)`` of ``records[indices]``, decoded in parallel, cached;
    with ``tiles``, ``(prepared image, tile corners, label id)`` instead (see
    :func:`load_tile_source`). With ``shuffle_seed``, the file list is reshuffled
    every epoch before decoding."""
    ds = tf.data.Dataset.from_tensor_slices(
        (
            [records[i].path for i in indices],
            [records[i].tf_native for i in indices],
            [-1 if records[i].frame is None else records[i].frame for i in indices],
            labels[indices],
        )
    )
    if shuffle_seed is not None:
        ds = ds.shuffle(len(indices), seed=shuffle_seed, reshuffle_each_iteration=True)
    if tiles is not None and check_preprocess(preprocess) != "none":
        raise DatasetError(
            f"preprocess {preprocess!r} prepares whole images; it does not work in tile "
            "mode. Fix: choose one of the two."
        )
    if tiles is None:
        ds = _parallel_map(
            ds,
            lambda path, native, frame, label: (
                load_image(path, native, size, stain, preprocess, frame),
                label,
            ),
        )
    else:
        ds = _parallel_map(
            ds,
            lambda path, native, frame, label: (
                *load_tile_source(path, native, tiles, stain, frame),
                label,
            ),
        )
    if cache == "memory":
        return ds.cache()
    if cache is not None:
        _check_cache_path(cache, records)
        return ds.cache(f"{os.fspath(cache)}{cache_suffix}")
    return ds


def _expand_tiles(
    ds: tf.data.Dataset, tiles: TileSpec, random_seeds: tf.data.Dataset | None
) -> tf.data.Dataset:
    """Prepared images -> ``(uint8 tile, label id)``: random tissue tiles when
    ``random_seeds`` (a dataset of stateless ``[2]`` seeds) is given, else every grid
    tile with tissue, in order."""
    if random_seeds is None:
        return _parallel_map(
            ds,
            lambda image, corners, label: (
                crop_tiles(image, corners, tiles.size),
                tf.fill([tf.shape(corners)[0]], label),
            ),
        ).unbatch()
    images = int(ds.cardinality())
    ds = _parallel_map(
        tf.data.Dataset.zip(ds, random_seeds),
        lambda element, seed: (
            random_tiles(element[0], element[1], tiles, seed),
            tf.fill([tiles.per_image], element[2]),
        ),
    )
    ds = ds.unbatch()
    if images >= 0:  # known length: Keras then stops an epoch without probing for more
        ds = ds.apply(tf.data.experimental.assert_cardinality(images * tiles.per_image))
    return ds


def _random_seeds(seed: int, rerandomize: bool) -> tf.data.Dataset:
    return tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=rerandomize).batch(2)


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
    stain: StainNormalizer | None = None,
    tiles: TileSpec | None = None,
    preprocess: str = "none",
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
        stain: a fitted stain normaliser applied to every image before the cache.
        tiles: tile mode: batches of tiles instead of whole images (``image_size`` is
            then ignored): ``tiles.per_image`` random tissue tiles per image and epoch
            when ``training``, else every grid tile with tissue, image by image. With
            ``tiles.whole_slide`` (whole-slide mode), ``tiles.per_image`` tissue tiles of each
            slide, read on demand (:mod:`bcnet_tf.data.slides`; not cached, not
            oversampled), moved at random when ``training``.
        preprocess: ``"none"`` or ``"mammo"`` (:mod:`bcnet_tf.data.mammo`: crop to the
            breast, flip to one side, pad to the aspect ratio) before the resize.

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
    size = ImageSize.of(image_size)

    def decoded(indices: np.ndarray, cache_suffix: str = "") -> tf.data.Dataset:
        if training and cache is None:  # no cache: shuffle the file list, cheaply
            return _decoded(
                records, labels, indices, size, None, "", seed, stain, tiles, preprocess
            )
        ds = _decoded(
            records, labels, indices, size, cache, cache_suffix, None, stain, tiles, preprocess
        )
        return ds.shuffle(min(len(indices), shuffle_buffer), seed=seed) if training else ds

    if tiles is not None and tiles.whole_slide:  # one draw of tiles from each slide
        ds = slide_tile_batches(
            records,
            labels,
            tiles,
            batch_size=batch_size,
            epochs=range(1),
            seed=seed,
            stain=stain,
            jitter=training,
        )
    elif training and oversample:
        per_class = [
            decoded(np.flatnonzero(labels == c), f".class{c}").repeat() for c in np.unique(labels)
        ]
        ds = tf.data.Dataset.sample_from_datasets(
            per_class, seed=seed, rerandomize_each_iteration=True
        ).take(len(records))
    else:
        ds = decoded(np.arange(len(records)))
    if tiles is not None and not tiles.whole_slide:
        ds = _expand_tiles(ds, tiles, _random_seeds(seed, True) if training else None)
        if training:
            ds = ds.shuffle(min(len(records) * tiles.per_image, shuffle_buffer), seed=seed)
    if tiles is None or not tiles.whole_slide:
        ds = ds.batch(batch_size)
    ds = _parallel_map(ds, _to_float(len(class_names), label_mode))
    layer = augmentation_policy(augment, seed) if isinstance(augment, str) else augment
    if training and layer is not None:
        ds = _parallel_map(ds, lambda x, y: (layer(x, training=True), y))
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
    stain: StainNormalizer | None = None,
    tiles: TileSpec | None = None,
    preprocess: str = "none",
) -> tf.data.Dataset:
    """Training batches for epochs ``[start, end)`` as one stream, without augmentation.

    Epoch ``e`` is shuffled with a seed derived from ``(seed, e)`` alone, so a run
    resumed at epoch ``k`` sees exactly the batches an uninterrupted run would; the
    training engine augments inside the model step, where the random state is
    checkpointed with the weights. Use with ``fit(steps_per_epoch=ceil(n / batch_size))``
    (``n`` = images, or images x ``tiles.per_image`` in tile mode, whose random tiles
    are seeded by the epoch too; slides in whole-slide mode, see
    :mod:`bcnet_tf.data.slides`). ``stain``, ``tiles`` and ``preprocess`` as in
    :func:`make_dataset`.

    Example:
        >>> stream = epoch_batches(split.train, names, image_size=224, batch_size=32,
        ...                        start=0, end=50)  # doctest: +SKIP
    """
    labels = _label_ids(records, class_names)
    convert = _to_float(len(class_names), "categorical")
    if tiles is not None and tiles.whole_slide:
        slides = slide_tile_batches(
            records,
            labels,
            tiles,
            batch_size=batch_size,
            epochs=range(start, end),
            seed=seed,
            stain=stain,
        )
        return _parallel_map(slides, convert).prefetch(AUTOTUNE)
    images = _decoded(
        records,
        labels,
        np.arange(len(records)),
        ImageSize.of(image_size),
        cache,
        "",
        None,
        stain,
        tiles,
        preprocess,
    )

    def epoch(e: int) -> tf.data.Dataset:
        epoch_seed = seed * 100_003 + e
        ds = images.shuffle(len(records), seed=epoch_seed)
        if tiles is not None:
            count = len(records) * tiles.per_image
            ds = _expand_tiles(ds, tiles, _random_seeds(epoch_seed, False))
            ds = ds.shuffle(min(count, 2048), seed=epoch_seed)
        return ds.batch(batch_size)

    epochs = [epoch(e) for e in range(start, end)]
    return _parallel_map(reduce(tf.data.Dataset.concatenate, epochs), convert).prefetch(AUTOTUNE)


def class_weights(records: Sequence[ImageRecord], class_names: Sequence[str]) -> dict[int, float]:
    """Balanced class weights (``n_samples / (n_classes * count)``) for ``model.fit``.

    Raises:
        DatasetError: a class has no sample in ``records`` (e.g. the training split).

    Example:
        >>> records = [ImageRecord(f"{i}.png", "benign" if i < 3 else "malignant")
        ...            for i in range(4)]
        >>> class_weights(records, ["benign", "malignant"])
        {0: 0.6666666666666666, 1: 2.0}
        >>> model.fit(train, class_weight=class_weights(split.train, names))  # doctest: +SKIP
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
