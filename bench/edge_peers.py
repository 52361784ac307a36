"""bcnet_tf's TFLite files against the PyTorch / ONNX Runtime peer: batch-1 latency.

For ``resnet18``, ``squeezenet``, ``mobilenet_v3_small`` and ``mobilenet_v3_large`` at
their deployment size (:mod:`bench.edge`'s: 128 px, SqueezeNet at its default size),
batch 1, 3 classes, the same ``--threads`` for every runtime (``torch.set_num_threads``
with one inter-op thread; ONNX Runtime intra-op threads, one inter-op thread,
sequential execution; LiteRT ``num_threads``), all files of a model timed in turns
(:func:`bench._worker.latencies_ms`: median of ``--rounds`` rounds of ``--repeats``
calls):

* PyTorch eager: the torchvision network with bcnet_tf's head (global average pooling,
  one linear layer to 3 classes), in eval mode under ``torch.inference_mode``, in
  contiguous and in channels-last float32;
* ONNX Runtime (CPU): that network exported by ``torch.onnx.export`` (opset 18), in
  float32 with every graph optimisation, and quantised to static int8 QDQ per channel
  (``quant_pre_process`` then ``quantize_static``, int8 weights, uint8 and int8
  activations) calibrated on ``--calibration`` images of ``--data``;
* every TFLite file of a bundle written by ``bcnet_tf.export`` (the model trained
  ``--epochs`` epochs on ``--data`` with the library defaults, as :mod:`bench.edge`
  does) under LiteRT through :class:`bcnet_tf.edge.runtime.TFLiteModel`.

Same work on both sides: the peer takes the same 0..255 float pixels, applies the input
normalisation of bcnet_tf's model (caffe, torch or tf, read from the model registry) and
ends in a softmax. The peer takes them in its own channels-first layout (transposed
before the timing). ``--data`` defaults to the BUSI images; without them the bundles
train, and ONNX Runtime calibrates, on the synthetic dataset (the output says which).
The bundles are trained and exported in one process; each model is then timed in a
fresh process that imports PyTorch, ONNX Runtime and LiteRT but not TensorFlow (the
output says whether TensorFlow stayed out). ``--bundle-dir DIR`` keeps the bundles in
``DIR/<model>`` and reuses those already there, so the export side can be re-timed
after a change to the export (delete a model's folder to export it again).

    pip install -e .[train,bench]
    python -m bench.edge_peers [--models resnet18,...] [--threads 2] [--repeats 50]
                               [--rounds 5] [--data DIR] [--bundle-dir DIR]

Prints a table per model (runtime and file, ms per image, and ONNX Runtime float32's
ms divided by that row's ms: above 1 the row is faster than ONNX Runtime float32),
then ``int8 ratio: X``: the smallest over the models of ONNX Runtime's fastest int8 ms
/ bcnet_tf's fastest int8-weight file ms (``int8``, ``dynamic``), and last
``ratio: X``: the smallest over the models of ONNX Runtime float32 ms / bcnet_tf's
fastest float file ms (``float32``, ``float16``). Above 1, bcnet_tf's file is faster.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench._edge_bundles import (
    FLOAT_FILES,
    MODELS,
    SHARED,
    read_spec,
    tflite_files,
    train_and_export,
)
from bench._worker import describe_machine, latencies_ms, run_worker

#: ONNX Runtime's activation types for static int8 (weights are int8 per channel).
ACTIVATIONS = ("uint8", "int8")
ONNX_OPSET = 18


def _normalisation(model: str) -> dict[str, Any]:
    """bcnet_tf's input normalisation of ``model`` as channel order, scale and offset
    (``x[order] * scale + offset``), from the registry and the preprocessing layers."""
    from bcnet_tf.models import get_spec
    from bcnet_tf.models.preprocessing import CAFFE_MEAN_BGR, preprocessing_layer

    name = get_spec(model).preprocessing
    if name == "caffe":
        return {"reverse": True, "scale": [1.0] * 3, "offset": [-m for m in CAFFE_MEAN_BGR]}
    layer = preprocessing_layer(name)
    return {
        "reverse": False,
        "scale": np.broadcast_to(np.asarray(layer.scale, float), 3).tolist(),
        "offset": np.broadcast_to(np.asarray(layer.offset, float), 3).tolist(),
    }


def _peer(model: str, classes: int, normalisation: dict[str, Any]) -> Any:
    """The torchvision network doing bcnet_tf's work: normalisation, backbone, global
    average pooling, a linear layer, softmax; channels-first 0..255 pixels in."""
    import torch
    import torchvision

    if model == "resnet18":
        features = torch.nn.Sequential(*list(torchvision.models.resnet18().children())[:-2])
    elif model == "squeezenet":
        features = torchvision.models.squeezenet1_1().features
    else:
        features = getattr(torchvision.models, model)().features
    width = features.eval()(torch.zeros(1, 3, 64, 64)).shape[1]

    class Peer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = features
            self.head = torch.nn.Linear(width, classes)
            self.register_buffer("scale", torch.tensor(normalisation["scale"]).view(1, 3, 1, 1))
            self.register_buffer("offset", torch.tensor(normalisation["offset"]).view(1, 3, 1, 1))

        def forward(self, pixels: torch.Tensor) -> torch.Tensor:
            if normalisation["reverse"]:
                pixels = torch.flip(pixels, dims=(1,))
            x = self.features(pixels * self.scale + self.offset)
            return torch.softmax(self.head(x.mean(dim=(2, 3))), dim=1)

    torch.manual_seed(0)
    return Peer().eval()


def _calibration_images(data: str, size: tuple[int, int], count: int) -> list[np.ndarray]:
    """``count`` images of ``data`` (a fixed random sample), resized as bcnet_tf's
    predictor does, as channels-first float32 batches of one."""
    from bcnet_tf.data.decode import decode_rgb
    from bcnet_tf.data.layouts import discover
    from bcnet_tf.pathology.prepare import resize_rgb

    records = discover(data).records
    chosen = np.random.default_rng(0).permutation(len(records))[:count]
    return [
        resize_rgb(decode_rgb(records[i].path), size).astype(np.float32).transpose(2, 0, 1)[None]
        for i in chosen
    ]


def _ort_model(path: Path, threads: int) -> Any:
    """ONNX Runtime on the CPU for ``path``: ``threads`` intra-op threads, sequential,
    every graph optimisation."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _onnx_files(peer: Any, example: Any, images: list[np.ndarray], folder: Path) -> dict:
    """The peer as ONNX float32 and as static int8 QDQ per channel (one file per
    activation type), by row name."""
    import torch
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    float32 = folder / "peer.onnx"
    torch.onnx.export(peer, (example,), float32, input_names=["pixels"], opset_version=ONNX_OPSET)
    prepared = folder / "peer_prepared.onnx"
    quant_pre_process(str(float32), str(prepared))

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(images)

        def get_next(self) -> dict | None:
            batch = next(self.batches, None)
            return None if batch is None else {"pixels": batch}

    files = {"ONNX Runtime float32": float32}
    for activation in ACTIVATIONS:
        int8 = folder / f"peer_int8_{activation}.onnx"
        quantize_static(
            str(prepared),
            str(int8),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8 if activation == "uint8" else QuantType.QInt8,
            weight_type=QuantType.QInt8,
        )
        files[f"ONNX Runtime int8 QDQ, {activation} act."] = int8
    return files


def _time(
    model: str,
    bundle: Path,
    data: str,
    normalisation: dict[str, Any],
    threads: int,
    repeats: int,
    rounds: int,
    calibration: int,
) -> dict:
    """Every runtime's ms per image for one model; a fresh process without TensorFlow."""
    import torch

    from bcnet_tf.edge.runtime import TFLiteModel

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    spec = read_spec(bundle)
    size = tuple(spec["image_size"])
    peer = _peer(model, len(spec["class_names"]), normalisation)
    pixels = np.random.default_rng(0).uniform(0, 255, (1, *size, 3)).astype(np.float32)
    tensor = torch.from_numpy(np.ascontiguousarray(pixels.transpose(0, 3, 1, 2)))
    channels_last = tensor.contiguous(memory_format=torch.channels_last)
    peer_channels_last = _peer(model, len(spec["class_names"]), normalisation)
    peer_channels_last.to(memory_format=torch.channels_last)
    with tempfile.TemporaryDirectory() as folder:
        onnx = _onnx_files(peer, tensor, _calibration_images(data, size, calibration), Path(folder))
        runners = {name: _ort_model(path, threads) for name, path in onnx.items()}
    with torch.inference_mode():
        reference = peer(tensor).numpy()
        feed = {"pixels": tensor.numpy()}
        onnx_float = runners["ONNX Runtime float32"].run(None, feed)[0]
        np.testing.assert_allclose(onnx_float, reference, atol=1e-4)
        calls = {
            "PyTorch eager": lambda _: peer(tensor),
            "PyTorch eager channels-last": lambda _: peer_channels_last(channels_last),
        }
        for name, runner in runners.items():
            calls[name] = lambda _, run=runner.run: run(None, feed)
        kinds = {name: "peer" for name in calls}
        for short, file in tflite_files(spec).items():
            name = f"bcnet_tf {file}"
            predict = TFLiteModel(bundle / file, threads=threads).predict
            calls[name] = lambda _, predict=predict: predict(pixels)
            kinds[name] = "float" if short in FLOAT_FILES else "int8"
        ms = latencies_ms(calls, None, repeats, rounds)
    return {
        "size": list(size),
        "rows": [{"name": name, "ms": ms[name], "kind": kinds[name]} for name in calls],
        "torch_threads": [torch.get_num_threads(), torch.get_num_interop_threads()],
        "tensorflow_imported": "tensorflow" in sys.modules,
    }


def _bundle(model: str, bundle_dir: Path, data: str, epochs: int) -> Path:
    """``bundle_dir/model``: reused when it holds a bundle, else trained and exported
    in a fresh process."""
    bundle = bundle_dir / model
    if not (bundle / "spec.json").is_file():
        run_worker(
            "bench.edge_peers",
            *("--export-worker", model, "--data", data, "--epochs", str(epochs)),
            *("--bundle-dir", str(bundle_dir)),
        )
    return bundle


def _report(model: str, result: dict) -> tuple[float, float]:
    """Print one model's table; return its (float, int8) ratios."""
    rows = result["rows"]
    onnx_float = next(r["ms"] for r in rows if r["name"] == "ONNX Runtime float32")
    onnx_int8 = min(r["ms"] for r in rows if r["name"].startswith("ONNX Runtime int8"))
    print(f"\n{model}, {result['size'][0]} px")
    print(f"{'runtime / file':<40} {'ms/img':>7} {'ORT float32 / ms':>17}")
    for row in rows:
        print(f"{row['name']:<40} {row['ms']:7.2f} {onnx_float / row['ms']:17.2f}")
    best = {kind: min(r["ms"] for r in rows if r["kind"] == kind) for kind in ("float", "int8")}
    return onnx_float / best["float"], onnx_int8 / best["int8"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data", default=str(SHARED / "data" / "busi_256"))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--calibration", type=int, default=100, help="ONNX Runtime int8")
    parser.add_argument("--bundle-dir", help="keep (and reuse) the bundles here")
    parser.add_argument("--export-worker", choices=tuple(MODELS), help=argparse.SUPPRESS)
    parser.add_argument("--time-worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_worker:
        bundle = Path(args.bundle_dir) / args.export_worker
        train_and_export(args.export_worker, args.data, args.epochs, bundle)
        print(json.dumps({"bundle": str(bundle)}))
        return
    if args.time_worker:
        model, bundle, normalisation = args.time_worker
        result = _time(
            model,
            Path(bundle),
            args.data,
            json.loads(normalisation),
            *(args.threads, args.repeats, args.rounds, args.calibration),
        )
        print(json.dumps(result))
        return

    from bcnet_tf.data.synthetic import synthetic_dataset

    real = Path(args.data).is_dir()
    data = args.data if real else str(synthetic_dataset(progress=False))
    print(describe_machine())
    print(
        f"data {data} ({'real' if real else 'synthetic'} images; bundles trained "
        f"{args.epochs} epochs, ONNX Runtime int8 calibrated on {args.calibration}), "
        f"batch 1, {args.threads} threads everywhere, median of {args.rounds} rounds x "
        f"{args.repeats} calls, files timed in turns"
    )
    ratios = []
    with tempfile.TemporaryDirectory() as temporary:
        bundle_dir = Path(args.bundle_dir or temporary)
        for model in args.models.split(","):
            bundle = _bundle(model, bundle_dir, data, args.epochs)
            result = run_worker(
                "bench.edge_peers",
                *("--time-worker", model, str(bundle), json.dumps(_normalisation(model))),
                *("--data", data, "--threads", str(args.threads)),
                *("--repeats", str(args.repeats), "--rounds", str(args.rounds)),
                *("--calibration", str(args.calibration)),
            )
            ratios.append(_report(model, result))
            print(
                f"PyTorch threads (intra, inter) {result['torch_threads']}; TensorFlow "
                f"{'imported' if result['tensorflow_imported'] else 'not imported'} "
                "in the timing process",
                flush=True,
            )
    print(f"int8 ratio: {min(r[1] for r in ratios):.2f}")
    print(f"ratio: {min(r[0] for r in ratios):.2f}")


if __name__ == "__main__":
    main()
