"""Batch prediction throughput: ``predict-batch`` on Beam's DirectRunner with 1 and 2
worker processes against the same prediction code in one process.

A SqueezeNet bundle (the shared ImageNet weights, frozen backbone, trained for
``--epochs`` on ``../shared/data/busi_256``, exported with the library defaults)
classifies the BUSI images listed ``--repeat`` times in a manifest:

* ``beam-1``, ``beam-2``: :func:`bcnet_tf.batch.predict_batch` with 1 and 2 worker
  processes, one interpreter thread each; wall time of the whole job (worker start-up,
  decoding, inference, guard, writing CSV and Parquet);
* ``single``: the handler's batched prediction (decode, batches of 32, guard) in this
  process with one interpreter thread per core and no Beam: the library's best
  single-process batched path on the same model file.

The bundle is built in its own process, so TensorFlow is never imported here.

    python -m bench.batch [--data DIR] [--epochs 1] [--repeat 2]

Goals on 2 cores: ``beam-2`` >= 1.7x ``beam-1``, and ``ratio`` (``beam-2`` over
``single``) >= 0.85. Prints ``ratio:`` last.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from bench._worker import describe_machine, run_worker

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
WEIGHTS = SHARED / "weights" / "squeezenet_v1.1_imagenet_notop.h5"
BATCH = 32


def _bundle(data: str, epochs: int, out: str) -> dict:
    from bcnet_tf.export import export
    from bcnet_tf.training import train

    run = train(
        model="squeezenet", data=data, epochs=epochs, run_dir=f"{out}/run", weights=str(WEIGHTS)
    )
    return {"bundle": str(export(run.run_dir, out=f"{out}/bundle").bundle)}


def _single(bundle: str, paths: list[str]) -> float:
    """Images per second of the handler's batched prediction in this process."""
    from bcnet_tf.batch import BundleModel, BundleModelHandler

    handler = BundleModelHandler(BundleModel.open(bundle), threads=os.cpu_count() or 1)
    model = handler.load_model()
    start = time.perf_counter()
    for first in range(0, len(paths), BATCH):
        handler.run_inference(paths[first : first + BATCH], model)
    return len(paths) / (time.perf_counter() - start)


def _beam(bundle: str, manifest: Path, workers: int, out: Path) -> float:
    from bcnet_tf.batch import predict_batch

    start = time.perf_counter()
    result = predict_batch(bundle, str(manifest), str(out), workers=workers, threads=1)
    seconds = time.perf_counter() - start
    assert result.unreadable == 0, result.summary
    return result.predicted / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(SHARED / "data" / "busi_256"))
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2, help="times each image is listed")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_bundle(args.data, args.epochs, args.worker)))
        return
    print(describe_machine())
    with tempfile.TemporaryDirectory() as folder:
        bundle = run_worker(
            "bench.batch", "--worker", folder, "--data", args.data, "--epochs", str(args.epochs)
        )["bundle"]
        images = sorted(str(p.resolve()) for p in Path(args.data).rglob("*.png"))
        images *= args.repeat
        manifest = Path(folder) / "inputs" / "manifest.csv"
        manifest.parent.mkdir()
        manifest.write_text("path\n" + "\n".join(images) + "\n")
        spec = json.loads((Path(bundle) / "spec.json").read_text())
        print(f"{len(images)} images, {spec['recommended']}, batches of {BATCH}")
        rates = {
            "single": _single(bundle, images),
            "beam-1": _beam(bundle, manifest, 1, Path(folder) / "out-1"),
            "beam-2": _beam(bundle, manifest, 2, Path(folder) / "out-2"),
        }
    for name, rate in rates.items():
        print(f"{name:<7} {rate:8.1f} images/s")
    print(f"beam-2 / beam-1: {rates['beam-2'] / rates['beam-1']:.2f}x")
    print(f"per-worker rate (beam-1): {rates['beam-1']:.1f} images/s")
    print(f"ratio: {rates['beam-2'] / rates['single']:.2f}")


if __name__ == "__main__":
    main()
