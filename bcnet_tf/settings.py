"""Settings dataclasses as command-line flags and JSON files.

Every field of a settings dataclass becomes a flag (``learning_rate`` ->
``--learning-rate``), typed from its annotation; ``--config FILE`` reads a JSON file of
settings first, and flags override it. Used by ``bcnet-tf train`` and every recipe.

Example:
    >>> @dataclass
    ... class Settings:
    ...     epochs: int = 5
    ...     weights: str | None = "imagenet"
    >>> parse_settings(Settings, ["--epochs", "2", "--weights", "none"])
    Settings(epochs=2, weights=None)
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import MISSING, dataclass, fields  # noqa: F401  (dataclass: the example)
from pathlib import Path
from typing import Any, TypeVar

from bcnet_tf.errors import BcnetError

T = TypeVar("T")


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


def add_settings_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """One flag per field of the dataclass ``cls``, plus ``--config FILE``. Flags left
    out are absent from the parsed namespace (so a config file's value stands)."""
    parser.add_argument("--config", help="JSON file of settings (flags override it)")
    for field in fields(cls):
        default = field.default if field.default is not MISSING else None
        flag = "--" + field.name.replace("_", "-")
        annotation = _annotation(field.type)
        if annotation == "bool":
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS
            )
            continue
        convert = _PARSERS.get(annotation)
        if convert is None:
            raise TypeError(f"{cls.__name__}.{field.name}: no flag parser for {field.type}")
        parser.add_argument(
            flag, type=convert, default=argparse.SUPPRESS, help=f"default: {default}"
        )


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


def parse_settings(cls: type[T], argv: Sequence[str] | None = None, description: str = "") -> T:
    """Parse ``argv`` into the dataclass ``cls`` (see the module example)."""
    parser = argparse.ArgumentParser(description=description)
    add_settings_arguments(parser, cls)
    return settings_from_arguments(cls, parser.parse_args(argv))
