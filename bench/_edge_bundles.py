"""The edge benches' bundles: each model trained briefly on the BUSI images with the
library defaults and exported with ``bcnet_tf.export``, at its deployment size."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
#: Training arguments: 128 px for resnet18 (as study 000) and the MobileNets (random
#: init: no ImageNet download here); SqueezeNet at its default size with the shared real
#: ImageNet weights (frozen backbone) when present.
MODELS = {
    "resnet18": {"weights": None, "image_size": 128},
    "mobilenet_v3_small": {"weights": None, "image_size": 128},
    "mobilenet_v3_large": {"weights": None, "image_size": 128},
    "squeezenet": {
        "weights": str(SHARED / "weights" / "squeezenet_v1.1_imagenet_notop.h5"),
        "image_size": None,
    },
}
#: The TFLite files that keep float weights; the others are quantised to int8.
FLOAT_FILES = ("float32", "float16")


def train_and_export(model: str, data: str | None, epochs: int, bundle: Path) -> Path:
    """Train ``model`` for ``epochs`` on ``data`` (``None``: the synthetic dataset) and
    export it to ``bundle``; the run itself is discarded. Imports TensorFlow."""
    from bcnet_tf.export import export
    from bcnet_tf.training import train

    arguments = dict(MODELS[model])
    if arguments["weights"] and not Path(arguments["weights"]).is_file():
        arguments["weights"] = None
    with tempfile.TemporaryDirectory() as folder:
        run = train(model=model, data=data, epochs=epochs, run_dir=f"{folder}/run", **arguments)
        return export(run.run_dir, out=bundle).bundle


def read_spec(bundle: Path) -> dict:
    """The bundle's ``spec.json``."""
    return json.loads((bundle / "spec.json").read_text())


def tflite_files(spec: dict) -> dict[str, str]:
    """The bundle's TFLite files by short name (``float32``, ``int8``, ...)."""
    return {
        name.removeprefix("model_").removesuffix(".tflite"): name
        for name in spec["artifacts"]
        if name.endswith(".tflite")
    }
