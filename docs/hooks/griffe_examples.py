"""Griffe extension: read a docstring's ``Example:`` section as Google-style examples.

bcnet_tf's docstrings head their doctests ``Example:`` (the Google style guide's
spelling); griffe's Google parser knows only ``Examples:`` and would render the
``>>>`` lines as nested block quotes. Loaded by mkdocstrings (``mkdocs.yml``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE_HEADING = re.compile(r"^(\s*)Example:\s*$", flags=re.MULTILINE)


class ExampleSections(griffe.Extension):
    """Rename every ``Example:`` section heading to ``Examples:``."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE_HEADING.sub(r"\1Examples:", obj.docstring.value)
