"""Skip rules and header probing (bcnet_tf.data.files)."""

from pathlib import Path

import pytest

from bcnet_tf.data.files import probe_image, skip_reason
from bcnet_tf.errors import ImageDecodeError
from tests.conftest import write_bad, write_image

SKIP_CASES = [
    ("benign/benign (1).png", None),
    ("SOB_B_A-14-22549AB-40-001.png", None),
    ("grade_1/p1/10X/tile_01.tif", None),
    ("benign/benign (1)_mask.png", "segmentation mask (file name)"),
    ("benign/benign (1)_mask_1.png", "segmentation mask (file name)"),
    ("case3-seg.png", "segmentation mask (file name)"),
    ("masks/case3.png", "segmentation mask (folder)"),
    ("benign/thumbs/a.png", "thumbnail (name)"),
    ("benign/a_thumb.jpg", "thumbnail (name)"),
    ("benign/.hidden.png", "hidden or system file"),
    ("benign/.cache/a.png", "hidden or system file"),
    ("benign/Thumbs.db", "hidden or system file"),
    ("__MACOSX/benign/a.png", "archive metadata folder (__MACOSX)"),
    ("all_captions.csv", "not an image file (extension '.csv')"),
    ("benign/notes.txt", "not an image file (extension '.txt')"),
    ("benign/README", "not an image file (extension 'none')"),
]


@pytest.mark.parametrize(("path", "reason"), SKIP_CASES)
def test_skip_reason(path: str, reason: str | None) -> None:
    assert skip_reason(Path(path)) == reason


@pytest.mark.parametrize(
    ("kind", "fmt", "native"),
    [
        ("png", "PNG", True),
        ("png_grey", "PNG", True),
        ("png_palette", "PNG", True),
        ("png_rgba", "PNG", True),
        ("png16", "PNG", False),
        ("jpeg", "JPEG", True),
        ("jpeg_cmyk", "JPEG", True),
        ("jpeg_exif_rotated", "JPEG", False),
        ("bmp", "BMP", True),
        ("tiff", "TIFF", False),
        ("pgm", "PPM", False),
        ("gif", "GIF", True),
    ],
)
def test_probe_formats(tmp_path: Path, kind: str, fmt: str, native: bool) -> None:
    info = probe_image(write_image(tmp_path / f"x.{kind}", kind, size=(40, 50)))
    assert (info.format, info.width, info.height, info.tf_native) == (fmt, 50, 40, native)


def test_probe_mislabelled_extension_reads_content(tmp_path: Path) -> None:
    path = write_image(tmp_path / "really_a_jpeg.png", "jpeg")
    assert probe_image(path).format == "JPEG"


@pytest.mark.parametrize(("kind", "message"), [("empty", "empty"), ("text", "not a recognised")])
def test_probe_rejects_bad_files_naming_them(tmp_path: Path, kind: str, message: str) -> None:
    path = write_bad(tmp_path / "bad.png", kind)
    with pytest.raises(ImageDecodeError, match=message) as caught:
        probe_image(path)
    assert str(path) in str(caught.value)


def test_probe_refuses_images_over_the_pixel_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import Image

    path = write_image(tmp_path / "huge.png", size=(200, 300))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 40_000)
    with pytest.raises(ImageDecodeError, match=r"decompression bomb.*MAX_IMAGE_PIXELS"):
        probe_image(path)
