"""``explain`` on a whole-slide model: heat maps of tile probabilities (and attention
weights) over the slide's thumbnail, read tile by tile, from the API and the CLI."""

import math
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from bcnet_tf.cli import main
from bcnet_tf.errors import BcnetError
from bcnet_tf.explain import explain
from bcnet_tf.models.factory import FEATURE_LAYER
from bcnet_tf.models.saving import ModelInfo, save_model
from bcnet_tf.pathology.settings import model_extra
from bcnet_tf.pathology.tiles import TileSpec
from bcnet_tf.training.mil import build_mil_head
from bcnet_tf.training.run_dir import MIL_FILE
from tests.slides import slide_image, tiff_writer, write_slide

SPEC = TileSpec(size=32, mpp=1.0, min_tissue=0.5)  # 128 level-0 pixels per tile
NAMES = ("benign", "malignant")


@pytest.fixture(scope="module")
def slide(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A 512 px slide (0.25 µm/px, 3 levels; its thumbnail is level 0) with tissue in
    the top-left quarter only."""
    tiff_writer()
    image = slide_image((512, 512), [(0, 0, 256, 256)])
    return write_slide(tmp_path_factory.mktemp("slides") / "s.tif", image), image


def _constant_model(path: Path, malignant: float, spec: TileSpec = SPEC) -> Path:
    """A slide-mode model giving every tile p(malignant) = ``malignant``."""
    inputs = keras.Input((spec.size, spec.size, 3))
    pooled = keras.layers.GlobalAveragePooling2D(name=FEATURE_LAYER)(inputs)
    logit = math.log(malignant / (1 - malignant))
    head = keras.layers.Dense(
        2,
        activation="softmax",
        kernel_initializer="zeros",
        bias_initializer=keras.initializers.Constant([0.0, logit]),
    )
    model = keras.Model(inputs, head(pooled))
    info = ModelInfo(NAMES, "constant", (spec.size, spec.size), model_extra(None, spec))
    return save_model(model, path, info)


def _read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def test_tile_probabilities_are_painted_over_the_slide(slide, tmp_path: Path) -> None:
    path, image = slide
    likely = _constant_model(tmp_path / "likely" / "best.keras", 0.9)
    unlikely = _constant_model(tmp_path / "unlikely" / "best.keras", 0.1)
    [red] = explain(likely, [path], tmp_path / "a")
    [blue] = explain(likely, [path], tmp_path / "b", class_name="benign")
    [same] = explain(unlikely, [path], tmp_path / "c")  # predicts benign at 0.9
    assert (red.name, blue.name, same.name) == (
        "s_tiles_malignant.png",
        "s_tiles_benign.png",
        "s_tiles_benign.png",
    )
    red, blue, same = _read(red), _read(blue), _read(same)
    assert red.shape == image.shape
    assert np.array_equal(red, same)  # the map shows the explained class's probability
    # glass (outside the tissue tiles) is the slide itself, untouched
    assert np.abs(red[256:, :] - image[256:, :]).mean() < 4.0
    assert np.abs(red[:, 256:] - image[:, 256:]).mean() < 4.0
    # the tissue quarter is tinted: red-hot at 0.9, blue-cold at 0.1
    tissue = image[:256, :256].astype(int)

    def redness(pixels: np.ndarray) -> float:
        return float((pixels[..., 0] - pixels[..., 2]).mean())

    assert redness(red[:256, :256]) > redness(tissue) + 20
    assert redness(blue[:256, :256]) < redness(tissue) - 20


def test_attention_weights_and_the_cli(slide, tmp_path: Path, capsys) -> None:
    path, image = slide
    spec = TileSpec(**{**SPEC.to_json(), "aggregate": "attention"})
    model = _constant_model(tmp_path / "run" / "best.keras", 0.9, spec)
    with pytest.raises(BcnetError, match=r"attention-MIL head .* is missing"):
        explain(model, [path], tmp_path / "out")
    head = build_mil_head(3, 2)
    kernel, _ = head.get_layer("slide").get_weights()
    head.get_layer("slide").set_weights([np.zeros_like(kernel), np.array([0.0, 2.0])])
    save_model(head, model.parent / MIL_FILE, ModelInfo(NAMES, "attention_mil", (32, 32)))
    out = tmp_path / "out"
    assert main(["explain", str(model), str(path), "--out", str(out)]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == ["s_attention.png", "s_tiles_malignant.png"]
    assert str(out / "s_attention.png") in capsys.readouterr().out
    attention = _read(out / "s_attention.png")
    assert np.abs(attention[256:, :] - image[256:, :]).mean() < 4.0  # glass untouched
    assert np.abs(attention[:256, :256] - image[:256, :256]).mean() > 10  # tiles painted
    with pytest.raises(BcnetError, match=r"not available for whole-slide models.*--method"):
        explain(model, [path], out, methods=("gradcam",))
