"""Settings dataclasses as flags and JSON files (train CLI and recipes)."""

import importlib
import json
import pkgutil
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from bcnet_tf.errors import BcnetError
from bcnet_tf.settings import (
    Choices,
    ImageSize,
    SettingHelp,
    describe_settings,
    nested_setting,
    parse_settings,
    setting,
    setting_like,
    settings_parser,
)


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


@dataclass(frozen=True)
class Crop:
    size: int = setting(224, "crop side in pixels")
    jitter: float = setting(0.0, "random shift")


@dataclass
class WithCrop:
    epochs: int = setting(5, "passes")
    crop: Crop | None = nested_setting(Crop, None, "cropping", prefix="crop", switch="size")
    resize: Crop = nested_setting(Crop, Crop(size=64), "resizing", prefix="resize")


def test_a_nested_setting_is_prefixed_flags_and_a_json_object(tmp_path: Path) -> None:
    assert parse_settings(WithCrop, []) == WithCrop(5, None, Crop(64))
    parsed = parse_settings(WithCrop, ["--crop-size", "32", "--resize-jitter", "0.5"])
    assert parsed == WithCrop(5, Crop(32, 0.0), Crop(64, 0.5))
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"crop": {"size": 16, "jitter": 0.25}}))
    parsed = parse_settings(WithCrop, ["--config", str(path), "--crop-jitter", "0.75"])
    assert parsed == WithCrop(5, Crop(16, 0.75), Crop(64))
    flags = [item.flag for item in describe_settings(WithCrop)]
    assert flags == ["--epochs", "--crop-size", "--crop-jitter", "--resize-size", "--resize-jitter"]


def test_a_nested_setting_off_by_default_needs_its_switch(tmp_path: Path) -> None:
    with pytest.raises(BcnetError, match=r"^--crop-jitter need --crop-size \(it turns on cropping"):
        parse_settings(WithCrop, ["--crop-jitter", "0.5"])
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"crop": {"size": 16, "zoom": 2}}))
    with pytest.raises(BcnetError, match=r"crop: unknown settings \['zoom'\]"):
        parse_settings(WithCrop, ["--config", str(path)])


@dataclass(frozen=True)
class Zoom:
    size: int = setting(224, "crop side in pixels")
    mpp: float | None = setting(None, "microns per pixel", flag="mpp")


@dataclass
class WithZoom:
    zoom: Zoom | None = nested_setting(Zoom, None, "zooming", prefix="zoom", switch="size")


def test_a_nested_field_may_name_its_own_flag(tmp_path: Path) -> None:
    assert [item.flag for item in describe_settings(WithZoom)] == ["--zoom-size", "--mpp"]
    parsed = parse_settings(WithZoom, ["--zoom-size", "32", "--mpp", "0.5"])
    assert parsed == WithZoom(Zoom(32, 0.5))
    with pytest.raises(SystemExit):  # the prefixed name is not a flag
        parse_settings(WithZoom, ["--zoom-size", "32", "--zoom-mpp", "0.5"])
    with pytest.raises(BcnetError, match=r"^--mpp need --zoom-size "):
        parse_settings(WithZoom, ["--mpp", "0.5"])
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"zoom": {"size": 16, "mpp": 0.25}}))  # JSON keeps field names
    assert parse_settings(WithZoom, ["--config", str(path)]) == WithZoom(Zoom(16, 0.25))


def test_bad_value_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_settings(Example, ["--epochs", "two"])
    assert "invalid int value: 'two'" in capsys.readouterr().err


@dataclass
class Sized:
    image_size: ImageSize | None = setting(None, "model input")
    crop: ImageSize = setting(ImageSize(64, 48), "crop")


def test_an_image_size_flag_is_a_side_or_height_x_width(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parsed = parse_settings(Sized, ["--image-size", "512x416", "--crop", "96"])
    assert parsed == Sized(image_size=ImageSize(height=512, width=416), crop=ImageSize(96, 96))
    assert parse_settings(Sized, ["--image-size", "none"]).image_size is None
    assert "[default: 64x48]" in " ".join(settings_parser(Sized).format_help().split())
    for bad in ("512x", "512by416", "0", "4x3x2"):
        with pytest.raises(SystemExit):
            parse_settings(Sized, ["--image-size", bad])
        assert "an image size is" in capsys.readouterr().err


CALLS: list[str] = []


def _allowed() -> tuple[str, ...]:
    CALLS.append("read")
    return ("adam", "sgd")


@dataclass
class Described:
    optimizer: str = setting("adam", "optimizer", Choices(__name__, "_allowed"))
    share: float = setting(0.5, "share of the data, e.g. 50% of it")
    out: str = setting("runs", "output folder")


@dataclass
class Derived(Described):
    out: str = "elsewhere"
    steps: int = setting(3, "steps")
    rate: float = setting_like(Described, "share", 0.1)


def test_descriptions_choices_and_defaults_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    CALLS.clear()
    parser = settings_parser(Described)
    assert CALLS == []  # choices are read when needed, not when the parser is built
    text = parser.format_help()
    assert "share of the data, e.g. 50% of it [default: 0.5]" in " ".join(text.split())
    assert "optimizer; one of adam, sgd [default: adam]" in " ".join(text.split())
    assert parse_settings(Described, ["--optimizer", "sgd"]).optimizer == "sgd"
    with pytest.raises(SystemExit) as done:
        parse_settings(Described, ["--optimizer", "rmsprop"])
    assert done.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "argument --optimizer: invalid choice: 'rmsprop'" in line and "--help" in line


def test_redefined_and_borrowed_fields_keep_their_description() -> None:
    described = {item.flag: item for item in describe_settings(Derived)}
    assert described["--out"] == SettingHelp("--out", "output folder", None, "elsewhere")
    assert described["--rate"].help == "share of the data, e.g. 50% of it"
    assert described["--rate"].default == 0.1
    assert list(described["--optimizer"].choices) == ["adam", "sgd"]
    assert described["--steps"].help == "steps"
    with pytest.raises(TypeError, match="no described setting 'epochs'"):
        setting_like(Example, "epochs", 1)


def _recipes() -> list[ModuleType]:
    import recipes

    names = [m.name for m in pkgutil.iter_modules(recipes.__path__) if not m.name.startswith("_")]
    return [importlib.import_module(f"recipes.{name}") for name in names]


def test_every_recipe_flag_is_described(capsys: pytest.CaptureFixture[str]) -> None:
    from recipes import recipe_parser

    modules = _recipes()
    assert len(modules) == 5
    for module in modules:
        parser = recipe_parser(module.Settings, module.__doc__)
        flags = [action for action in parser._actions if action.option_strings]
        assert {"--verbose", "--config", "--data", "--out"} <= {
            flag for action in flags for flag in action.option_strings
        }
        for action in flags:
            description = re.sub(r"(; one of .*)? ?\[default: [^\]]*\]$", "", action.help or "")
            assert description.strip(), (module.__name__, action.option_strings)
        with pytest.raises(SystemExit) as done:
            module.main(["--help"])
        assert done.value.code == 0
        assert "--verbose" in capsys.readouterr().out


def test_a_recipe_refuses_an_unknown_choice(capsys: pytest.CaptureFixture[str]) -> None:
    from recipes import breakhis_attention

    with pytest.raises(SystemExit) as done:
        breakhis_attention.main(["--protocol", "imagewise"])
    assert done.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "argument --protocol: invalid choice: 'imagewise'" in line


def test_a_model_registered_after_the_parser_was_built_is_a_valid_choice() -> None:
    from bcnet_tf.models import register_model, unregister_model
    from bcnet_tf.training import TrainConfig

    parse_settings(TrainConfig, ["--model", "resnet9"])  # reads the choices once
    register_model(
        "late_tiny",
        default_size=32,
        preprocessing="unit",
        stages=(("conv",),),
        study="none",
        description="a model registered after the parser was built",
    )(lambda x: x)
    try:
        assert parse_settings(TrainConfig, ["--model", "late_tiny"]).model == "late_tiny"
    finally:
        unregister_model("late_tiny")
