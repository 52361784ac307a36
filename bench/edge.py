"""TFLite variants against Keras on real ultrasound: size, latency, agreement.

For ``resnet18`` (random init: no ImageNet download here; 128 px as study 000), the
point-of-care ``mobilenet_v3_small`` and ``mobilenet_v3_large`` (random init, 128 px) and
``squeezenet`` (the shared real ImageNet weights, frozen backbone), each trained briefly
on ``../shared/data/busi_256`` with the library defaults, then exported with
``bcnet_tf.export``: file size, per-image latency (batch 1, 2 threads; median of 5
rounds of ``--repeats`` calls, the artifacts timed in turns) of Keras and of every
TFLite file, and each file's top-1 agreement with Keras and accuracy change on the
run's test split (from the export's own verification). Each model runs in its own process.

    python -m bench.edge [--data DIR] [--epochs 6] [--repeats 20]

Goal: int8 >= 3.5x smaller and >= 2.5x faster than float32 TFLite, >= 99 % agreement.
Prints ``ratio: X`` (float32 / int8 latency, the smallest over the models) last.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from bench._edge_bundles import MODELS, SHARED, read_spec, tflite_files, train_and_export
from bench._worker import latencies_ms, run_worker

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: Timing rounds; each artifact runs ``--repeats`` times per round, in turn with the others.
ROUNDS = 5


def _worker(model: str, data: str, epochs: int, repeats: int) -> dict:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from bcnet_tf.edge.runtime import TFLiteModel
    from bcnet_tf.models.saving import load_model

    with tempfile.TemporaryDirectory() as folder:
        bundle = train_and_export(model, data, epochs, Path(folder) / "bundle")
        spec = read_spec(bundle)
        keras_model, info = load_model(bundle / "model.keras")
        pixels = np.random.default_rng(0).uniform(0, 255, (1, *info.image_size, 3))
        pixels = pixels.astype(np.float32)
        tflite = tflite_files(spec)
        files = {"keras": "model.keras", **tflite}
        predictors = {"keras": keras_model.predict_on_batch} | {
            short: TFLiteModel(bundle / name, threads=2).predict for short, name in tflite.items()
        }
        latency = latencies_ms(predictors, pixels, repeats, ROUNDS)
        rows = []
        for short, name in files.items():
            artifact = spec["artifacts"][name]
            check = artifact["verification"]
            rows.append(
                {
                    "artifact": short,
                    "bytes": artifact["bytes"],
                    "ms": latency[short],
                    "agreement": check["top1_agreement"],
                    "accuracy_change": check["accuracy_change"],
                    "accuracy": check["accuracy"],
                }
            )
    return {
        "model": model,
        "size": list(info.image_size),
        "test_images": check["images"],
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(SHARED / "data" / "busi_256"))
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--worker", choices=tuple(MODELS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, args.data, args.epochs, args.repeats)))
        return
    ratios = []
    print(
        f"data {args.data}, {args.epochs} epochs, batch 1, 2 threads, "
        f"median of {ROUNDS} rounds x {args.repeats} calls, artifacts in turns"
    )
    header = (
        f"{'model':<11} {'artifact':<9} {'MB':>7} {'ms/img':>7} {'agree':>7} {'acc':>6} {'Δacc':>7}"
    )
    print(header)
    for model in MODELS:
        result = run_worker(
            "bench.edge",
            "--worker",
            model,
            "--data",
            args.data,
            "--epochs",
            str(args.epochs),
            "--repeats",
            str(args.repeats),
        )
        by_name = {row["artifact"]: row for row in result["rows"]}
        for row in result["rows"]:
            print(
                f"{model:<11} {row['artifact']:<9} {row['bytes'] / 1e6:7.2f} {row['ms']:7.2f} "
                f"{row['agreement']:7.1%} {row['accuracy']:6.3f} {row['accuracy_change']:+7.3f}"
            )
        float32, int8 = by_name["float32"], by_name["int8"]
        smaller, faster = float32["bytes"] / int8["bytes"], float32["ms"] / int8["ms"]
        print(
            f"{model}: int8 vs float32 TFLite: {smaller:.2f}x smaller, {faster:.2f}x faster, "
            f"{int8['agreement']:.1%} agreement on {result['test_images']} test images "
            f"({result['size'][0]} px)"
        )
        ratios.append(faster)
    print(f"ratio: {min(ratios):.2f}")


if __name__ == "__main__":
    main()
