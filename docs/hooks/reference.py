"""MkDocs hook: reference sections generated from the code itself, never hand-copied.

``on_page_markdown`` replaces these markers:

- ``<!-- cli-reference -->``: the help of ``bcnet-tf`` and of each of its sub-commands
  (``bcnet_tf.cli.build_parser``);
- ``<!-- recipes-reference -->``: the help of every ``python -m recipes.<name>`` (its
  ``Settings`` dataclass as flags, built as ``bcnet_tf.settings.parse_settings`` builds
  it);
- ``<!-- recipe-presets -->``: each recipe's ``PRESET``, as the ``bcnet-tf train`` flags
  where it differs from ``TrainConfig``'s defaults;
- ``<!-- published-numbers -->``: each recipe's ``PUBLISHED`` numbers (the table its
  ``results.json`` also carries).

Help text is formatted at a fixed width, so the page does not depend on the terminal
that built it.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bcnet_tf.console import quiet_tensorflow

ROOT = Path(__file__).resolve().parents[2]
CLI_MARKER = "<!-- cli-reference -->"
RECIPES_MARKER = "<!-- recipes-reference -->"
PRESETS_MARKER = "<!-- recipe-presets -->"
PUBLISHED_MARKER = "<!-- published-numbers -->"
WIDTH = 88

quiet_tensorflow([])  # the parsers list choices that import TensorFlow


def _help(parser: argparse.ArgumentParser) -> str:
    """``parser.format_help()`` at ``WIDTH`` columns, with the parser's own formatter."""
    formatter_class = parser.formatter_class
    parser.formatter_class = lambda prog: formatter_class(prog, width=WIDTH)
    try:
        return parser.format_help().rstrip()
    finally:
        parser.formatter_class = formatter_class


def _section(heading: str, parser: argparse.ArgumentParser) -> str:
    return f"### `{heading}`\n\n```text\n{_help(parser)}\n```\n"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse has no public accessor for sub-parsers
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def cli_reference() -> str:
    """Markdown: ``bcnet-tf --help``, then one section per sub-command."""
    from bcnet_tf.cli import build_parser

    parser = build_parser()
    sections = [_section("bcnet-tf", parser)]
    sections += [_section(f"bcnet-tf {name}", sub) for name, sub in _subcommands(parser).items()]
    return "\n".join(sections)


def _recipe_modules() -> Iterator[Any]:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import recipes

    for module in pkgutil.iter_modules(recipes.__path__):
        if not module.name.startswith("_"):
            yield importlib.import_module(f"recipes.{module.name}")


def recipes_reference() -> str:
    """Markdown: one section per recipe with its flags."""
    from bcnet_tf.settings import add_settings_arguments

    sections = []
    for module in _recipe_modules():
        prog = f"python -m {module.__name__}"
        parser = argparse.ArgumentParser(prog=prog, description=module.__doc__.split("\n\n")[0])
        add_settings_arguments(parser, module.Settings)
        sections.append(_section(prog, parser))
    return "\n".join(sections)


def _flag_value(value: Any) -> str:
    """A setting as it is typed after its flag (``none``, ``0.001``, ``bcnet``)."""
    return "none" if value is None else str(value)


def recipe_presets() -> str:
    """Markdown: one row per recipe with its preset's flags."""
    from dataclasses import asdict

    from bcnet_tf.training import TrainConfig

    defaults = TrainConfig().to_json()
    rows = ["| recipe | the study's protocol, as `bcnet-tf train` flags |", "| --- | --- |"]
    for module in _recipe_modules():
        preset = asdict(module.PRESET)
        flags = " ".join(
            f"`--{name.replace('_', '-')} {_flag_value(value)}`"
            for name, value in preset.items()
            if value != defaults[name]
        )
        rows.append(f"| `{module.__name__.split('.')[-1]}` | {flags} |")
    return "\n".join(rows) + "\n"


def published_numbers() -> str:
    """Markdown: one row per number a recipe's study published."""
    rows = [
        "| recipe | run | metric | part | published | where |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for module in _recipe_modules():
        name = module.__name__.split(".")[-1]
        rows += [
            f"| `{name}` | {n.run} | {n.metric} | {n.part} | {n.value:.3f} | {n.where} |"
            for n in module.PUBLISHED
        ]
    return "\n".join(rows) + "\n"


GENERATED = {
    CLI_MARKER: cli_reference,
    RECIPES_MARKER: recipes_reference,
    PRESETS_MARKER: recipe_presets,
    PUBLISHED_MARKER: published_numbers,
}


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs event: fill the markers of a page (see the module docstring)."""
    for marker, generate in GENERATED.items():
        if marker in markdown:
            markdown = markdown.replace(marker, generate())
    return markdown
