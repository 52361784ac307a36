"""Bad and unusual input files, through the command line as a user meets them."""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bcnet_tf.cli import main
from bcnet_tf.data.layouts import discover
from bcnet_tf.data.pipeline import make_dataset
from tests.conftest import write_bad, write_image
from tests.known_images import HEIGHT, WIDTH, tolerance, write_known


def two_classes(root: Path, per_class: int = 6) -> Path:
    for c, name in enumerate(("benign", "malignant")):
        for i in range(per_class):
            write_image(root / name / f"{name}_{i}.png", seed=50 * c + i)
    return root


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# name -> (what to add to a good two-class dataset, the line the report must show)
SKIPPED: dict[str, tuple[Callable[[Path], object], str]] = {
    "zero-byte": (
        lambda r: write_bad(r / "benign" / "empty.png", "empty"),
        "unreadable image benign/empty.png: the file is empty (0 bytes)",
    ),
    "non-image": (
        lambda r: write_bad(r / "benign" / "notes.png", "text"),
        "unreadable image benign/notes.png: not a recognised image format",
    ),
    "stray text": (
        lambda r: (r / "benign" / "readme.txt").write_text("x"),
        "1 x not an image file (extension '.txt'): benign/readme.txt",
    ),
    "mask": (
        lambda r: write_image(r / "benign" / "benign_0_mask.png"),
        "1 x segmentation mask (file name): benign/benign_0_mask.png",
    ),
    "thumbnail": (
        lambda r: write_image(r / "benign" / "tiny.png", size=(16, 16)),
        "1 x thumbnail-sized (16x16 px): benign/tiny.png",
    ),
    "truncated": (
        lambda r: write_bad(r / "malignant" / "broken.png", "truncated"),
        "unreadable image malignant/broken.png: decoding failed (image file is truncated)",
    ),
}


@pytest.mark.parametrize("case", list(SKIPPED))
def test_inspect_names_each_unusable_file_and_why(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = two_classes(tmp_path / "data")
    add, expected = SKIPPED[case]
    add(root)
    code, out, err = _cli(capsys, "inspect", str(root), "--no-duplicates")
    assert code == 0 and "Traceback" not in err
    assert expected in [line.strip(" -") for line in out.splitlines()]
    assert "skipped files: 1" in out.splitlines()


# file name -> known kind (tests/known_images.py)
UNUSUAL = {
    "scan16.png": "png16",
    "palette_alpha.png": "png_palette_transparent",
    "rgba.png": "png_rgba",
    "cmyk.jpg": "jpeg_cmyk",
    "scan16.pgm": "pgm16",
    "really_png.jpg": "png_rgb",  # mislabelled extension
}


def test_unusual_files_reach_the_batch_with_their_known_pixels(tmp_path: Path) -> None:
    """16-bit, palette and RGBA PNGs, a CMYK JPEG, a 16-bit PGM and a PNG named .jpg:
    one batch at the images' native size holds the pixels the test wrote."""
    expected = {}
    for i, (name, kind) in enumerate(UNUSUAL.items()):
        path = tmp_path / "data" / ("a" if i % 2 else "b") / name
        expected[str(path)] = (write_known(path, kind), tolerance(kind))
    index = discover(tmp_path / "data")
    assert sorted(r.path for r in index.records) == sorted(expected) and not index.skipped
    dataset = make_dataset(
        index.records, index.class_names, image_size=(HEIGHT, WIDTH), batch_size=len(expected)
    )
    images, _ = next(iter(dataset))
    for record, image in zip(index.records, images.numpy(), strict=True):
        known, allowed = expected[record.path]
        assert np.abs(image - known).max() <= allowed, record.path


def test_a_decompression_bomb_is_refused_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = two_classes(tmp_path / "data")
    write_image(root / "benign" / "huge.png", size=(300, 300))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # "huge" = over 2x this
    code, out, _ = _cli(capsys, "inspect", str(root), "--no-duplicates")
    assert code == 0
    assert any("huge.png" in line and "decompression bomb" in line for line in out.splitlines())


def test_truncated_image_met_while_predicting_is_named(
    lesion_model: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Discovery reads headers only; a file broken after its header fails in the
    pipeline, where TensorFlow's own error names no file."""
    model, data = lesion_model
    copy = tmp_path / "data"
    for path in sorted(data.rglob("*.png"))[::20]:
        target = copy / path.relative_to(data)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    broken = copy / "lesion" / "img_999.png"
    full = (copy / "lesion").iterdir().__next__().read_bytes()
    broken.write_bytes(full[: len(full) - 200])  # header intact, data cut short
    code, _, err = _cli(
        capsys,
        "evaluate",
        str(model),
        "--data",
        str(copy),
        "--bootstrap",
        "0",
        "--out",
        str(tmp_path / "eval"),
    )
    assert code == 2 and "Traceback" not in err
    assert "img_999.png" in err and "Fix:" in err


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("empty class folder", "class folder 'normal' holds no usable image"),
        ("one class only", "has one class (benign): a classifier needs two or more"),
        ("loose images, no class folders", "images lie directly in it, not in class folders"),
        ("CSV lists a missing file", "do not exist (line 3: missing.png)"),
        ("CSV path escapes the folder", "outside its folder (line 2: ../outside.png)"),
        ("CSV absolute path", "absolute paths or paths outside its folder (line 2: /"),
        ("CSV without a label column", "needs a path column"),
    ],
)
def test_dataset_problems_give_one_line_naming_the_fix(
    case: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "data"
    target = root
    if case == "empty class folder":
        two_classes(root)
        (root / "normal").mkdir()
    elif case == "one class only":
        for i in range(6):
            write_image(root / "benign" / f"b{i}.png", seed=i)
    elif case == "loose images, no class folders":
        for i in range(4):
            write_image(root / f"img{i}.png", seed=i)
    else:
        two_classes(root)
        rows = {
            "CSV lists a missing file": "path,label\nbenign/benign_0.png,benign\nmissing.png,x\n",
            "CSV path escapes the folder": "path,label\n../outside.png,benign\n",
            "CSV absolute path": f"path,label\n{root / 'benign' / 'benign_0.png'},benign\n",
            "CSV without a label column": "path\nbenign/benign_0.png\n",
        }[case]
        target = root / "labels.csv"
        target.write_text(rows)
    command = "inspect" if case == "empty class folder" else "split"
    extra = ["--no-duplicates"] if command == "inspect" else ["--out", str(tmp_path / "s.json")]
    code, out, err = _cli(capsys, command, str(target), *extra)
    if case == "empty class folder":
        assert code == 0 and f"  - {expected}" in out.splitlines()
        return
    assert code == 2 and "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert expected in line and str(target) in line and "Fix:" in line
