"""The dataset folder is byte-identical after every command, and no command writes
into it."""

import shutil
from pathlib import Path

import pytest

from bcnet_tf.cli import main
from tests.conftest import tree_digest

TINY_TRAIN = [
    "--model",
    "resnet9",
    "--weights",
    "none",
    "--image-size",
    "32",
    "--epochs",
    "1",
    "--augment",
    "none",
    "--batch-size",
    "16",
]


def test_every_command_leaves_the_dataset_untouched(
    lesion_model: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, original = lesion_model
    data = tmp_path / "data"
    shutil.copytree(original, data)
    before = tree_digest(data)
    image = str(next((data / "lesion").glob("*.png")))
    run, out = tmp_path / "run", tmp_path / "out"
    commands = [
        ["inspect", str(data), "--json", str(out / "inspect.json")],
        ["split", str(data), "--out", str(out / "split.json")],
        ["train", "--data", str(data), "--run-dir", str(run), *TINY_TRAIN],
        ["evaluate", str(run), "--bootstrap", "20"],
        ["evaluate", str(model), "--data", str(data), "--bootstrap", "0", "--out", str(out / "e")],
        ["explain", str(model), image, "--out", str(out / "explain")],
        [
            "export",
            str(model),
            "--data",
            str(data),
            "--out",
            str(out / "bundle"),
            "--quantize",
            "none",
        ],
        ["predict", str(out / "bundle"), image],
    ]
    for command in commands:
        assert main(command) == 0, command
        assert tree_digest(data) == before, command
    capsys.readouterr()


@pytest.mark.parametrize(
    "command",
    [
        ["inspect", "{data}", "--json", "{data}/report.json"],
        ["split", "{data}", "--out", "{data}/split.json"],
        ["train", "--data", "{data}", "--run-dir", "{data}/run", *TINY_TRAIN],
        ["evaluate", "{model}", "--data", "{data}", "--out", "{data}/evaluation"],
        ["export", "{model}", "--data", "{data}", "--out", "{data}/bundle"],
    ],
)
def test_outputs_inside_the_dataset_are_refused(
    command: list[str],
    lesion_model: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model, original = lesion_model
    data = tmp_path / "data"
    shutil.copytree(original, data)
    before = tree_digest(data)
    filled = [part.format(data=data, model=model) for part in command]
    assert main(filled) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert tree_digest(data) == before
