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
    ("command", "output"),
    [
        (["inspect", "{data}", "--json", "{output}"], "{data}/report.json"),
        (["split", "{data}", "--out", "{output}"], "{data}/split.json"),
        (["train", "--data", "{data}", "--run-dir", "{output}", *TINY_TRAIN], "{data}/run"),
        (["evaluate", "{model}", "--data", "{data}", "--out", "{output}"], "{data}/evaluation"),
        (["export", "{model}", "--data", "{data}", "--out", "{output}"], "{data}/bundle"),
    ],
)
def test_outputs_inside_the_dataset_are_refused(
    command: list[str],
    output: str,
    lesion_model: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model, original = lesion_model
    data = tmp_path / "data"
    shutil.copytree(original, data)
    before, paths = tree_digest(data), sorted(data.rglob("*"))
    output = output.format(data=data)
    filled = [part.format(data=data, model=model, output=output) for part in command]
    assert main(filled) == 2
    [line] = capsys.readouterr().err.splitlines()  # one line: no traceback
    assert line.startswith(f"bcnet-tf {command[0]}: error: "), line
    assert output in line and "Fix: " in line, line
    assert tree_digest(data) == before and sorted(data.rglob("*")) == paths


UNWRITABLE = "/sys/bcnet-tf-test"  # sysfs refuses new entries, even to root


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux sysfs")
@pytest.mark.parametrize(
    "command",
    [
        ["train", "--data", "{data}", "--run-dir", f"{UNWRITABLE}/run", *TINY_TRAIN],
        ["export", "{model}", "--data", "{data}", "--out", f"{UNWRITABLE}/bundle"],
    ],
)
def test_an_output_folder_that_cannot_be_written_is_one_line(
    command: list[str], lesion_model: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    model, data = lesion_model
    before = tree_digest(data)
    filled = [part.format(data=data, model=model) for part in command]
    assert main([*filled, "--quantize", "none"] if command[0] == "export" else filled) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"bcnet-tf {command[0]}: error: {UNWRITABLE}: "), line
    assert ". Fix: " in line
    assert tree_digest(data) == before
