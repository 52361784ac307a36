"""visualkeras diagrams on Keras 3, with no patch left behind."""

from pathlib import Path

import keras
from PIL import Image

from bcnet_tf.models import build_model
from bcnet_tf.models.diagram import layer_output_shapes, model_diagram


def test_model_diagram_draws_and_leaves_no_patch(tmp_path: Path) -> None:
    model = build_model("resnet18", 3, image_size=64)
    path = model_diagram(model, tmp_path / "resnet18.png")
    width, height = Image.open(path).size
    assert 100 < width < 2000 and 100 < height < 2000  # readable, not a 17000 px strip
    assert not any("output_shape" in vars(layer) for layer in model.layers)
    assert not hasattr(keras.layers.Dense(1), "output_shape")


def test_output_shapes_are_removed_even_when_drawing_fails() -> None:
    model = build_model("resnet9", 2, image_size=32)
    try:
        with layer_output_shapes(model):
            assert model.get_layer("predictions").output_shape == (None, 2)
            raise RuntimeError("drawing failed")
    except RuntimeError:
        pass
    assert not hasattr(model.get_layer("predictions"), "output_shape")
