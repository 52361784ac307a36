"""Imports flow one way down the pipeline declared in ``bcnet_tf/__init__.py``.

Every module under ``bcnet_tf/`` is parsed with ``ast``; every ``bcnet_tf`` import in
it, at module level or inside a function, must point to its own layer or one below.
Imports inside functions are allowed only in the modules listed in
``LAZY_IMPORTERS``, which import on use to keep start-up cheap, never to dodge a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import bcnet_tf

PACKAGE = Path(bcnet_tf.__file__).resolve().parent

#: Modules allowed to import bcnet_tf modules inside functions, and why.
LAZY_IMPORTERS = {
    "bcnet_tf.cli": "each command imports what it needs, so `bcnet-tf --help` stays fast",
    "bcnet_tf.training": "imports the engine (TensorFlow) only when `train` is called",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    """The position of ``module`` in ``bcnet_tf.PIPELINE``."""
    for position, layer in enumerate(bcnet_tf.PIPELINE):
        for name in layer:
            prefix = f"bcnet_tf.{name}" if name else "bcnet_tf"
            if module == prefix or (name and module.startswith(f"{prefix}.")):
                return position
    raise AssertionError(f"{module} is in no layer of bcnet_tf.PIPELINE")


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports_in(source: str, module: str, is_package: bool) -> list[tuple[str, int, bool]]:
    """``(imported module, line, inside a function)`` for each bcnet_tf import."""
    package = module if is_package else module.rpartition(".")[0]
    tree = ast.parse(source)
    in_function = {
        id(node)
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for node in ast.walk(function)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from bcnet_tf.x import y` imports the submodule bcnet_tf.x.y if there is one
            targets = {
                f"{base}.{alias.name}" if _is_module(f"{base}.{alias.name}") else base
                for alias in node.names
            }
        else:
            continue
        found += [
            (target, node.lineno, id(node) in in_function)
            for target in targets
            if target == "bcnet_tf" or target.startswith("bcnet_tf.")
        ]
    return sorted(found, key=lambda item: item[1:])


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    source = path.read_text(encoding="utf-8")
    return _imports_in(source, _module_name(path), path.name == "__init__.py")


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer() -> None:
    for path in MODULES:
        _layer(_module_name(path))


@pytest.mark.parametrize("path", MODULES, ids=lambda path: _module_name(path))
def test_imports_point_down_the_pipeline(path: Path) -> None:
    module = _module_name(path)
    upward = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {target} "
        f"(layer {_layer(target)} above layer {_layer(module)})"
        for target, line, _ in _imports(path)
        if _layer(target) > _layer(module)
    ]
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize("path", MODULES, ids=lambda path: _module_name(path))
def test_only_the_listed_modules_import_inside_functions(path: Path) -> None:
    module = _module_name(path)
    lazy = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {target} inside a function"
        for target, line, inside in _imports(path)
        if inside
    ]
    assert module in LAZY_IMPORTERS or not lazy, "\n".join(lazy)


def test_the_check_sees_an_upward_import() -> None:
    """The parser finds function-level imports of a higher layer (the kind of import
    this test exists to catch), relative ones resolved."""
    source = "def f():\n    from ..evaluation import metrics\n    import bcnet_tf.export\n"
    found = _imports_in(source, "bcnet_tf.data.pipeline", is_package=False)
    assert found == [("bcnet_tf.evaluation.metrics", 2, True), ("bcnet_tf.export", 3, True)]
    assert _layer("bcnet_tf.evaluation.metrics") > _layer("bcnet_tf.data.pipeline")
    assert _layer("bcnet_tf.export") > _layer("bcnet_tf.data")
