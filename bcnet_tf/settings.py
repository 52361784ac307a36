"""Settings dataclasses as command-line flags, JSON files and reference text.

Every field of a settings dataclass becomes a flag (``learning_rate`` ->
``--learning-rate``), typed from its annotation, described by the one line of help
:func:`setting` stores in the field's metadata and limited to its choices, which
argparse enforces. A field declared with :func:`nested_setting` holds another settings
dataclass whose fields become prefixed flags (``TrainConfig.tiles`` -> ``--tile-size``,
``--tile-scale``, ...) and a nested object in JSON. ``--config FILE`` reads a JSON file
of settings first, and flags override it. Used by ``bcnet-tf train`` and every recipe;
:func:`describe_settings` yields the same text for a CLI reference.

Example:
    >>> @dataclass
    ... class Settings:
    ...     epochs: int = setting(5, "passes over the training set")
    ...     weights: str | None = setting("imagenet", "weights file, imagenet or none")
    >>> parse_settings(Settings, ["--epochs", "2", "--weights", "none"])
    Settings(epochs=2, weights=None)
"""

from __future__ import annotations

import argparse
import importlib
import json
import numbers
import re
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import MISSING, Field, asdict, dataclass, field, fields  # noqa: F401  (dataclass: example)
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from bcnet_tf.console import ArgumentParser
from bcnet_tf.errors import BcnetError

T = TypeVar("T")


class Choices(Sequence[str]):
    """Allowed values kept in ``module`` as ``name`` (a sequence, or a function returning
    one), read on first use: a parser can name the rule's one home without importing
    it (and TensorFlow) until a value is checked or the help is printed.

    Example:
        >>> list(Choices("bcnet_tf.data.splits", "GROUPINGS"))
        ['auto', 'patient', 'duplicates', 'image']
    """

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    @property
    def values(self) -> tuple[str, ...]:
        """The values now: a function's are read on every use, so that a model
        registered after the parser was built is a valid choice."""
        found = getattr(importlib.import_module(self.module), self.name)
        return tuple(found() if callable(found) else found)

    def __getitem__(self, index: int) -> str:  # type: ignore[override]
        return self.values[index]

    def __len__(self) -> int:
        return len(self.values)

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __contains__(self, value: object) -> bool:
        return value in self.values

    def __repr__(self) -> str:
        return f"Choices({self.module}.{self.name})"


def setting(
    default: Any,
    description: str,
    choices: Sequence[str] | None = None,
    *,
    flag: str | None = None,
) -> Any:
    """A settings-dataclass field: its default, one line of help, its allowed values.
    ``flag`` names the field's flag inside a :func:`nested_setting` when the prefixed
    name would be clumsy (``TileSpec.mpp`` is ``--mpp``, not ``--tile-mpp``).

    Example:
        >>> @dataclass
        ... class Settings:
        ...     loss: str = setting("crossentropy", "training loss", ("crossentropy", "focal"))
    """
    metadata = {"help": description, "choices": choices, "flag": flag}
    return field(default=default, metadata=metadata)


def nested_setting(
    cls: type, default: Any, description: str, *, prefix: str, switch: str | None = None
) -> Any:
    """A field holding the settings dataclass ``cls`` (which must be frozen, so that an
    instance can be a default). Its fields become the flags ``--<prefix>-<field>``.
    With a ``None`` default, the ``switch`` field's flag turns the nested settings on
    (and their other flags need it).

    Example:
        >>> @dataclass(frozen=True)
        ... class Crop:
        ...     size: int = setting(224, "crop side in pixels")
        ...     jitter: float = setting(0.0, "random shift as a fraction of the side")
        >>> @dataclass
        ... class Settings:
        ...     crop: Crop | None = nested_setting(Crop, None, "cropping", prefix="crop",
        ...                                        switch="size")
        >>> parse_settings(Settings, ["--crop-size", "96"])
        Settings(crop=Crop(size=96, jitter=0.0))
        >>> parse_settings(Settings, [])
        Settings(crop=None)
    """
    metadata = {"help": description, "nested": cls, "prefix": prefix, "switch": switch}
    return field(default=default, metadata=metadata)


def setting_like(cls: type, name: str, default: Any) -> Any:
    """A field with the help and choices of ``cls``'s field ``name`` and its own default
    (a recipe's ``epochs`` means what ``TrainConfig.epochs`` means).

    Example:
        >>> from bcnet_tf.training.config import TrainConfig
        >>> @dataclass
        ... class Settings:
        ...     epochs: int = setting_like(TrainConfig, "epochs", 100)
        >>> next(describe_settings(Settings))
        SettingHelp(flag='--epochs', help='training epochs', choices=None, default=100)
    """
    metadata = _metadata(cls, name)
    if not metadata:
        raise TypeError(f"{cls.__name__} has no described setting {name!r}")
    return field(default=default, metadata=metadata)


def _metadata(cls: type, name: str) -> Mapping[str, Any]:
    """The metadata of ``cls``'s field ``name`` (empty if none is described); a field
    that a subclass redefines only to change its default keeps its base's help."""
    for base in cls.__mro__:
        found = getattr(base, "__dataclass_fields__", {}).get(name)
        if found is not None and found.metadata.get("help"):
            return found.metadata
    return {}


class SettingHelp(NamedTuple):
    """What a reference says about one setting."""

    flag: str
    help: str
    choices: Sequence[str] | None
    default: Any


def describe_settings(cls: type) -> Iterator[SettingHelp]:
    """One :class:`SettingHelp` per field of the dataclass ``cls``, in field order.

    Example:
        >>> from bcnet_tf.training.config import TrainConfig
        >>> [item.flag for item in describe_settings(TrainConfig)][:3]
        ['--model', '--data', '--run-dir']
        >>> [item.flag for item in describe_settings(TrainConfig)][-2:]
        ['--tile-aggregate', '--tile-top-k']
    """
    for item in fields(cls):
        nested = _metadata(cls, item.name).get("nested")
        if nested is None:
            yield _describe(cls, item)
        else:
            yield from (described for _, _, described in _nested_flags(cls, item))


def _describe(cls: type, item: Field[Any], flag: str | None = None) -> SettingHelp:
    metadata = _metadata(cls, item.name)
    return SettingHelp(
        flag="--" + (flag or item.name).replace("_", "-"),
        help=metadata.get("help", ""),
        choices=metadata.get("choices"),
        default=item.default if item.default is not MISSING else None,
    )


def _nested_flags(cls: type, item: Field[Any]) -> Iterator[tuple[str, Field[Any], SettingHelp]]:
    """(argparse destination, field, description) of each flag of a nested setting: the
    nested class's fields, prefixed, their help led by the nesting field's, their
    defaults those of the nesting field's default (or of the class)."""
    metadata = _metadata(cls, item.name)
    nested, prefix, switch = metadata["nested"], metadata["prefix"], metadata["switch"]
    outer = item.default
    for inner in fields(nested):
        described = _describe(nested, inner, _nested_flag(nested, prefix, inner.name))
        lead = metadata["help"] + (
            " (turns it on)" if outer is None and inner.name == switch else ""
        )
        default = getattr(outer, inner.name) if outer is not None else described.default
        yield (
            f"{item.name}__{inner.name}",
            inner,
            described._replace(help=f"{lead}: {described.help}", default=default),
        )


def _nested_flag(nested: type, prefix: str, name: str) -> str:
    """The flag name (without ``--``) of the nested class's field ``name``: its own
    ``flag``, else ``<prefix>_<name>``."""
    return _metadata(nested, name).get("flag") or f"{prefix}_{name}"


class ImageSize(NamedTuple):
    """A model input's size in pixels, as a flag writes it: ``224`` (square) or
    ``512x416`` (height x width); JSON holds ``[height, width]``.

    Example:
        >>> ImageSize.parse("512x416"), ImageSize.of(224)
        (ImageSize(height=512, width=416), ImageSize(height=224, width=224))
        >>> str(ImageSize(512, 416)), str(ImageSize(224, 224))
        ('512x416', '224')
    """

    height: int
    width: int

    def __str__(self) -> str:
        return str(self.height) if self.height == self.width else f"{self.height}x{self.width}"

    @classmethod
    def parse(cls, text: str) -> ImageSize:
        """``"224"`` or ``"512x416"`` (``x``, ``X`` or the multiplication sign) -> an
        :class:`ImageSize`."""
        parts = re.split(r"[xX\N{MULTIPLICATION SIGN}]", text.strip())
        if len(parts) > 2 or not all(part.strip().isdigit() for part in parts):
            raise ValueError(
                f"an image size is one number (224) or height x width (512x416), not {text!r}"
            )
        sides = [int(part) for part in parts]
        return cls.of(sides if len(sides) == 2 else sides[0])

    @classmethod
    def of(cls, value: int | str | Sequence[int]) -> ImageSize:
        """An :class:`ImageSize` from a side (square), a text (:meth:`parse`) or
        ``(height, width)``."""
        if isinstance(value, str):
            return cls.parse(value)
        if _is_integer(value):
            value = (value, value)
        if (
            not isinstance(value, Sequence)
            or len(value) != 2
            or not all(_is_integer(side) for side in value)
            or min(value) < 1
        ):
            raise ValueError(
                f"an image size is a positive side or [height, width] in pixels, not {value!r}"
            )
        return cls(int(value[0]), int(value[1]))


def _is_integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _image_size(text: str) -> ImageSize:
    try:
        return ImageSize.parse(text)
    except ValueError as error:  # argparse prints this message (not a generic one)
        raise argparse.ArgumentTypeError(str(error)) from None


def _optional_text(text: str) -> str | None:
    return None if text.lower() in ("none", "null") else text


def _text_or_int(text: str) -> str | int | None:
    return int(text) if text.isdigit() else _optional_text(text)


def _optional(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        return None if text.lower() in ("none", "null") else convert(text)

    parse.__name__ = convert.__name__  # argparse names the type in its errors
    return parse


_PARSERS: dict[str, Callable[[str], Any]] = {
    "str": str,
    "int": int,
    "float": float,
    "str | None": _optional_text,
    "int | None": _optional(int),
    "float | None": _optional(float),
    "str | int | None": _text_or_int,
    "ImageSize": _image_size,
    "ImageSize | None": _optional(_image_size),
}


def _annotation(kind: Any) -> str:
    """A field's annotation as written (``"int | None"``), evaluated or not."""
    if isinstance(kind, str):
        return kind
    if isinstance(kind, types.UnionType):
        return " | ".join(_annotation(arg) for arg in kind.__args__)
    if kind is type(None):
        return "None"
    return kind.__name__ if isinstance(kind, type) else str(kind)


def _shown(value: Any) -> str:
    """A default as a user types it on the command line."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _help_text(item: SettingHelp) -> str:
    """argparse help: description, choices, default. argparse %-formats help, so a
    literal ``%`` is doubled; ``%(choices)s`` lists :class:`Choices` only when shown."""
    text = item.help.replace("%", "%%")
    listed = "; one of %(choices)s" if item.choices is not None else ""
    return f"{text}{listed} [default: {_shown(item.default).replace('%', '%%')}]"


def add_setting_argument(
    parser: argparse.ArgumentParser, cls: type, name: str, *, keep_default: bool = False
) -> None:
    """The flag of the dataclass ``cls``'s field ``name``. Left out, it is absent from
    the parsed namespace (so a config file's value stands), unless ``keep_default``."""
    described = cls.__dataclass_fields__[name]
    if _metadata(cls, name).get("nested") is not None:
        for dest, inner, item in _nested_flags(cls, described):
            _add_flag(parser, item, _annotation(inner.type), dest, keep_default)
        return
    _add_flag(parser, _describe(cls, described), _annotation(described.type), name, keep_default)


def _add_flag(
    parser: argparse.ArgumentParser,
    item: SettingHelp,
    annotation: str,
    dest: str,
    keep_default: bool,
) -> None:
    options: dict[str, Any] = {
        "help": _help_text(item),
        "default": item.default if keep_default else argparse.SUPPRESS,
        "dest": dest,
    }
    if annotation == "bool":
        parser.add_argument(item.flag, action=argparse.BooleanOptionalAction, **options)
        return
    convert = _PARSERS.get(annotation)
    if convert is None:
        raise TypeError(f"{item.flag}: no flag parser for {annotation}")
    metavar = item.flag[2:].replace("-", "_").upper()  # choices are listed in the help
    parser.add_argument(item.flag, type=convert, choices=item.choices, metavar=metavar, **options)


def add_settings_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """One flag per field of the dataclass ``cls`` (:func:`add_setting_argument`), plus
    ``--config FILE``."""
    parser.add_argument("--config", help="JSON file of settings (flags override it)")
    for item in fields(cls):
        add_setting_argument(parser, cls, item.name)


def build_settings(cls: type[T], values: Mapping[str, Any], source: str = "settings") -> T:
    """The dataclass ``cls`` from plain values, as JSON holds them: a nested setting
    may be a mapping of its fields (missing ones take their defaults) or ``None``.
    Unknown or invalid values raise one :class:`~bcnet_tf.errors.BcnetError` naming
    ``source``.

    Example:
        >>> @dataclass(frozen=True)
        ... class Crop:
        ...     size: int = setting(224, "crop side in pixels")
        >>> @dataclass
        ... class Settings:
        ...     epochs: int = setting(5, "passes over the training set")
        ...     crop: Crop | None = nested_setting(Crop, None, "cropping", prefix="crop",
        ...                                        switch="size")
        >>> build_settings(Settings, {"crop": {"size": 96}})
        Settings(epochs=5, crop=Crop(size=96))
        >>> build_settings(Settings, {"epoch": 3}, "run.json")
        Traceback (most recent call last):
        bcnet_tf.errors.BcnetError: run.json: unknown settings ['epoch']; known: ['crop', 'epochs']
    """
    known = {item.name: item for item in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise BcnetError(f"{source}: unknown settings {unknown}; known: {sorted(known)}")
    built = dict(values)
    for name, value in values.items():
        nested = _metadata(cls, name).get("nested")
        if nested is not None and isinstance(value, Mapping):
            built[name] = _build_nested(nested, value, f"{source}: {name}")
    try:
        return cls(**built)
    except (TypeError, ValueError) as error:
        raise BcnetError(f"{source}: {error}") from None


def _build_nested(cls: type, values: Mapping[str, Any], source: str) -> Any:
    known = {item.name for item in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise BcnetError(f"{source}: unknown settings {unknown}; known: {sorted(known)}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise BcnetError(f"{source}: {error}") from None


def settings_from_arguments(cls: type[T], args: argparse.Namespace) -> T:
    """The dataclass ``cls`` from a config file (if given) and the flags. A class may
    define ``upgrade_settings(values)`` to read the settings of older versions."""
    values: dict[str, Any] = {}
    source = "command line"
    if getattr(args, "config", None):
        source = args.config
        try:
            values = json.loads(Path(args.config).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise BcnetError(f"cannot read config file {args.config}: {error}") from None
        if not isinstance(values, dict):
            raise BcnetError(f"{args.config}: a config file holds one JSON object of settings")
        values = getattr(cls, "upgrade_settings", dict)(values)
    for item in fields(cls):
        if _metadata(cls, item.name).get("nested") is None:
            if item.name in args:
                values[item.name] = getattr(args, item.name)
            continue
        given = {
            inner.name: getattr(args, dest)
            for dest, inner, _ in _nested_flags(cls, item)
            if dest in args
        }
        if given:
            values[item.name] = _merge_nested(cls, item, values.get(item.name), given)
    return build_settings(cls, values, source)


def _merge_nested(cls: type, item: Field[Any], base: Any, given: dict[str, Any]) -> Any:
    """A nested setting's values: its base (from a config file, else the field's
    default) with the flags given on top."""
    metadata = _metadata(cls, item.name)
    if base is None:
        base = item.default
    if base is None:
        switch = metadata["switch"]
        if switch not in given:
            nested, prefix = metadata["nested"], metadata["prefix"]
            flags = ", ".join(
                "--" + _nested_flag(nested, prefix, name).replace("_", "-") for name in given
            )
            switch_flag = "--" + _nested_flag(nested, prefix, switch).replace("_", "-")
            raise BcnetError(f"{flags} need {switch_flag} (it turns on {metadata['help']}).")
        return given
    base = base if isinstance(base, Mapping) else asdict(base)
    return {**base, **given}


def settings_parser(cls: type, description: str = "") -> argparse.ArgumentParser:
    """An argument parser with the flags of the dataclass ``cls``."""
    parser = ArgumentParser(description=description)
    add_settings_arguments(parser, cls)
    return parser


def parse_settings(cls: type[T], argv: Sequence[str] | None = None, description: str = "") -> T:
    """Parse ``argv`` into the dataclass ``cls`` (see the module example)."""
    return settings_from_arguments(cls, settings_parser(cls, description).parse_args(argv))
