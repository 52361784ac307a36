"""Bad and unusual input files, through the command line as a user meets them."""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bcnet_tf.cli import main
from bcnet_tf.data.decode import decode_rgb
from bcnet_tf.data.layouts import discover
from bcnet_tf.data.pipeline import make_dataset
from tests.conftest import write_bad, write_image


def two_classes(root: Path, per_class: int = 6) -> Path:
    for c, name in enumerate(("benign", "malignant")):
        for i in range(per_class):
            write_image(root / name / f"{name}_{i}.png", seed=50 * c + i)
    return root


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# name -> (what to add to a good two-class dataset, file name the report must show, reason)
SKIPPED: dict[str, tuple[Callable[[Path], Path], str, str]] = {
    "zero-byte": (lambda r: write_bad(r / "benign" / "empty.png", "empty"), "empty.png", ""),
    "non-image": (lambda r: write_bad(r / "benign" / "notes.png", "text"), "notes.png", ""),
    "stray text": (
        lambda r: (r / "benign" / "readme.txt").write_text("x") and r / "readme.txt",
        "readme.txt",
        "not an image file",
    ),
    "mask": (
        lambda r: write_image(r / "benign" / "benign_0_mask.png"),
        "benign_0_mask.png",
        "segmentation mask",
    ),
    "thumbnail": (
        lambda r: write_image(r / "benign" / "tiny.png", size=(16, 16)),
        "tiny.png",
        "",
    ),
    "truncated": (
        lambda r: write_bad(r / "malignant" / "broken.png", "truncated"),
        "broken.png",
        "",
    ),
}


@pytest.mark.parametrize("case", list(SKIPPED))
def test_inspect_names_each_unusable_file(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = two_classes(tmp_path / "data")
    add, name, reason = SKIPPED[case]
    add(root)
    code, out, err = _cli(capsys, "inspect", str(root), "--no-duplicates")
    assert code == 0 and "Traceback" not in err
    assert any(name in line and reason in line for line in out.splitlines())


GOOD_KINDS = ("png16", "png_palette", "png_rgba", "jpeg_cmyk", "jpeg_exif_rotated", "pgm")


def test_every_supported_format_decodes_in_the_pipeline(tmp_path: Path) -> None:
    """16-bit, palette and RGBA PNGs, CMYK and EXIF-rotated JPEGs, PGM, and a PNG
    named .jpg: all read as RGB, identically by the pipeline and the reference."""
    root = tmp_path / "data"
    for i, kind in enumerate(GOOD_KINDS):
        suffix = {"pgm": ".pgm"}.get(kind, ".jpg" if "jpeg" in kind else ".png")
        write_image(root / ("a" if i % 2 else "b") / f"{kind}{suffix}", kind, seed=i)
    write_image(root / "a" / "really_png.jpg", "png", seed=9)  # mislabelled extension
    index = discover(root)
    assert len(index.records) == len(GOOD_KINDS) + 1 and not index.skipped
    images, _ = next(
        iter(
            make_dataset(
                index.records, index.class_names, image_size=(48, 64), batch_size=len(index.records)
            )
        )
    )
    for record, image in zip(index.records, images.numpy(), strict=True):
        reference = decode_rgb(record.path)
        if reference.shape[:2] != (48, 64):  # EXIF rotation turns 48x64 into 64x48
            continue
        assert np.abs(image - reference).max() <= 1, record.path


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
        ("empty class folder", "holds no usable image"),
        ("one class only", "one class"),
        ("loose images, no class folders", "cannot detect the layout"),
        ("CSV lists a missing file", "do not exist (line 3: missing.png)"),
        ("CSV path escapes the folder", "outside its folder"),
        ("CSV absolute path", "outside its folder"),
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
        assert code == 0 and "normal" in out and expected in out
        return
    assert code == 2 and "Traceback" not in err
    assert expected in err
