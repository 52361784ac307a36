"""Models meeting the wrong data, offline weights, and untrusted model files."""

import json
from pathlib import Path

import keras
import pytest
from PIL import Image

from bcnet_tf.cli import main
from bcnet_tf.models import load_model, save_model
from bcnet_tf.models.saving import ModelInfo
from tests.conftest import rgb_pattern


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_weights_download_offline_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: object, **kwargs: object) -> str:
        raise Exception("URL fetch failure on https://...: [Errno -3] Temporary failure")

    monkeypatch.setattr(keras.utils, "get_file", no_network)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    code, _, err = _cli(
        capsys,
        "train",
        "--synthetic",
        "--model",
        "resnet50",
        "--weights",
        "imagenet",
        "--epochs",
        "1",
        "--run-dir",
        str(tmp_path / "run"),
        "--image-size",
        "32",
    )
    assert code == 2 and "Traceback" not in err
    (message,) = [line for line in err.splitlines() if line.startswith("bcnet-tf")]
    assert "cannot download ImageNet weights" in message and "Fix:" in message


def test_a_larger_image_than_the_model_takes_is_resized(
    lesion_model: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, _ = lesion_model
    big = tmp_path / "big.jpg"
    Image.fromarray(rgb_pattern(300, 200)).save(big, quality=95)
    code, out, _ = _cli(capsys, "predict", str(model), str(big), "--json")
    assert code == 0
    assert json.loads(out)[0]["top"][0][0] in ("clear", "lesion")


def test_a_model_evaluated_on_another_label_set_is_refused(
    lesion_model: tuple[Path, Path],
    folder_dataset: Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    model, _ = lesion_model
    code, _, err = _cli(
        capsys,
        "evaluate",
        str(model),
        "--data",
        str(folder_dataset),
        "--out",
        str(tmp_path / "eval"),
    )
    assert code == 2 and "does not know" in err and "['clear', 'lesion']" in err


def test_a_model_file_with_code_is_refused_unless_trusted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Dense(2, activation="softmax")(
        keras.layers.Flatten()(keras.layers.Lambda(lambda x: x / 255)(inputs))
    )
    path = save_model(
        keras.Model(inputs, outputs),
        tmp_path / "lambda.keras",
        ModelInfo(("a", "b"), "custom", (8, 8)),
    )
    image = tmp_path / "x.png"
    Image.fromarray(rgb_pattern(8, 8)).save(image)
    code, _, err = _cli(capsys, "predict", str(path), str(image))
    assert code == 2 and "contains Python code" in err and "--trust" in err
    assert _cli(capsys, "predict", str(path), str(image), "--trust")[0] == 0
    with pytest.raises(Exception, match="contains Python code"):
        load_model(path)


def test_a_keras_file_without_labels_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without the label list the class order is unknown: no silent guess."""
    inputs = keras.Input((8, 8, 3))
    keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs))).save(
        tmp_path / "plain.keras"
    )
    image = tmp_path / "x.png"
    Image.fromarray(rgb_pattern(8, 8)).save(image)
    code, _, err = _cli(capsys, "predict", str(tmp_path / "plain.keras"), str(image))
    assert code == 2 and "class order is unknown" in err
