"""Mammography preprocessing: crop to the breast, flip to one side, pad to the aspect
ratio; one implementation, equal outputs in the pipeline, load_files and the edge path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bcnet_tf.data.decode import decode_with_laterality
from bcnet_tf.data.layouts import discover
from bcnet_tf.data.mammo import largest_region, prepare_mammogram, prepared_pixels
from bcnet_tf.data.pipeline import load_files, make_dataset
from bcnet_tf.errors import DatasetError
from bcnet_tf.pathology.prepare import resize_rgb
from bcnet_tf.pathology.tiles import TileSpec
from tests.dicom_files import breast_phantom, write_dicom


def _canvas() -> tuple[np.ndarray, tuple[slice, slice]]:
    """A 200x160 grey image: a 120x50 breast block against the left edge, a bright
    label far from it (top right) and a marker touching nothing (bottom right)."""
    image = np.full((200, 160, 3), 5, np.uint8)
    rows, cols = slice(40, 160), slice(0, 50)
    image[rows, cols] = np.random.default_rng(0).integers(90, 200, (120, 50, 3))
    image[5:25, 110:155] = 255  # a text label
    image[180:186, 140:146] = 250  # a lead marker
    return image, (rows, cols)


def test_crop_keeps_the_breast_and_drops_labels_and_markers() -> None:
    image, (rows, cols) = _canvas()
    prepared = prepare_mammogram(image, (120, 52))  # the breast's own aspect: no padding
    assert 120 <= prepared.shape[0] <= 126 and 50 <= prepared.shape[1] <= 54
    assert (prepared == 255).sum() == 0 and (prepared == 250).sum() == 0
    top = prepared.shape[0] - 120
    np.testing.assert_array_equal(prepared[top // 2 : top // 2 + 120, :50], image[rows, cols])


def test_right_breasts_are_mirrored_by_laterality_or_position() -> None:
    image, _ = _canvas()
    mirrored = np.ascontiguousarray(image[:, ::-1])
    left = prepare_mammogram(image, (64, 64), "L")
    np.testing.assert_array_equal(prepare_mammogram(mirrored, (64, 64), "R"), left)
    np.testing.assert_array_equal(prepare_mammogram(mirrored, (64, 64)), left)  # by position
    assert left[:, :4].mean() > 60 and left[:, -4:].mean() < 10  # chest wall on the left


@pytest.mark.parametrize("size", [(512, 416), (416, 512), (64, 64)])
def test_padding_keeps_the_aspect_ratio(size: tuple[int, int]) -> None:
    image, (rows, cols) = _canvas()
    prepared = prepare_mammogram(image, size)
    height, width = prepared.shape[:2]
    assert abs(height / width - size[0] / size[1]) < 0.02
    breast = image[rows, cols]
    found = [
        (y, x)
        for y in range(height - 119)
        for x in range(width - 49)
        if np.array_equal(prepared[y : y + 120, x : x + 50], breast)
    ]
    assert found  # the breast's pixels are all there, unscaled: padded, never squashed


def test_largest_region_is_four_connected() -> None:
    mask = np.zeros((6, 6), bool)
    mask[0:3, 0:3] = True  # 9 pixels
    mask[3:6, 3:6] = True  # 9 pixels touching only diagonally
    mask[5, 0:2] = True
    region = largest_region(mask)
    assert region.sum() == 9 and (region[0:3, 0:3].all() or region[3:6, 3:6].all())


def test_pipeline_load_files_and_edge_path_give_equal_pixels(tmp_path: Path) -> None:
    sides = ["L", "R", None]
    for i, side in enumerate(sides):
        pixels = breast_phantom(120, 96, seed=i, side=side or "R")
        attributes = {"ImageLaterality": side} if side else {}
        write_dicom(tmp_path / "data" / "a" / f"{i}.dcm", pixels, bits_stored=12, **attributes)
        write_dicom(tmp_path / "data" / "b" / f"{i}.dcm", pixels, bits_stored=12, **attributes)
    index = discover(tmp_path / "data")
    paths = [r.path for r in index.records]
    size = (48, 40)
    pipeline = next(
        iter(
            make_dataset(
                index.records,
                index.class_names,
                image_size=size,
                batch_size=len(paths),
                preprocess="mammo",
            )
        )
    )[0]
    files = load_files(paths, size, preprocess="mammo")
    edge = np.stack([resize_rgb(_edge_prepared(p, size), size) for p in paths])
    np.testing.assert_array_equal(pipeline.numpy().astype(np.uint8), files)
    np.testing.assert_array_equal(edge, files)
    plain = load_files(paths, size)
    assert not np.array_equal(plain, files)
    # every breast ends against the left edge, whatever side it was filmed from
    assert (files[:, :, :3].mean(axis=(1, 2, 3)) > files[:, :, -3:].mean(axis=(1, 2, 3))).all()


def _edge_prepared(path: str, size: tuple[int, int]) -> np.ndarray:
    """What the edge predictor does before its resize, spelled out."""
    image, laterality = decode_with_laterality(path)
    return prepared_pixels(image, size, "mammo", laterality)


def test_tile_mode_refuses_mammography_preprocessing(tmp_path: Path) -> None:
    for label in ("a", "b"):
        write_dicom(tmp_path / label / "x.dcm", breast_phantom(), bits_stored=12)
    index = discover(tmp_path)
    with pytest.raises(DatasetError, match="tile mode"):
        make_dataset(index.records, index.class_names, tiles=TileSpec(size=32), preprocess="mammo")
