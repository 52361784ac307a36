"""Settings dataclasses as command-line flags, JSON files and reference text.

Every field of a settings dataclass becomes a flag (``learning_rate`` ->
``--learning-rate``), typed from its annotation, described by the one line of help
:func:`setting` stores in the field's metadata and limited to its choices, which
argparse enforces. ``--config FILE`` reads a JSON file of settings first, and flags
override it. Used by ``bcnet-tf train`` and every recipe; :func:`describe_settings`
yields the same text for a CLI reference.

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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import MISSING, Field, dataclass, field, fields  # noqa: F401  (dataclass: example)
from functools import cached_property
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

    @cached_property
    def values(self) -> tuple[str, ...]:
        found = getattr(importlib.import_module(self.module), self.name)
        return tuple(found() if callable(found) else found)

    def __getitem__(self, index: int) -> str:  # type: ignore[override]
        return self.values[index]

    def __len__(self) -> int:
        return len(self.values)

    def __repr__(self) -> str:
        return f"Choices({self.module}.{self.name})"


def setting(default: Any, description: str, choices: Sequence[str] | None = None) -> Any:
    """A settings-dataclass field: its default, one line of help, its allowed values.

    Example:
        >>> @dataclass
        ... class Settings:
        ...     loss: str = setting("crossentropy", "training loss", ("crossentropy", "focal"))
    """
    return field(default=default, metadata={"help": description, "choices": choices})


def setting_like(cls: type, name: str, default: Any) -> Any:
    """A field with the help and choices of ``cls``'s field ``name`` and its own default
    (a recipe's ``epochs`` means what ``TrainConfig.epochs`` means).

    Example:
        >>> @dataclass
        ... class Settings:
        ...     epochs: int = setting_like(TrainConfig, "epochs", 100)  # doctest: +SKIP
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
        >>> for item in describe_settings(TrainConfig):  # doctest: +SKIP
        ...     print(item.flag, item.help, item.choices and list(item.choices))
    """
    for item in fields(cls):
        yield _describe(cls, item)


def _describe(cls: type, item: Field[Any]) -> SettingHelp:
    metadata = _metadata(cls, item.name)
    return SettingHelp(
        flag="--" + item.name.replace("_", "-"),
        help=metadata.get("help", ""),
        choices=metadata.get("choices"),
        default=item.default if item.default is not MISSING else None,
    )


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
}


def _annotation(kind: Any) -> str:
    """A field's annotation as written (``"int | None"``), evaluated or not."""
    if isinstance(kind, str):
        return kind
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
    item = _describe(cls, described)
    annotation = _annotation(described.type)
    options: dict[str, Any] = {
        "help": _help_text(item),
        "default": item.default if keep_default else argparse.SUPPRESS,
    }
    if annotation == "bool":
        parser.add_argument(item.flag, action=argparse.BooleanOptionalAction, **options)
        return
    convert = _PARSERS.get(annotation)
    if convert is None:
        raise TypeError(f"{cls.__name__}.{name}: no flag parser for {annotation}")
    metavar = name.upper()  # choices are listed in the help, read only when shown
    parser.add_argument(item.flag, type=convert, choices=item.choices, metavar=metavar, **options)


def add_settings_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """One flag per field of the dataclass ``cls`` (:func:`add_setting_argument`), plus
    ``--config FILE``."""
    parser.add_argument("--config", help="JSON file of settings (flags override it)")
    for item in fields(cls):
        add_setting_argument(parser, cls, item.name)


def settings_from_arguments(cls: type[T], args: argparse.Namespace) -> T:
    """The dataclass ``cls`` from a config file (if given) and the flags."""
    known = {field.name for field in fields(cls)}
    values: dict[str, Any] = {}
    if getattr(args, "config", None):
        try:
            values = json.loads(Path(args.config).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise BcnetError(f"cannot read config file {args.config}: {error}") from None
        unknown = sorted(set(values) - known)
        if unknown:
            raise BcnetError(f"{args.config}: unknown settings {unknown}; known: {sorted(known)}")
    values.update({name: getattr(args, name) for name in known if name in args})
    return cls(**values)


def settings_parser(cls: type, description: str = "") -> argparse.ArgumentParser:
    """An argument parser with the flags of the dataclass ``cls``."""
    parser = ArgumentParser(description=description)
    add_settings_arguments(parser, cls)
    return parser


def parse_settings(cls: type[T], argv: Sequence[str] | None = None, description: str = "") -> T:
    """Parse ``argv`` into the dataclass ``cls`` (see the module example)."""
    return settings_from_arguments(cls, settings_parser(cls, description).parse_args(argv))
