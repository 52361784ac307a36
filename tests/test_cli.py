"""bcnet-tf: output, exit codes, and the dataset folder left byte-identical."""

import argparse
import errno
import importlib
import json
import os
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from bcnet_tf.cli import build_parser, main
from bcnet_tf.pathology.tiles import TileSpec
from bcnet_tf.training import TrainConfig
from tests.conftest import tree_digest, write_bad, write_image

REPO = Path(__file__).resolve().parents[1]


def test_inspect_prints_report_and_leaves_data_untouched(
    folder_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_bad(folder_dataset / "benign" / "cut.png", "truncated")
    before = tree_digest(folder_dataset)
    assert main(["inspect", str(folder_dataset), "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "layout: folders (detected)" in out and "unreadable image benign/cut.png" in out
    assert (
        json.loads((tmp_path / "r.json").read_text())["num_images"] == 24
    )  # 3 x 8; the cut file is skipped
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


def test_import_is_cheap() -> None:
    """``import bcnet_tf``, inspecting a dataset and building the command line's parser
    (as every command does, also TensorFlow-free ``predict``) never import TensorFlow."""
    code = (
        "import sys, bcnet_tf, bcnet_tf.data.layouts, bcnet_tf.data.splits\n"
        "from bcnet_tf.cli import build_parser\n"
        "build_parser()\n"
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
    what to install instead of printing an import traceback, also where checking a
    flag's value needs TensorFlow."""
    code = (
        "import sys; sys.modules['tensorflow'] = None\n"
        "from bcnet_tf.cli import main\n"
        "print(main(['models']), main(['train', '--synthetic', '--precision', 'float32']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split() == ["2", "2"]
    hint = "tensorflow is not installed. Fix: pip install 'bcnet_tf[train]'"
    assert done.stderr.splitlines() == [
        f"bcnet-tf {command}: error: {hint}" for command in ("models", "train")
    ]


def _commands() -> dict[str, argparse.ArgumentParser]:
    """Every sub-command's parser, read from the parser itself."""
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _quiet_env() -> dict[str, str]:
    """The environment of a user who set no TensorFlow log level."""
    return {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}


def test_help_of_the_program_and_of_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    commands = _commands()
    assert {"inspect", "split", "train", "evaluate", "export", "predict"} <= set(commands)
    for argv in [["--help"], *([name, "--help"] for name in commands), ["--version"]]:
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == 0, argv
        out = capsys.readouterr().out
        if argv == ["--version"]:
            assert re.fullmatch(r"bcnet_tf \d+\.\d+\.\d+\n", out)
        else:
            command = f" {argv[0]}" if len(argv) == 2 else ""
            assert out.startswith(f"usage: bcnet-tf{command} "), argv
    assert "95% CIs" in build_parser().format_help()


def _description(help_text: str) -> str:
    """A flag's help without the generated choices and default."""
    return re.sub(r"(; one of %\(choices\)s)? ?\[default: [^\]]*\]$", "", help_text).strip()


def test_every_flag_of_every_command_is_described() -> None:
    commands = _commands()
    for name, parser in commands.items():
        for action in parser._actions:
            if action.option_strings:
                assert action.help and _description(action.help), (name, action.option_strings)
    flags = {flag for action in commands["train"]._actions for flag in action.option_strings}
    plain = {field.name for field in fields(TrainConfig)} - {"tiles"}
    assert {"--" + name.replace("_", "-") for name in plain} <= flags
    tile_flags = {
        "--" + (field.metadata.get("flag") or f"tile_{field.name}").replace("_", "-")
        for field in fields(TileSpec)
    }
    assert tile_flags <= flags
    assert {"--tile-per-image", "--mpp", "--target-magnification"} <= tile_flags


@pytest.mark.parametrize(
    ("command", "flag", "module", "name"),
    [
        ("train", "--schedule", "bcnet_tf.training.config", "SCHEDULES"),
        ("train", "--loss", "bcnet_tf.training.config", "LOSSES"),
        ("train", "--fast-path", "bcnet_tf.training.config", "FAST_PATH"),
        ("train", "--precision", "bcnet_tf.training.precision", "POLICIES"),
        ("train", "--augment", "bcnet_tf.data.augment", "POLICIES"),
        ("train", "--strategy", "bcnet_tf.training.strategy", "STRATEGIES"),
        ("train", "--tile-aggregate", "bcnet_tf.pathology.tiles", "AGGREGATIONS"),
        ("train", "--model", "bcnet_tf.models", "list_models"),
        ("train", "--layout", "bcnet_tf.data.layouts", "LAYOUTS"),
        ("inspect", "--label-by", "bcnet_tf.data.layouts", "LABEL_BY"),
        ("split", "--group-by", "bcnet_tf.data.splits", "GROUPINGS"),
        ("explain", "--method", "bcnet_tf.explain.explain", "METHODS"),
    ],
)
def test_choices_are_the_librarys_own_list(command: str, flag: str, module: str, name: str) -> None:
    action = next(a for a in _commands()[command]._actions if flag in a.option_strings)
    allowed = getattr(importlib.import_module(module), name)
    assert list(action.choices) == list(allowed() if callable(allowed) else allowed)


def test_stain_choices_are_none_and_the_stain_methods() -> None:
    action = next(a for a in _commands()["train"]._actions if "--stain" in a.option_strings)
    assert list(action.choices) == ["none", "macenko", "reinhard"]


def test_an_invalid_choice_is_argparses_one_line_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["train", "--synthetic", "--schedule", "nope"])
    assert done.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("bcnet-tf train: error: argument --schedule: invalid choice: 'nope'")
    assert "'one_cycle'" in line and "bcnet-tf train --help" in line


def test_train_asks_for_data_or_synthetic(
    tmp_path: Path,
    folder_dataset: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--epochs", "1"]) == 2
    assert main(["train", "--synthetic", "--data", str(folder_dataset), "--epochs", "1"]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2 and all("--data DIR" in e and "--synthetic" in e for e in errors)
    assert not (tmp_path / "saved_models").exists()


def test_a_full_disk_is_one_line_naming_the_file_and_the_fix(
    folder_dataset: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    out = tmp_path / "reports" / "report.json"
    assert main(["inspect", str(folder_dataset), "--no-duplicates", "--json", str(out)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"bcnet-tf inspect: error: {out}: {os.strerror(errno.ENOSPC)}. Fix: free disk space, "
        "or choose an output folder on another disk."
    ]
    assert list(out.parent.iterdir()) == []  # no partial file, no temporary left behind


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux sysfs")
def test_an_unwritable_output_folder_is_one_line_without_traceback(folder_dataset: Path) -> None:
    """sysfs refuses new files even to root: a folder no one can write to."""
    out = "/sys/bcnet-tf-test/split.json"
    done = subprocess.run(
        [sys.executable, "-m", "bcnet_tf.cli", "split", str(folder_dataset), "--out", out],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith("bcnet-tf split: error: /sys/bcnet-tf-test: ") and ". Fix: " in line


def test_recipes_share_the_one_line_errors(tmp_path: Path) -> None:
    """A BreakHis folder with too few patients fails at the split, before any training."""
    data = tmp_path / "BreaKHis"
    for patient, (kind, subtype) in enumerate(
        [("B", "A"), ("B", "F"), ("B", "PT"), ("M", "DC"), ("M", "LC"), ("M", "MC")]
    ):
        for i in range(2):
            name = f"SOB_{kind}_{subtype}-14-{1000 + patient}-40-{i + 1:03d}.png"
            write_image(data / name, seed=10 * patient + i)
    settings = ["--trials", "1", "--models", "resnet50", "--weights", "none"]
    command = ["--data", str(data), *settings, "--out", str(tmp_path / "out")]
    done = subprocess.run(
        [sys.executable, "-m", "recipes.breakhis_attention", *command],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=_quiet_env(),
    )
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith("breakhis_attention.py: error: cannot hold out ")
    assert "only 4 groups" in line and "Fix: " in line
    assert not list(tmp_path.rglob("*.keras"))


def test_tensorflow_start_up_log_is_hidden() -> None:
    code = (
        "import sys\n"
        "from bcnet_tf.cli import main\n"
        "status = main(['explain', 'missing.keras', 'x.png', '--out', 'explained'])\n"
        "print('tensorflow' in sys.modules, status)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_quiet_env()
    )
    assert done.stdout.split() == ["True", "2"]  # TensorFlow was loaded, then a clean error
    assert done.stderr.splitlines() == [
        "bcnet-tf explain: error: no model file at missing.keras. Fix: pass a run directory "
        "or its checkpoints/best.keras."
    ]


def test_progress_bars_stay_out_of_log_files(folder_dataset: Path, tmp_path: Path) -> None:
    log = tmp_path / "stderr.log"
    with log.open("w") as stderr:
        done = subprocess.run(
            [sys.executable, "-m", "bcnet_tf.cli", "inspect", str(folder_dataset)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    assert done.returncode == 0
    assert log.read_text() == ""  # no "hashing images" bar, no carriage-return updates


def test_training_log_files_get_one_line_per_epoch(folder_dataset: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "bcnet_tf.cli", "train", "--data", str(folder_dataset)),
            *("--model", "resnet9", "--weights", "none", "--image-size", "32", "--epochs", "2"),
            *("--batch-size", "8", "--precision", "float32", "--run-dir", str(run_dir)),
        ],
        capture_output=True,
        text=True,
        env=_quiet_env(),
    )
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stdout and "\x1b[" not in done.stdout  # no live bar, no colours
    epoch_lines = [line for line in done.stdout.splitlines() if " - val_accuracy: " in line]
    assert len(epoch_lines) == 2  # Keras' verbose=2: one summary line per epoch
