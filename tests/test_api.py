"""The top-level Python API: every public name means one thing, whichever sub-packages
were imported before."""

import importlib
import inspect
import pkgutil
import types

import pytest

import bcnet_tf

CLASSES = {"DatasetIndex", "ImageRecord", "Split", "HeadConfig", "TrainConfig", "Predictor"}
SUBPACKAGES = {
    "data",
    "pathology",
    "models",
    "training",
    "evaluation",
    "explain",
    "export",
    "edge",
    "batch",
}


def _import_every_subpackage() -> set[str]:
    found = {m.name for m in pkgutil.iter_modules(bcnet_tf.__path__) if m.ispkg}
    for name in found:
        importlib.import_module(f"bcnet_tf.{name}")
    return found


def test_every_public_name_is_the_function_or_class_after_importing_the_subpackages() -> None:
    assert _import_every_subpackage() == SUBPACKAGES
    assert bcnet_tf.__version__.count(".") == 2
    for name in bcnet_tf.__all__:
        if name == "__version__":
            continue
        value = getattr(bcnet_tf, name)
        assert not isinstance(value, types.ModuleType), name
        if name in CLASSES:
            assert inspect.isclass(value), name
        else:
            assert inspect.isfunction(value), name
        assert value.__module__.startswith("bcnet_tf."), name
    assert not {"explain", "export"} & set(bcnet_tf.__all__)


def test_explain_and_export_are_the_subpackages_and_their_functions_have_own_names() -> None:
    _import_every_subpackage()
    explain = importlib.import_module("bcnet_tf.explain")
    export = importlib.import_module("bcnet_tf.export")
    assert bcnet_tf.explain is explain and bcnet_tf.export is export
    assert bcnet_tf.explain_images is explain.explain
    assert bcnet_tf.export_bundle is export.export
    signature = inspect.signature(bcnet_tf.export_bundle)
    assert list(signature.parameters)[:2] == ["source", "out"]


def test_subpackages_resolve_as_attributes() -> None:
    for name in SUBPACKAGES:
        assert getattr(bcnet_tf, name) is importlib.import_module(f"bcnet_tf.{name}")
    assert set(dir(bcnet_tf)) >= SUBPACKAGES
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        bcnet_tf.no_such_name  # noqa: B018
