"""Every supported format decodes to RGB uint8; bad files fail naming the file."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bcnet_tf.data.decode import decode_rgb
from bcnet_tf.errors import ImageDecodeError
from tests.conftest import rgb_pattern, write_bad, write_image

LOSSLESS = ["png", "bmp", "tiff", "ppm", "png_rgba"]


@pytest.mark.parametrize("kind", LOSSLESS)
def test_lossless_formats_round_trip(tmp_path: Path, kind: str) -> None:
    pixels = decode_rgb(write_image(tmp_path / f"x.{kind}", kind))
    np.testing.assert_array_equal(pixels, rgb_pattern(48, 64))


@pytest.mark.parametrize("kind", ["png_grey", "pgm", "png_palette", "gif", "jpeg", "jpeg_cmyk"])
def test_other_formats_become_rgb_close_to_source(tmp_path: Path, kind: str) -> None:
    pixels = decode_rgb(write_image(tmp_path / f"x.{kind}", kind))
    assert pixels.shape == (48, 64, 3) and pixels.dtype == np.uint8
    reference = rgb_pattern(48, 64).astype(float)
    if kind in ("png_grey", "pgm"):
        reference = np.asarray(Image.fromarray(rgb_pattern(48, 64)).convert("L"), float)[..., None]
        assert np.array_equal(pixels[..., 0], pixels[..., 2])
    assert np.abs(pixels - reference).mean() < 12


def test_sixteen_bit_is_stretched_not_clipped(tmp_path: Path) -> None:
    pixels = decode_rgb(write_image(tmp_path / "mammo.png", "png16"))
    assert pixels.min() == 0 and pixels.max() == 255  # 12-bit data uses the full range
    source = rgb_pattern(48, 64)[..., 0].astype(float)
    assert np.corrcoef(pixels[..., 0].ravel(), source.ravel())[0, 1] > 0.999


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    pixels = decode_rgb(write_image(tmp_path / "rot.jpg", "jpeg_exif_rotated", size=(40, 60)))
    assert pixels.shape == (60, 40, 3)  # displayed upright: rotated 90°


@pytest.mark.parametrize("kind", ["empty", "text", "truncated"])
def test_bad_files_raise_with_file_name(tmp_path: Path, kind: str) -> None:
    path = write_bad(tmp_path / f"{kind}.png", kind)
    with pytest.raises(ImageDecodeError) as caught:
        decode_rgb(path)
    assert str(path) in str(caught.value) and "Fix:" in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageDecodeError, match="does not exist"):
        decode_rgb(tmp_path / "nope.png")


def test_decompression_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_image(tmp_path / "big.png", size=(200, 300))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    with pytest.raises(ImageDecodeError, match=r"decompression bomb.*MAX_IMAGE_PIXELS"):
        decode_rgb(path)
