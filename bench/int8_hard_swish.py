"""MobileNetV3's int8 file with hard-swish fused (``HARD_SWISH``) against spelled out
(:mod:`bcnet_tf.export.activations`): agreement with Keras, XNNPACK partitions, speed.

For ``mobilenet_v3_small`` and ``mobilenet_v3_large`` as :mod:`bench.edge_peers` trains
them (``--bundle-dir DIR`` reuses its bundles' ``model.keras``; else each is trained 2
epochs on ``--data``), 128 px, 3 classes, with their BatchNorm statistics re-estimated
on ``--bn`` images (one pass in training mode with momentum 0, so that the comparison
does not depend on how far 2 short epochs moved them; bundles trained under Keras'
momentum 0.999 give every image the same output without it), three int8 files
converted from the same calibration images (``--calibration``):

* ``fused``: the model as is (the export before hard-swish was spelled out);
* ``spelled, other order``: hard-swish spelled ``(x / 6) * relu6(x + 3)``;
* ``spelled`` (what ``bcnet_tf.export`` writes): ``relu6(x + 3) * (x / 6)``.

Each file is run on ``--images`` other images of ``--data`` (default: the BUSI images)
and compared with Keras: top-1 agreement and mean absolute probability difference; its
XNNPACK partitions (``DELEGATE`` nodes) are counted, and the files of a model are timed
in turns at batch 1 with ``--threads`` threads (median of 5 rounds of ``--repeats``).

    python -m bench.int8_hard_swish [--data DIR] [--threads 2]

Prints a table, then ``ratio:`` = the smallest over the models of the fused file's ms
/ the spelled file's ms (above 1, spelling out is faster).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench._edge_bundles import MODELS as TRAINING
from bench._edge_bundles import SHARED, train_and_export
from bench._worker import describe_machine, latencies_ms

if TYPE_CHECKING:
    import keras

MODELS = ("mobilenet_v3_small", "mobilenet_v3_large")
VARIANTS = ("fused", "spelled, other order", "spelled")


def _images(data: Path, size: int, counts: tuple[int, ...]) -> list[np.ndarray]:
    """Disjoint samples of ``data``'s images, float32 pixels, one per count."""
    from bcnet_tf.data.layouts import discover
    from bcnet_tf.data.pipeline import load_files

    records = list(discover(data).records)
    order = np.random.default_rng(0).permutation(len(records))
    if len(order) < sum(counts):
        sys.exit(f"{data} has {len(order)} images; this bench needs {sum(counts)}.")
    samples, start = [], 0
    for count in counts:
        chosen = [records[i] for i in order[start : start + count]]
        samples.append(load_files(chosen, size).astype(np.float32))
        start += count
    return samples


def _model(name: str, data: Path, bundles: Path, bn_images: np.ndarray) -> keras.Model:
    """``name`` trained as :mod:`bench.edge_peers` trains it, with its BatchNorm
    statistics estimated on ``bn_images``."""
    import keras

    from bcnet_tf.export.convert import float32_model
    from bcnet_tf.models.saving import load_model

    bundle = bundles / name
    if not (bundle / "model.keras").is_file():
        train_and_export(name, str(data), 2, bundle)
    model = float32_model(load_model(bundle / "model.keras")[0])
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    model(bn_images, training=True)
    return model


def _other_order(x: Any) -> Any:
    import keras

    return keras.ops.multiply(keras.ops.multiply(x, 1.0 / 6.0), keras.ops.relu6(x + 3.0))


def _int8_file(model: keras.Model, variant: str, calibration: np.ndarray, folder: Path) -> Path:
    from bcnet_tf.export.activations import spell_out_hard_swish
    from bcnet_tf.export.convert import tflite_model, write_saved_model

    if variant != "fused":
        model, names = spell_out_hard_swish(model)
        for name in names if variant == "spelled, other order" else ():
            model.get_layer(name).activation = _other_order
    saved_model = write_saved_model(model, folder / "saved_model")
    path = folder / "model_int8.tflite"
    path.write_bytes(tflite_model(saved_model, "int8", calibration))
    return path


def _partitions(path: Path) -> int:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    return sum(op["op_name"] == "DELEGATE" for op in interpreter._get_ops_details())


def _compare(
    name: str, model: keras.Model, calibration: np.ndarray, images: np.ndarray, args: Any
) -> float:
    """Print a table row per int8 file of ``model``; the fused file's ms / the
    spelled file's ms."""
    from bcnet_tf.edge.runtime import TFLiteModel

    reference = model.predict(images, verbose=0)
    with tempfile.TemporaryDirectory() as scratch:
        files = {}
        for number, variant in enumerate(VARIANTS):
            folder = Path(scratch) / str(number)
            folder.mkdir()
            files[variant] = _int8_file(model, variant, calibration, folder)
        runners = {v: TFLiteModel(path, threads=args.threads) for v, path in files.items()}
        calls = {v: runner.predict for v, runner in runners.items()}
        times = latencies_ms(calls, images[:1], args.repeats)
        for variant, runner in runners.items():
            probabilities = np.concatenate([runner.predict(image[None]) for image in images])
            agreement = np.mean(probabilities.argmax(1) == reference.argmax(1))
            difference = np.abs(probabilities - reference).mean()
            print(
                f"| {name} | {variant} | {agreement:.1%} | {difference:.4f} | "
                f"{_partitions(files[variant])} | {times[variant]:.2f} |"
            )
    return times["fused"] / times["spelled"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED / "data" / "busi_256")
    parser.add_argument("--bundle-dir", type=Path, help="bench.edge_peers' bundles to reuse")
    parser.add_argument("--bn", type=int, default=128)
    parser.add_argument("--calibration", type=int, default=100)
    parser.add_argument("--images", type=int, default=250)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        sys.exit(f"no dataset at {args.data}. Fix: pass --data DIR (class folders of images).")

    print(describe_machine())
    size = {TRAINING[name]["image_size"] for name in MODELS}.pop()
    bn, calibration, images = _images(args.data, size, (args.bn, args.calibration, args.images))
    print(
        f"data {args.data}: BatchNorm statistics from {args.bn} images, calibration "
        f"{args.calibration}, compared on {args.images}; {size} px, batch 1, "
        f"{args.threads} threads, median of 5 rounds x {args.repeats} calls, files timed in turns"
    )
    print("| model | int8 file | top-1 agreement | mean abs. prob. diff | partitions | ms |")
    print("| --- | --- | --- | --- | --- | --- |")
    ratios = {}
    with tempfile.TemporaryDirectory() as scratch:
        bundles = args.bundle_dir or Path(scratch)
        for name in MODELS:
            model = _model(name, args.data, bundles, bn)
            ratios[name] = _compare(name, model, calibration, images, args)
    worst = min(ratios, key=ratios.get)
    print(f"ratio: {ratios[worst]:.2f}  ({worst}: fused ms / spelled ms)")


if __name__ == "__main__":
    main()
