"""bcnet_tf against PyTorch/torchvision on this machine: training and inference images/s.

The zoo's ``resnet18``, ``resnet34``, ``resnet50`` (all layers trained) and
``bcnet_vgg16`` (its default: frozen VGG16, BCNet head trained) against the torchvision
equivalents built the same way, at 224 px batch 32 and 128 px batch 64, on the same synthetic
pixels, each framework and setting in its own process. Both frameworks get the same
thread pools: ``--intra-threads`` (default: all CPUs) and ``--inter-threads`` (default:
1) through ``tf.config.threading`` and ``torch.set_num_threads`` /
``torch.set_num_interop_threads``; the output prints them. Images/s = batch / median
step time over ``--steps`` timed steps after two warm-up steps.

* bcnet_tf: the library's defaults (``precision="auto"``; the output prints the
  convolutions' compute dtype it chose), plus any ``--keras`` variants, e.g. ``jit``
  (XLA, ``jit_compile=True``).
* PyTorch: default float32, channels-last float32, and, on a CPU with native bf16
  (AVX512_BF16/AMX), channels-last + bfloat16 autocast; without native bf16 that
  setting is emulated, so it is skipped. Each row compares with the fastest.

PyTorch is a bench-only dependency: ``pip install torch==2.14.1 torchvision==0.29.1``.

    python -m bench.vs_torch [--models resnet18,...] [--steps 5] [--keras default,jit]
                             [--intra-threads N] [--inter-threads N]

Prints a table and, last, ``ratio: X``: the smallest bcnet_tf-default / fastest-PyTorch
ratio over all rows, training and inference.
"""

from __future__ import annotations

import argparse
import json
import os

from bench._worker import describe_machine, run_worker
from bench.models import images_per_second

SHAPES = ((224, 32), (128, 64))
MODELS = ("resnet18", "resnet34", "resnet50", "bcnet_vgg16")
TORCH_SETTINGS = ("fp32", "channels_last", "channels_last_bf16")
KERAS_SETTINGS = {"default": [], "jit": ["--jit"]}


def _torch_model(name: str, classes: int):
    import torch
    import torchvision

    if name == "bcnet_vgg16":
        features = torchvision.models.vgg16().features
        features.requires_grad_(False)
        return torch.nn.Sequential(
            features,
            torch.nn.AdaptiveAvgPool2d(1),
            torch.nn.Flatten(),
            torch.nn.Linear(512, 1024),
            torch.nn.ReLU(),
            torch.nn.Linear(1024, 1024),
            torch.nn.ReLU(),
            torch.nn.Linear(1024, classes),
        )
    return getattr(torchvision.models, name)(num_classes=classes)


def measure_torch(
    name: str, setting: str, size: int, batch: int, steps: int, threads: tuple[int, int]
) -> dict:
    """Train and inference images/s of the torchvision equivalent with ``threads``
    (intra-op, inter-op); fresh process."""
    import torch

    torch.set_num_threads(threads[0])
    torch.set_num_interop_threads(threads[1])  # before any inter-op work starts
    torch.manual_seed(0)
    model = _torch_model(name, 3)
    images = torch.rand(batch, 3, size, size) * 255
    labels = torch.arange(batch) % 3
    bf16 = setting == "channels_last_bf16"
    if setting.startswith("channels_last"):
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], 1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()

    def autocast():
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)

    def train_step() -> None:
        model.train()
        optimizer.zero_grad()
        with autocast():
            loss = loss_fn(model(images / 255), labels)
        loss.backward()
        optimizer.step()

    def predict_step() -> None:
        model.eval()
        with torch.inference_mode(), autocast():
            model(images / 255)

    return {
        "train": images_per_second(train_step, batch, steps),
        "predict": images_per_second(predict_step, batch, steps),
        "threads": [torch.get_num_threads(), torch.get_num_interop_threads()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--keras", default="default", help="comma-separated: default, jit")
    parser.add_argument("--intra-threads", type=int, default=os.cpu_count())
    parser.add_argument("--inter-threads", type=int, default=1)
    parser.add_argument("--torch-worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    threads = (args.intra_threads, args.inter_threads)
    if args.torch_worker:
        name, setting, size, batch = args.torch_worker
        row = measure_torch(name, setting, int(size), int(batch), args.steps, threads)
        print(json.dumps(row))
        return

    from bcnet_tf.training.precision import cpu_has_native_bf16

    keras_settings = args.keras.split(",")
    torch_settings = TORCH_SETTINGS if cpu_has_native_bf16() else TORCH_SETTINGS[:2]
    columns = [f"keras {k}" for k in keras_settings] + [f"torch {t}" for t in torch_settings]
    thread_args = ("--threads", str(args.intra_threads), str(args.inter_threads))
    print(describe_machine())
    print(
        f"images/s, median of {args.steps} steps; train | predict; both frameworks: "
        f"{args.intra_threads} intra-op, {args.inter_threads} inter-op threads"
    )
    print(f"{'model':12s} {'px':>4s} {'batch':>5s}  " + "  ".join(f"{c:>26s}" for c in columns))
    ratios = []
    in_effect: dict[str, set[str]] = {column: set() for column in columns}
    for name in args.models.split(","):
        for size, batch in SHAPES:
            rows = {}
            for setting in keras_settings:
                freeze = ["--freeze", "none"] if name != "bcnet_vgg16" else []
                rows[f"keras {setting}"] = run_worker(
                    "bench.models",
                    *("--worker", name, "auto", "--size", str(size), "--batch", str(batch)),
                    *("--steps", str(args.steps), *freeze, *KERAS_SETTINGS[setting]),
                    *thread_args,
                )
            for setting in torch_settings:
                rows[f"torch {setting}"] = run_worker(
                    "bench.vs_torch",
                    "--torch-worker",
                    name,
                    setting,
                    str(size),
                    str(batch),
                    "--steps",
                    str(args.steps),
                    *("--intra-threads", str(args.intra_threads)),
                    *("--inter-threads", str(args.inter_threads)),
                )
            cells = "  ".join(
                f"{rows[c]['train']:12.1f} | {rows[c]['predict']:11.1f}" for c in columns
            )
            print(f"{name:12s} {size:4d} {batch:5d}  {cells}", flush=True)
            for column in columns:
                intra, inter = rows[column]["threads"]
                dtype = rows[column].get("conv_dtype")  # Keras rows only
                in_effect[column].add(f"{intra}/{inter}" + (f" {dtype}" if dtype else ""))
            mine = rows[f"keras {keras_settings[0]}"]
            for task in ("train", "predict"):
                best = max(rows[f"torch {t}"][task] for t in torch_settings)
                ratios.append(mine[task] / best)
    print(
        "in effect (intra/inter-op threads, Keras conv dtype): "
        + ", ".join(f"{c} {', '.join(sorted(v))}" for c, v in in_effect.items())
    )
    print(f"ratio: {min(ratios):.2f}")


if __name__ == "__main__":
    main()
