"""The docstring examples that need no dataset, network or trained model run as tests."""

import doctest
import importlib

import pytest

MODULES = [
    "bcnet_tf.console",
    "bcnet_tf.data.augment",
    "bcnet_tf.data.files",
    "bcnet_tf.data.layouts",
    "bcnet_tf.data.splits",
    "bcnet_tf.errors",
    "bcnet_tf.evaluation.bootstrap",
    "bcnet_tf.evaluation.calibration",
    "bcnet_tf.evaluation.metrics",
    "bcnet_tf.io",
    "bcnet_tf.models.factory",
    "bcnet_tf.models.predict",
    "bcnet_tf.models.registry",
    "bcnet_tf.pathology.prepare",
    "bcnet_tf.pathology.settings",
    "bcnet_tf.pathology.stain",
    "bcnet_tf.settings",
    "bcnet_tf.training.config",
    "bcnet_tf.training.plans",
    "bcnet_tf.training.run_dir",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no runnable example"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed"
