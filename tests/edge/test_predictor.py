"""The edge predictor: no TensorFlow, the pipeline's preprocessing, the Keras model's
answers; `bcnet-tf predict` on a bundle and on a .keras file."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bcnet_tf.cli import main
from bcnet_tf.data.images import resize_image
from bcnet_tf.edge.predictor import Predictor, dihedral_views, resize_rgb
from bcnet_tf.errors import BcnetError

NO_TENSORFLOW = """
import json, sys
from bcnet_tf.edge import Predictor
results = Predictor(sys.argv[1]).predict(sys.argv[2:], top_k=2, tta=True)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
print(json.dumps({"heavy": heavy, "top": [r.top[0][0] for r in results]}))
"""


def _images(data: Path) -> list[str]:
    return sorted(str(p) for p in data.rglob("*.png"))[::24]


def test_predictor_never_imports_tensorflow(bundle: Path, lesion_model: tuple[Path, Path]) -> None:
    _, data = lesion_model
    files = _images(data)
    done = subprocess.run(
        [sys.executable, "-c", NO_TENSORFLOW, str(bundle), *files],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["heavy"] == []
    assert result["top"] == [Path(f).parent.name for f in files]  # right on every image


@pytest.mark.parametrize("shape", [(100, 80), (47, 33), (32, 32), (20, 24), (24, 40)])
def test_edge_resize_matches_the_training_pipeline(shape: tuple[int, int]) -> None:
    """On uniform noise (the hardest case for any interpolation) the numpy resize
    gives TensorFlow's pixels, up to float rounding, when shrinking, enlarging, or
    shrinking one side while enlarging the other."""
    image = np.random.default_rng(3).integers(0, 256, (*shape, 3), dtype=np.uint8)
    edge = resize_rgb(image, (32, 32)).astype(int)
    pipeline = resize_image(image, (32, 32)).numpy().astype(int)
    assert np.abs(edge - pipeline).max() <= 1
    assert np.mean(edge != pipeline) < 0.01


def _lesion_files(root: Path, shapes: list[tuple[int, int]], seed: int = 21) -> list[str]:
    """Noisy images of other sizes than the lesion model's input, every other one
    with a bright rectangle of the trained lesion's relative size."""
    rng = np.random.default_rng(seed)
    files = []
    for i, (height, width) in enumerate(shapes):
        image = rng.normal(110, 20, (height, width, 3)).clip(0, 255)
        if i % 2:
            rows, columns = height * 6 // 32, width * 6 // 32
            top, left = rng.integers(1, height - rows - 1), rng.integers(1, width - columns - 1)
            image[top : top + rows, left : left + columns] = 235
        files.append(str(root / f"scan_{i}_{height}x{width}.png"))
        Image.fromarray(image.round().astype(np.uint8)).save(files[-1])
    return files


def _nearest(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize(size[::-1], Image.Resampling.NEAREST))


def _pillow_bilinear(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize(size[::-1], Image.Resampling.BILINEAR))


def _transposed(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return resize_rgb(np.ascontiguousarray(image.transpose(1, 0, 2)), size)


def test_predictor_resizes_other_sizes_as_the_keras_path_does(
    bundle: Path,
    lesion_model: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Files larger, smaller and not square against the model's 32x32 input: the
    edge predictor's numpy resize and TensorFlow's give the model the same pixels
    (float rounding: one grey level at most) and so the same probabilities (the
    float32 TFLite model alone differs from Keras by under 1e-4). A wrong resize
    (nearest, Pillow's anti-aliased bilinear, transposed pixels) fails both bounds."""
    from bcnet_tf.data.pipeline import load_files
    from bcnet_tf.edge import predictor as edge_predictor
    from bcnet_tf.models.saving import load_model

    model_path, _ = lesion_model
    files = _lesion_files(tmp_path, [(96, 72)] * 4 + [(45, 70)] * 4 + [(24, 40)] * 4)
    model, info = load_model(model_path)
    keras_pixels = load_files(files, info.image_size)
    keras_probabilities = model.predict(keras_pixels.astype("float32"), verbose=0)
    predictor = Predictor(bundle, artifact="model_float32.tflite")

    def difference() -> tuple[int, float]:
        pixels = predictor.load(files)
        probabilities = predictor.probabilities(pixels)
        return (
            int(np.abs(pixels.astype(int) - keras_pixels).max()),
            float(np.abs(probabilities - keras_probabilities).max()),
        )

    pixels, probabilities = difference()
    assert pixels <= 1 and probabilities < 1e-3
    for wrong in (_nearest, _pillow_bilinear, _transposed):
        monkeypatch.setattr(edge_predictor, "resize_rgb", wrong)
        pixels, probabilities = difference()
        assert pixels > 1 and probabilities > 1e-3, wrong.__name__


def test_predictor_matches_the_keras_model(bundle: Path, lesion_model: tuple[Path, Path]) -> None:
    from bcnet_tf.data.pipeline import load_files
    from bcnet_tf.models.saving import load_model

    model_path, data = lesion_model
    files = _images(data)
    model, info = load_model(model_path)
    keras_probabilities = model.predict(load_files(files, info.image_size), verbose=0)
    predictor = Predictor(bundle, artifact="model_float32.tflite")
    edge = predictor.probabilities(predictor.load(files))
    assert np.abs(edge - keras_probabilities).max() < 1e-4
    averaged = predictor.probabilities(predictor.load(files), tta=True)
    assert np.allclose(averaged.sum(1), 1, atol=1e-5)
    assert len(dihedral_views(predictor.load(files[:1]))) == 6


def test_cli_predict_on_a_bundle_and_on_a_keras_file(
    bundle: Path, lesion_model: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    model_path, data = lesion_model
    files = _images(data)[:3]
    outputs = []
    for source in (bundle, model_path):
        assert main(["predict", str(source), *files, "--json", "--top-k", "1"]) == 0
        outputs.append(json.loads(capsys.readouterr().out))
    for from_bundle, from_keras in zip(*outputs, strict=True):
        assert from_bundle["top"][0][0] == from_keras["top"][0][0]
        assert from_bundle["top"][0][1] == pytest.approx(from_keras["top"][0][1], abs=0.02)
    assert main(["predict", str(bundle), *files]) == 0
    assert files[0] in capsys.readouterr().out


def test_a_folder_that_is_not_a_bundle_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BcnetError, match="not a bcnet_tf bundle"):
        Predictor(tmp_path)
