"""Settings dataclasses as flags and JSON files (train CLI and recipes)."""

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from bcnet_tf.errors import BcnetError
from bcnet_tf.settings import parse_settings


@dataclass
class Example:
    epochs: int = 5
    rate: float = 0.1
    weights: str | None = "imagenet"
    size: int | None = None
    freeze: str | int | None = None
    tta: bool = False


def test_flags_parse_by_annotation() -> None:
    parsed = parse_settings(
        Example,
        ["--epochs", "2", "--weights", "none", "--size", "64", "--freeze", "2", "--tta"],
    )
    assert parsed == Example(epochs=2, weights=None, size=64, freeze=2, tta=True)
    assert parse_settings(Example, ["--freeze", "all", "--no-tta"]).freeze == "all"


def test_config_file_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"epochs": 9, "rate": 0.5}))
    assert parse_settings(Example, ["--config", str(path), "--rate", "0.2"]) == Example(9, 0.2)
    path.write_text(json.dumps({"epoch": 9}))
    with pytest.raises(BcnetError, match=r"unknown settings \['epoch'\]"):
        parse_settings(Example, ["--config", str(path)])


def test_bad_value_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_settings(Example, ["--epochs", "two"])
    assert "invalid int value: 'two'" in capsys.readouterr().err
