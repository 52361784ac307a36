"""bcnet-tf: output, exit codes, and the dataset folder left byte-identical."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bcnet_tf.cli import main
from tests.conftest import tree_digest, write_bad


def test_inspect_prints_report_and_leaves_data_untouched(
    folder_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_bad(folder_dataset / "benign" / "cut.png", "truncated")
    before = tree_digest(folder_dataset)
    assert main(["inspect", str(folder_dataset), "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "layout: folders (detected)" in out and "unreadable image benign/cut.png" in out
    assert json.loads((tmp_path / "r.json").read_text())["num_images"] == 25
    assert tree_digest(folder_dataset) == before


def test_split_writes_json_outside_the_dataset(folder_dataset: Path, tmp_path: Path) -> None:
    before = tree_digest(folder_dataset)
    assert main(["split", str(folder_dataset), "--out", str(tmp_path / "s.json")]) == 0
    assert json.loads((tmp_path / "s.json").read_text())["group_by"] == "duplicates"
    assert main(["split", str(folder_dataset), "--k", "3", "--out", str(tmp_path / "f")]) == 0
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == [
        "fold0.json",
        "fold1.json",
        "fold2.json",
    ]
    assert main(["split", str(folder_dataset), "--out", str(folder_dataset / "s.json")]) == 2
    assert tree_digest(folder_dataset) == before


def test_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bcnet_tf.cli", "inspect", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"dataset path {tmp_path / 'missing'} does not exist" in result.stderr


def test_inspect_synthetic(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", "--synthetic", "--no-duplicates"]) == 0
    assert "layout: databiox (detected)" in capsys.readouterr().out
    assert main(["inspect"]) == 2


def test_models_lists_the_zoo(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--num-classes", "2"]) == 0
    out = capsys.readouterr().out
    for name, parameters in [
        ("bcnet_vgg16", "14,714,688"),
        ("resnet18", "11,186,112"),
        ("squeezenet", "722,496"),
        ("resnet9", "6,572,480"),
    ]:
        line = next(line for line in out.splitlines() if line.startswith(name + " "))
        assert parameters in line
    assert "local file only" in out and "none (from scratch)" in out


def test_top_level_lazy_exports() -> None:
    import bcnet_tf

    assert bcnet_tf.build_model.__module__ == "bcnet_tf.models.factory"
    assert callable(bcnet_tf.discover)
    with pytest.raises(AttributeError):
        bcnet_tf.no_such_name  # noqa: B018


def test_import_is_cheap() -> None:
    """``import bcnet_tf`` (and inspecting a dataset) never imports TensorFlow."""
    code = (
        "import sys, bcnet_tf, bcnet_tf.data.layouts, bcnet_tf.data.splits\n"
        "print('tensorflow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_train_command_runs_and_resumes(
    tmp_path: Path, folder_dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree_digest(folder_dataset)
    command = [
        "train",
        "--model",
        "resnet9",
        "--weights",
        "none",
        "--data",
        str(folder_dataset),
        "--image-size",
        "32",
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--augment",
        "none",
        "--group-by",
        "image",
        "--precision",
        "float32",
        "--run-dir",
        str(tmp_path / "run"),
    ]
    with pytest.warns(UserWarning, match="image-level split"):
        assert main(command) == 0
    assert "best model:" in capsys.readouterr().out
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["weights"] is None and config["epochs"] == 2
    assert main(command) == 0  # same command: resumes (already complete)
    assert main([*command[:-2], "--run-dir", str(tmp_path / "run"), "--epochs", "3"]) == 2
    assert tree_digest(folder_dataset) == before


def test_a_missing_extra_is_named_with_its_install_command() -> None:
    """Without TensorFlow (a device with only bcnet_tf[edge]) a training command says
    what to install instead of printing an import traceback."""
    code = (
        "import sys; sys.modules['tensorflow'] = None; "
        "from bcnet_tf.cli import main; sys.exit(main(['models']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2
    assert "tensorflow is not installed. Fix: pip install 'bcnet_tf[train]'" in done.stderr
    assert "Traceback" not in done.stderr
