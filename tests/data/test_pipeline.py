"""make_dataset(): decoding parity, shapes, labels, shuffling, augmentation, safety."""

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from bcnet_tf.data.augment import POLICIES, augmentation_policy
from bcnet_tf.data.images import load_image
from bcnet_tf.data.layouts import discover
from bcnet_tf.data.pipeline import class_weights, make_dataset
from bcnet_tf.errors import DatasetError
from tests.conftest import write_bad, write_image
from tests.known_images import KNOWN, tolerance, write_known


@pytest.fixture
def every_format(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """One file of each known kind in two class folders, and each file's known pixels."""
    root = tmp_path / "formats"
    expected = {}
    for i, (kind, (suffix, _)) in enumerate(KNOWN.items()):
        path = root / ("a" if i % 2 else "b") / f"{kind}{suffix}"
        expected[str(path)] = write_known(path, kind)
    return root, expected


def test_every_format_decodes_to_its_known_pixels(
    every_format: tuple[Path, dict[str, np.ndarray]],
) -> None:
    """Both decoding paths (TensorFlow's for plain PNG/JPEG/BMP/GIF, Pillow's for the
    rest) give the pixels the test wrote, at native size so no resize blurs them."""
    root, expected = every_format
    index = discover(root)
    assert sorted(r.path for r in index.records) == sorted(expected) and not index.skipped
    assert {r.tf_native for r in index.records} == {True, False}  # both paths covered
    for record in index.records:
        known = expected[record.path]
        decoded = load_image(
            tf.constant(record.path), tf.constant(record.tf_native), known.shape[:2]
        ).numpy()
        assert decoded.shape == known.shape, record.path
        difference = np.abs(decoded.astype(int) - known).max()
        assert difference <= tolerance(Path(record.path).stem), (record.path, difference)


def test_batches_shapes_dtypes_and_label_order(folder_dataset: Path) -> None:
    index = discover(folder_dataset)
    ds = make_dataset(index.records, index.class_names, image_size=(32, 24), batch_size=5)
    batches = list(ds)
    images, labels = batches[0]
    assert images.shape == (5, 32, 24, 3) and images.dtype == tf.float32
    assert labels.shape == (5, 3)
    assert sum(len(b[0]) for b in batches) == 24
    got = np.concatenate([b[1].numpy().argmax(1) for b in batches])
    np.testing.assert_array_equal(got, index.label_ids())  # evaluation order preserved
    assert float(tf.reduce_max(images)) <= 255 and float(tf.reduce_min(images)) >= 0


def test_training_reshuffles_each_epoch_and_augments(folder_dataset: Path) -> None:
    index = discover(folder_dataset)
    ds = make_dataset(
        index.records,
        index.class_names,
        image_size=32,
        batch_size=24,
        training=True,
        augment="flip_rotate",
        label_mode="int",
        seed=1,
    )
    first, second = (next(iter(ds)) for _ in range(2))
    assert not np.array_equal(first[1].numpy(), second[1].numpy())
    plain = make_dataset(index.records, index.class_names, image_size=32, batch_size=24)
    assert not np.allclose(
        np.sort(first[0].numpy().ravel()), np.sort(next(iter(plain))[0].numpy().ravel())
    )


@pytest.mark.parametrize("policy", POLICIES)
def test_every_policy_runs_inside_tf_data(folder_dataset: Path, policy: str) -> None:
    index = discover(folder_dataset)
    ds = make_dataset(
        index.records, index.class_names, image_size=32, batch_size=8, training=True, augment=policy
    )
    images, _ = next(iter(ds))
    assert images.shape == (8, 32, 32, 3)
    assert np.isfinite(images.numpy()).all()


def test_oversampling_balances_classes(tmp_path: Path) -> None:
    for i in range(30):
        write_image(tmp_path / "d" / ("common" if i < 27 else "rare") / f"{i}.png", seed=i)
    index = discover(tmp_path / "d")
    ds = make_dataset(
        index.records,
        index.class_names,
        image_size=16,
        batch_size=30,
        training=True,
        oversample=True,
        label_mode="int",
    )
    counts = Counter(int(v) for _ in range(5) for v in next(iter(ds))[1].numpy())
    assert counts[index.class_names.index("rare")] > 40  # ~75 of 150, against 15 without
    assert class_weights(index.records, index.class_names)[1] == pytest.approx(30 / (2 * 3))


def test_file_cache_is_refused_inside_the_dataset(folder_dataset: Path, tmp_path: Path) -> None:
    index = discover(folder_dataset)
    with pytest.raises(DatasetError, match="never writes there"):
        make_dataset(index.records, index.class_names, cache=folder_dataset / "cache")
    ds = make_dataset(index.records, index.class_names, image_size=16, cache=tmp_path / "c")
    assert sum(len(x) for x, _ in ds) == 24
    assert any(tmp_path.glob("c*"))


def test_label_mismatch_and_class_weight_errors(folder_dataset: Path) -> None:
    index = discover(folder_dataset)
    with pytest.raises(DatasetError, match="not in class_names"):
        make_dataset(index.records, ["benign", "malignant"])
    with pytest.raises(DatasetError, match="no sample"):
        class_weights(index.records[:8], index.class_names)
    with pytest.raises(DatasetError, match="no records to load"):
        make_dataset([], index.class_names)


def test_pillow_path_errors_name_the_file(tmp_path: Path) -> None:
    write_image(tmp_path / "d" / "a" / "ok.tif", "tiff")
    write_image(tmp_path / "d" / "b" / "ok.tif", "tiff", seed=1)
    index = discover(tmp_path / "d")
    write_bad(Path(index.records[0].path), "truncated")  # broken after discovery
    with pytest.raises(tf.errors.OpError, match=r"ok\.tif"):
        list(make_dataset(index.records, index.class_names, image_size=16))


def test_augmentation_policy_unknown_name() -> None:
    with pytest.raises(ValueError, match="unknown augmentation policy"):
        augmentation_policy("cutout")
