"""ResNet18/34 conversion proven against PyTorch (opt-in: needs torch + torchvision).

    pip install torch==2.14.1 torchvision==0.29.1   # large (~5.5 GB); not in CI
    python -m pytest tests/models/test_torch_parity.py -s

torchvision builds the reference in its own process (tests/models/torch_reference.py);
its state dict, saved as safetensors, is loaded into the Keras model by name, and both
must give the same pooled features and probabilities on the same images.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from bcnet_tf.models import build_model

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torchvision") is None, reason="torch/torchvision not installed"
)


@pytest.mark.parametrize("name", ["resnet18", "resnet34"])
def test_keras_matches_torchvision(name: str, tmp_path: Path) -> None:
    script = Path(__file__).with_name("torch_reference.py")
    subprocess.run([sys.executable, str(script), name, str(tmp_path)], check=True)
    reference = np.load(tmp_path / "reference.npz")

    model = build_model(name, 5, image_size=96, weights=str(tmp_path / "w.safetensors"))
    features = keras.Model(model.input, model.get_layer("head_pool").output)
    ours = keras.ops.convert_to_numpy(features(reference["pixels"]))
    difference = np.abs(ours - reference["features"]).max()
    scale = np.abs(reference["features"]).max()
    print(
        f"{name}: max |keras - torch| pooled features = {difference:.2e} "
        f"(max |feature| {scale:.1f}, relative {difference / scale:.1e})"
    )
    assert difference / scale < 1e-5
    probabilities = keras.ops.convert_to_numpy(model(reference["pixels"]))
    assert np.abs(probabilities - reference["probabilities"]).max() < 1e-5  # fc -> predictions
