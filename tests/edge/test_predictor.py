"""The edge predictor: no TensorFlow, the pipeline's preprocessing, the Keras model's
answers; `bcnet-tf predict` on a bundle and on a .keras file."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bcnet_tf.cli import main
from bcnet_tf.data.pipeline import resize_image
from bcnet_tf.edge.predictor import Predictor, dihedral_views, resize_rgb
from bcnet_tf.errors import BcnetError
from tests.conftest import rgb_pattern

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


@pytest.mark.parametrize("shape", [(100, 80), (47, 33), (20, 24)])
def test_edge_resize_matches_the_training_pipeline(shape: tuple[int, int]) -> None:
    image = rgb_pattern(*shape, seed=3)
    edge = resize_rgb(image, (32, 32)).astype(int)
    pipeline = resize_image(image, (32, 32)).numpy().astype(int)
    assert np.abs(edge - pipeline).mean() < 1.0
    assert np.abs(edge - pipeline).max() <= 6


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
