"""Shared fixtures: tiny image files of every kind, written by the tests themselves."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPOSITORY = Path(__file__).resolve().parents[1]
SHARED = REPOSITORY.parent / "shared"


#: Hand-edited sources (and extension-less scripts): people edit them while tests run,
#: and nothing under test writes them.
SOURCE_SUFFIXES = frozenset({"", ".py", ".md", ".toml", ".cfg", ".yml", ".yaml"})


def _checkout_files() -> dict[str, tuple[int, int]]:
    """Size and modification time of every file a test could leave in the checkout:
    all of ``saved_models/`` and every file git does not ignore, except sources
    (``SOURCE_SUFFIXES``). Without git, ``saved_models/`` alone."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPOSITORY,
        capture_output=True,
        check=False,
    )
    names = listed.stdout.decode().split("\0") if listed.returncode == 0 else []
    paths = [REPOSITORY / name for name in names if Path(name).suffix not in SOURCE_SUFFIXES]
    paths += (REPOSITORY / "saved_models").rglob("*")
    return {
        str(path.relative_to(REPOSITORY)): (stat.st_size, stat.st_mtime_ns)
        for path in paths
        if path.is_file() and (stat := path.stat())
    }


@pytest.fixture(scope="package", autouse=True)
def _checkout_untouched() -> Iterator[None]:
    """Fail the run if any test wrote into the checkout: outputs belong under tmp_path."""
    before = _checkout_files()
    yield
    after = _checkout_files()
    changed = sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )
    if changed:
        pytest.fail(
            f"the tests changed {len(changed)} file(s) in the checkout: {changed[:5]}. "
            "Fix: write outputs under tmp_path (pass out=/run_dir= explicitly).",
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test gets its own bcnet_tf cache folder."""
    monkeypatch.setenv("BCNET_TF_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(autouse=True)
def _float32_policy() -> None:
    """Every test starts under Keras' float32 policy: training sets the global policy
    (mixed_bfloat16 on a bf16 CPU) and it would otherwise leak into the next test."""
    import keras

    keras.mixed_precision.set_global_policy("float32")


@pytest.fixture
def shared() -> Path:
    """The read-only ``../shared`` folder; tests that need it skip when it is absent."""
    if not (SHARED / "data").is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED


def rgb_pattern(height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    """A deterministic RGB uint8 image, smooth blobs unique to ``seed`` (distinct
    seeds give images that are not perceptual near-duplicates)."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
    smooth = np.asarray(coarse.resize((width, height), Image.Resampling.BICUBIC), np.int16)
    return np.clip(smooth + rng.integers(-8, 9, smooth.shape), 0, 255).astype(np.uint8)


def write_image(
    path: Path, kind: str = "png", size: tuple[int, int] = (48, 64), seed: int = 0
) -> Path:
    """Write a small image of ``kind`` at ``path``; kinds cover every supported format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = size
    rgb = rgb_pattern(height, width, seed)
    image = Image.fromarray(rgb)
    if kind == "png":
        image.save(path, format="PNG")
    elif kind == "png_grey":
        image.convert("L").save(path, format="PNG")
    elif kind == "png_palette":
        image.convert("P", palette=Image.Palette.ADAPTIVE).save(path, format="PNG")
    elif kind == "png_rgba":
        image.convert("RGBA").save(path, format="PNG")
    elif kind == "png16":
        grey = rgb[..., 0].astype(np.uint16) * 16  # 12-bit range, as mammograms use
        Image.fromarray(grey).save(path, format="PNG")
    elif kind == "jpeg":
        image.save(path, format="JPEG", quality=95)
    elif kind == "jpeg_cmyk":
        image.convert("CMYK").save(path, format="JPEG", quality=95)
    elif kind == "jpeg_exif_rotated":
        exif = Image.Exif()
        exif[0x0112] = 6  # rotate 90° clockwise when displayed
        image.save(path, format="JPEG", quality=95, exif=exif)
    elif kind == "bmp":
        image.save(path, format="BMP")
    elif kind == "tiff":
        image.save(path, format="TIFF")
    elif kind == "pgm":
        image.convert("L").save(path, format="PPM")
    elif kind == "ppm":
        image.save(path, format="PPM")
    elif kind == "gif":
        image.save(path, format="GIF")
    else:
        raise ValueError(kind)
    return path


def write_bad(path: Path, kind: str) -> Path:
    """Write a broken file: ``empty``, ``text`` (not an image) or ``truncated`` PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("this is not an image\n")
    elif kind == "truncated":
        buffer = io.BytesIO()
        Image.fromarray(rgb_pattern(64, 64)).save(buffer, format="PNG")
        path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    else:
        raise ValueError(kind)
    return path


@pytest.fixture
def image_factory() -> Callable[..., Path]:
    return write_image


def tree_digest(root: Path) -> dict[str, str]:
    """SHA-256 of every file below ``root`` (to prove a folder was left untouched)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def folder_dataset(tmp_path: Path) -> Path:
    """Three classes x 8 images in class folders, one nested a level deeper."""
    root = tmp_path / "folders"
    for c, name in enumerate(("benign", "malignant", "normal")):
        for i in range(8):
            sub = root / name / ("nested" if i == 0 else "")
            write_image(sub / f"{name}_{i}.png", seed=100 * c + i)
    return root


LESION_SIZE = 32


@pytest.fixture(scope="package")
def lesion_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(model.keras, dataset folder)``: a small CNN trained to find a bright square,
    and 240 images of the task (so half, 120, calibrate int8)."""
    from tests.lesions import save_trained, write_lesion_dataset

    root = tmp_path_factory.mktemp("lesion")
    data = write_lesion_dataset(root / "data", 240, seed=5, size=LESION_SIZE)
    return save_trained(root / "model.keras", LESION_SIZE), data


@pytest.fixture(scope="package")
def bundle(lesion_model: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lesion model exported in every format (read-only: copy it to change it)."""
    from bcnet_tf.export import export

    model, data = lesion_model
    out = tmp_path_factory.mktemp("bundles") / "lesion-bundle"
    return export(model, data=str(data), out=out).bundle
