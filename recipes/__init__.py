"""Recipes: one module per published study, run as ``python -m recipes.<name>``.

==========================  =========  ==========================================
recipe                      study      protocol
==========================  =========  ==========================================
``databiox_grading``        003        BCNet (frozen VGG16) on Databiox IDC grades
``breakhis_attention``      004        ResNet50 + attention on BreakHis, per
                                       magnification, vs ResNet50 and VGG16
``mammography_resnet``      000        ResNet18 / ResNet34 fine-tune, 4 classes
``busi_resnet9``            001        ResNet9 from scratch, Adam -> SGD one-cycle
``multi_cancer_resnet18``   002        frozen ResNet18 + new head per cancer type
==========================  =========  ==========================================

Each takes ``--data DIR`` for the real data set; without it, a demo runs on the
embedded synthetic dataset: train -> evaluate -> explain -> export -> a bundle in
``saved_models/``. Every setting is a flag (``--help`` describes each) or a key of
``--config FILE``; ``--verbose`` shows TensorFlow's start-up log. Errors end in one
line naming the file and the fix, as with ``bcnet-tf``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from bcnet_tf.console import ArgumentParser, add_verbose_flag, quiet_tensorflow, run_program
from bcnet_tf.settings import add_settings_arguments, settings_from_arguments

T = TypeVar("T")

quiet_tensorflow(sys.argv[1:])  # before a recipe module imports TensorFlow


def recipe_parser(settings: type, doc: str) -> argparse.ArgumentParser:
    """A recipe's parser: every field of ``settings`` as a described flag, ``--config``
    and ``--verbose``; the description is the first paragraph of ``doc``."""
    parser = ArgumentParser(description=doc.split("\n\n")[0])
    add_settings_arguments(parser, settings)
    add_verbose_flag(parser)
    return parser


def parse_recipe(settings: type[T], argv: Sequence[str] | None, doc: str) -> T:
    """The recipe's ``settings`` from ``argv`` (see :func:`recipe_parser`).

    Example:
        >>> settings = parse_recipe(Settings, ["--epochs", "2"], __doc__)  # doctest: +SKIP
    """
    return settings_from_arguments(settings, recipe_parser(settings, doc).parse_args(argv))


def run_recipe(main: Callable[[], Any]) -> NoReturn:
    """``python -m recipes.<name>``: run ``main`` and exit, with the command line's
    one-line errors (:func:`bcnet_tf.console.run_program`).

    Example:
        >>> if __name__ == "__main__":  # doctest: +SKIP
        ...     run_recipe(main)
    """
    sys.exit(run_program(Path(sys.argv[0]).name, main))
