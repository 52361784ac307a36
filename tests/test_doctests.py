"""Every docstring example of the package runs as a test. Examples that need a dataset,
a network or a trained model are marked ``+SKIP``; every other one runs."""

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import bcnet_tf
from bcnet_tf.errors import missing_extra_hint

MODULES = sorted(module.name for module in pkgutil.walk_packages(bcnet_tf.__path__, "bcnet_tf."))


def test_the_examples_cover_the_package() -> None:
    """A module that the walk misses would go untested: the walk finds them all."""
    files = {
        path.relative_to(bcnet_tf.__path__[0]).with_suffix("").as_posix().replace("/", ".")
        for path in Path(bcnet_tf.__path__[0]).rglob("*.py")
    }
    walked = {name.removeprefix("bcnet_tf.") for name in MODULES}
    assert {name.removesuffix(".__init__") for name in files} - {"__init__"} == walked


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as error:  # an optional install (`pip install bcnet_tf[x]`)
        if missing_extra_hint(error) is None:
            raise
        pytest.skip(missing_extra_hint(error))
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed"
