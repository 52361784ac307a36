"""Tiling on images the tests write: tissue filter, small and blank images, the tile
pipeline (TF) cutting the same tiles as numpy, aggregation and stitching."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bcnet_tf.data.layouts import discover
from bcnet_tf.data.pipeline import epoch_batches, make_dataset
from bcnet_tf.pathology.tiles import (
    TileSpec,
    TissueWarning,
    aggregate,
    extract_tiles,
    stitch,
    tile_layout,
    tissue_mask,
)

GLASS = (246, 244, 247)


def slide(height: int, width: int, tissue_columns: slice, seed: int = 0) -> np.ndarray:
    """Glass with a band of pink, dotted "tissue" in the given columns."""
    rng = np.random.default_rng(seed)
    image = np.empty((height, width, 3), np.uint8)
    image[:] = GLASS
    band = image[:, tissue_columns]
    band[:] = (228, 150, 196)
    dots = rng.random(band.shape[:2]) < 0.08
    band[dots] = (70, 40, 120)
    return image


def test_tissue_mask_separates_glass_from_stain() -> None:
    image = slide(8, 8, slice(4, 8))
    assert not tissue_mask(image)[:, :4].any() and tissue_mask(image)[:, 4:].all()


def test_only_tiles_with_enough_tissue_are_kept() -> None:
    image = slide(64, 128, slice(0, 64))  # tissue on the left half
    spec = TileSpec(size=32, min_tissue=0.5)
    padded, corners = tile_layout(image, spec)
    assert padded.shape == image.shape
    assert len(corners) == 2 * 2 and (corners[:, 1] < 64).all()
    half = TileSpec(size=32, stride=16, min_tissue=0.5)
    _, overlapping = tile_layout(image, half)
    # columns 0, 16, 32 (all tissue), 48 (half: kept); 64, 80, 96 (none: dropped)
    assert sorted({int(x) for x in overlapping[:, 1]}) == [0, 16, 32, 48]


def test_grid_reaches_the_far_edges() -> None:
    _, corners = tile_layout(slide(70, 100, slice(0, 100)), TileSpec(size=32))
    assert set(corners[:, 0]) == {0, 32, 38} and set(corners[:, 1]) == {0, 32, 64, 68}


def test_an_image_smaller_than_a_tile_is_padded_with_glass() -> None:
    image = slide(20, 24, slice(0, 24))
    padded, corners = tile_layout(image, TileSpec(size=32, min_tissue=0.3))
    assert padded.shape == (32, 32, 3) and corners.tolist() == [[0, 0]]
    assert np.array_equal(padded[:20, :24], image)
    assert (padded[20:] == 255).all() and (padded[:, 24:] == 255).all()


def test_an_image_without_tissue_gives_its_best_tile_with_a_warning() -> None:
    blank = np.full((64, 64, 3), 250, np.uint8)
    with pytest.warns(TissueWarning, match="most tissue-rich tile"):
        _, corners = tile_layout(blank, TileSpec(size=32))
    assert len(corners) == 1


def test_aggregation_by_mean_and_majority() -> None:
    tiles = np.array([[0.9, 0.1], [0.45, 0.55], [0.4, 0.6]])
    assert np.allclose(aggregate(tiles, "mean"), [0.5833333, 0.4166667])
    assert np.allclose(aggregate(tiles, "majority"), [1 / 3, 2 / 3])  # mean and vote differ
    with pytest.raises(ValueError, match="aggregate"):
        aggregate(tiles, "max")


def test_stitching_averages_overlaps_and_leaves_background_zero() -> None:
    maps = np.stack([np.full((4, 4), 1.0), np.full((4, 4), 0.0)])
    whole = stitch(maps, np.array([[0, 0], [0, 2]]), (4, 8), 4)
    assert whole[0].tolist() == [1, 1, 0.5, 0.5, 0, 0, 0, 0]
    assert whole[:, 6:].sum() == 0


@pytest.fixture
def slides(tmp_path: Path) -> Path:
    """Two classes of 64x96 slides (tissue on a third / all of the image)."""
    root = tmp_path / "slides"
    for label, columns in (("sparse", slice(0, 40)), ("dense", slice(0, 96))):
        for i in range(4):
            folder = root / label
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(slide(64, 96, columns, seed=i)).save(folder / f"s{i}.png")
    return root


def test_the_pipeline_cuts_the_same_tiles_as_numpy(slides: Path) -> None:
    index = discover(slides)
    spec = TileSpec(size=32, min_tissue=0.5, per_image=3)
    batches = make_dataset(index.records, index.class_names, tiles=spec, batch_size=64)
    pipeline_tiles = np.concatenate([x.numpy() for x, _ in batches]).astype(np.uint8)
    expected = []
    for record in index.records:
        image = np.asarray(Image.open(record.path).convert("RGB"))
        expected.append(extract_tiles(*tile_layout(image, spec), spec.size))
    assert np.array_equal(pipeline_tiles, np.concatenate(expected))


def test_training_draws_random_tissue_tiles_reproducibly(slides: Path) -> None:
    index = discover(slides)
    spec = TileSpec(size=32, min_tissue=0.8, per_image=5)
    train = make_dataset(index.records, index.class_names, tiles=spec, batch_size=8, training=True)
    tiles, labels = (
        np.concatenate(parts) for parts in zip(*train.as_numpy_iterator(), strict=True)
    )
    assert tiles.shape == (len(index.records) * 5, 32, 32, 3)
    assert labels.sum(axis=0).tolist() == [20, 20]
    # jittered crops stay mostly on tissue, never on blank glass
    assert min(tissue_mask(t.astype(np.uint8)).mean() for t in tiles) > 0.3

    def epoch(start: int) -> np.ndarray:
        stream = epoch_batches(
            index.records,
            index.class_names,
            image_size=32,
            batch_size=8,
            start=start,
            end=2,
            tiles=spec,
        )
        return np.concatenate([x for x, _ in stream.as_numpy_iterator()])

    both, resumed = epoch(0), epoch(1)
    assert np.array_equal(both[len(resumed) :], resumed)  # a resumed epoch repeats itself
    assert not np.array_equal(both[: len(resumed)], resumed)  # and epochs differ


def test_a_tile_scale_resizes_the_image_the_same_way_everywhere(slides: Path) -> None:
    """The graph pipeline (TensorFlow's PNG decoder) and the numpy preparation used by
    evaluation and the edge predictor give the same image and tiles; the scaled image
    is TensorFlow's own resize of the file, up to float rounding."""
    import tensorflow as tf

    from bcnet_tf.data.decode import decode_rgb
    from bcnet_tf.data.tiles import load_tile_source
    from bcnet_tf.pathology.prepare import prepare_tiles

    spec = TileSpec(size=16, scale=0.5, min_tissue=0.5)
    path = str(next(slides.rglob("*.png")))
    decoded = decode_rgb(path)
    image, corners, size = prepare_tiles(decoded, spec)
    assert size == spec.scaled_size(64, 96) == (32, 48)
    reference = tf.image.resize(decoded, size, method="area").numpy().round()
    assert np.abs(image[:32, :48].astype(int) - reference).max() <= 1
    assert np.array_equal(corners, tile_layout(image, spec)[1])
    graph_image, graph_corners = load_tile_source(tf.constant(path), tf.constant(True), spec)
    assert np.array_equal(graph_image.numpy(), image)
    assert np.array_equal(graph_corners.numpy(), corners)
