"""Whole-slide images: the reader returns the pixels written at each level and at a
requested µm/px; the tissue index leaves out glass, pen marks and specks; bad slides
get one clear line."""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bcnet_tf.data.layouts import discover
from bcnet_tf.data.slides import tile_reader
from bcnet_tf.errors import SlideError
from bcnet_tf.pathology.slide_index import pen_mask, slide_tiles
from bcnet_tf.pathology.slides import read_tile, slide_info
from bcnet_tf.pathology.tiles import TileSpec
from tests.slides import BLUE_PEN, GLASS, pyramid, slide_image, tiff_writer, write_slide

#: JPEG at quality 95: mean absolute error per pixel on real tissue stays below this.
JPEG_ERROR = 4.0


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A 512 px slide (0.25 µm/px, 3 levels): tissue in the top-left quarter, a pen
    stroke (blue over black) in the top-right quarter, a speck bottom-right."""
    tiff_writer()
    image = slide_image((512, 512), [(0, 0, 256, 256)], pen=(0, 256, 256, 256))
    speck = slide_image((512, 512), [(0, 0, 24, 24)], seed=3)[:24, :24]
    image[400:424, 400:424] = speck
    return write_slide(tmp_path_factory.mktemp("slides") / "a.tif", image), image


def test_the_reader_returns_each_level_and_a_requested_resolution(written) -> None:
    path, image = written
    levels = pyramid(image)
    slide = slide_info(path)
    assert slide.mpp == pytest.approx(0.25)
    assert slide.level_dimensions == ((512, 512), (256, 256), (128, 128))
    for level, mpp in enumerate((0.25, 0.5, 1.0)):
        x, y = 64, 128  # level-0 pixels
        tile = read_tile(slide, x, y, 64, mpp)  # read straight from this level
        d = 2**level
        expected = levels[level][y // d : y // d + 64, x // d : x // d + 64]
        assert np.abs(tile.astype(int) - expected).mean() < JPEG_ERROR
    # 0.75 µm/px is no level: read from level 1 (0.5) and shrunk by 2/3
    tile = read_tile(slide, 0, 0, 60, 0.75)
    reference = np.asarray(Image.fromarray(levels[1][:90, :90]).resize((60, 60), Image.BOX))
    assert np.abs(tile.astype(int) - reference).mean() < JPEG_ERROR
    # outside the slide is glass (white), not black
    assert (read_tile(slide, 480, 480, 64, 0.25)[40:, 40:] == 255).all()


def test_pen_colours_are_pen_and_stains_are_not() -> None:
    stains = np.array([[[110, 60, 160], [230, 150, 200], [60, 30, 110]]], np.uint8)
    assert not pen_mask(stains).any()  # haematoxylin, eosin, a dark nucleus
    assert pen_mask(np.array([[BLUE_PEN, (40, 150, 60)]], np.uint8)).all()


def test_tiles_hold_tissue_not_glass_pen_or_specks(written) -> None:
    path, _ = written
    found = slide_tiles(path, TileSpec(size=32, mpp=1.0, min_tissue=0.5))  # 128 px at level 0
    assert found.side == 128
    # tissue fills the top-left quarter: exactly its four 128-px tiles
    assert sorted(map(tuple, found.corners.tolist())) == [(0, 0), (0, 128), (128, 0), (128, 128)]
    # even a low threshold never takes the pen quarter or the speck's tile
    loose = slide_tiles(path, TileSpec(size=32, mpp=1.0, min_tissue=0.02))
    corners = {tuple(c) for c in loose.corners.tolist()}
    assert not any(row < 256 and column >= 256 for row, column in corners)  # pen
    assert (384, 384) not in corners  # the speck
    assert (384, 384) in {  # ... which tissue alone would have kept
        tuple(c) for c in _without_cleaning(path, TileSpec(size=32, mpp=1.0, min_tissue=0.02))
    }


def _without_cleaning(path: Path, spec: TileSpec) -> list[list[int]]:
    """The index computed with pen and speck removal switched off (the plain rule)."""
    from unittest import mock

    from bcnet_tf.pathology import slide_index
    from bcnet_tf.pathology.tiles import tissue_mask

    with (
        mock.patch.object(slide_index, "clean_tissue", lambda image, _: tissue_mask(image)),
        mock.patch.object(slide_index, "_VERSION", -1),  # a fresh cache entry
    ):
        return slide_tiles(path, spec).corners.tolist()


def test_the_index_is_cached_outside_the_slide_folder(written, tmp_path: Path) -> None:
    path, _ = written
    before = sorted(path.parent.iterdir())
    slide_tiles(path, TileSpec(size=32, mpp=1.0))
    assert sorted(path.parent.iterdir()) == before
    cached = list(Path(os.environ["BCNET_TF_CACHE"], "slides").glob("*.npz"))
    assert len(cached) == 1


def test_a_slide_without_tissue_is_one_clear_line(tmp_path: Path) -> None:
    tiff_writer()
    blank = np.full((256, 256, 3), GLASS, np.uint8)
    blank[:128, :128] = BLUE_PEN  # ink alone is no tissue
    path = write_slide(tmp_path / "blank.tif", blank)
    with pytest.raises(SlideError, match=r"blank\.tif: no 32-pixel tile .* holds 50% tissue"):
        slide_tiles(path, TileSpec(size=32, mpp=1.0))


def test_a_slide_without_resolution_needs_one(tmp_path: Path) -> None:
    tiff_writer()
    image = slide_image((256, 256), [(0, 0, 256, 256)])
    path = write_slide(tmp_path / "bare.tif", image, mpp=None)
    with pytest.raises(SlideError, match=r"bare\.tif: it records no resolution.*--tile-slide-mpp"):
        slide_tiles(path, TileSpec(size=32, mpp=1.0))
    given = slide_tiles(path, TileSpec(size=32, mpp=1.0, slide_mpp=0.5))
    assert given.slide.mpp == 0.5 and given.side == 64


def test_a_target_magnification_reads_through_the_objective_power(tmp_path: Path) -> None:
    tiff_writer()
    image = slide_image((512, 512), [(0, 0, 256, 256)])
    svs = write_slide(tmp_path / "a.svs", image, mpp=0.25, objective=40)
    assert slide_info(svs).objective == 40
    # 10x on a 40x slide at 0.25 µm/px: 1 µm/px, 128 level-0 pixels per 32-px tile
    found = slide_tiles(svs, TileSpec(size=32, target_magnification=10))
    assert found.mpp == pytest.approx(1.0) and found.side == 128
    assert sorted(map(tuple, found.corners.tolist())) == [(0, 0), (0, 128), (128, 0), (128, 128)]
    tile = tile_reader([found], TileSpec(size=32, target_magnification=10), None)(0, 128, 0)
    expected = pyramid(image)[2][32:64, :32]  # level 2 is 1 µm/px
    assert np.abs(tile.astype(int) - expected).mean() < JPEG_ERROR
    plain = write_slide(tmp_path / "plain.tif", image)  # a resolution, no objective power
    with pytest.raises(SlideError, match=r"plain\.tif: it records no objective power.*--mpp"):
        slide_tiles(plain, TileSpec(size=32, target_magnification=10))
    with pytest.raises(ValueError, match="not both"):
        TileSpec(size=32, mpp=1.0, target_magnification=10)


def test_a_truncated_slide_is_one_clear_line(written, tmp_path: Path) -> None:
    path, _ = written
    data = path.read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(SlideError, match=r"^cannot use slide .*cut\.tif: .*Fix: "):
        slide_tiles(cut, TileSpec(size=32, mpp=1.0))


def test_class_folders_of_slides_are_found_in_slide_mode(written, tmp_path: Path) -> None:
    path, image = written
    root = tmp_path / "slides"
    write_slide(root / "tumour" / "a.svs", image, objective=40)
    (root / "normal").mkdir()
    (root / "normal" / "b.tif").write_bytes(path.read_bytes())
    (root / "normal" / "c.mrxs").write_bytes(b"not really")  # its data folder beside it:
    (root / "normal" / "c").mkdir()
    (root / "normal" / "c" / "Slidedat.ini").write_text("[GENERAL]\n")
    (root / "normal" / "notes.txt").write_text("scanned 2024\n")
    index = discover(root, slides=True)
    assert index.layout == "folders"
    assert [(Path(r.path).name, r.label) for r in index.records] == [
        ("b.tif", "normal"),
        ("a.svs", "tumour"),
    ]
    skipped = {Path(s.path).name: s.reason for s in index.skipped}
    assert skipped.keys() == {"c.mrxs", "notes.txt"}  # nothing from inside c/
    assert skipped["c.mrxs"].startswith("unreadable")
    assert skipped["notes.txt"] == "not a slide file (extension '.txt')"
    # outside slide mode, discovery is as before: slide formats are no images
    ordinary = {Path(s.path).name: s.reason for s in discover(root).skipped}
    assert ordinary["a.svs"] == "not an image file (extension '.svs')"
    assert ordinary["Slidedat.ini"] == "not an image file (extension '.ini')"
