"""Histopathology: tile-pipeline throughput and what stain normalisation does to the
real BreakHis samples in ``../shared/data/breakhis_samples``.

Throughput: ``make_dataset(..., tiles=TileSpec(224, per_image=8), training=True)`` with
the ``histology_stain`` augmentation, with and without Macenko normalisation; epoch 1
decodes, normalises and caches the 700x460 images, later epochs only cut and augment
tiles. Medians of ``--repeats`` runs, each in its own process.

Stain: the spread over the 12 images (standard deviation across images) of each LAB
channel mean, and of the Macenko stain vectors, before and after normalising to the
first image; and a before / Macenko / Reinhard figure (written to ``--figure``, by
default under ``saved_models/``: it shows the shared images, which stay out of git).

    python -m bench.histology [--epochs 3] [--repeats 3] [--figure PATH]
                              [--synthetic-figure docs/stain_synthetic.png]

Prints ``ratio: X`` last: later-epoch over first-epoch tiles/s with Macenko on.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from bench._worker import run_worker

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "breakhis_samples"


def _worker(stain: str, epochs: int) -> dict:
    from bcnet_tf.data.decode import decode_rgb
    from bcnet_tf.data.layouts import discover
    from bcnet_tf.data.pipeline import make_dataset
    from bcnet_tf.pathology import StainNormalizer, TileSpec

    index = discover(SAMPLES)
    normalizer = StainNormalizer.fit(stain, [decode_rgb(index.records[0].path)]) if stain else None
    tiles = TileSpec(size=224, per_image=8)
    dataset = make_dataset(
        index.records,
        index.class_names,
        tiles=tiles,
        stain=normalizer,
        batch_size=32,
        training=True,
        augment="histology_stain",
    )
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        count = sum(len(x) for x, _ in dataset)
        seconds.append(time.perf_counter() - start)
    later = statistics.median(seconds[1:])
    return {"tiles": count, "first": count / seconds[0], "later": count / later}


def _stain_effect(paths: list[Path], figure: Path) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bcnet_tf.data.decode import decode_rgb
    from bcnet_tf.pathology.stain import StainNormalizer, lab_statistics, macenko_stains

    images = [decode_rgb(str(p)) for p in paths]
    variants = {"original": images}
    for method in ("macenko", "reinhard"):
        normalizer = StainNormalizer.fit(method, images[:1])
        variants[method] = [normalizer(image) for image in images]
    spread = {}
    for name, group in variants.items():
        means = np.array([lab_statistics(i)[0] for i in group])
        stains = np.array([macenko_stains(i)[0].ravel() for i in group])
        spread[name] = {
            "lab_mean_sd": [round(float(v), 2) for v in means.std(axis=0)],
            "stain_vector_sd": round(float(stains.std(axis=0).mean()), 4),
        }
    columns = len(images)
    fig, axes = plt.subplots(3, columns, figsize=(1.6 * columns, 3.6))
    for row, (name, group) in enumerate(variants.items()):
        for col, image in enumerate(group):
            axes[row, col].imshow(
                image[:: max(1, image.shape[0] // 128), :: max(1, image.shape[1] // 128)]
            )
            axes[row, col].axis("off")
        axes[row, 0].set_title(name, fontsize=8, loc="left")
    figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(figure, dpi=100, bbox_inches="tight")
    return spread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="0: the figures only")
    parser.add_argument(
        "--figure", type=Path, default=Path("saved_models/bench/stain_breakhis.png")
    )
    parser.add_argument(
        "--synthetic-figure",
        type=Path,
        help="also draw the figure for 8 embedded synthetic tiles (one per patient tint)",
    )
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker[0], int(args.worker[1]))))
        return
    if not SAMPLES.is_dir():
        sys.exit(f"{SAMPLES} is not present")
    print(json.dumps(_stain_effect(sorted(SAMPLES.glob("*.png")), args.figure), indent=1))
    print(f"figure: {args.figure}")
    if args.synthetic_figure:
        from bcnet_tf.data.synthetic import synthetic_dataset

        tiles = sorted(Path(synthetic_dataset()).rglob("*.png"))[::18]
        print(json.dumps(_stain_effect(tiles, args.synthetic_figure), indent=1))
        print(f"figure: {args.synthetic_figure}")
    if args.repeats < 1:  # figures only
        return
    results = {}
    for stain in ("", "macenko"):
        runs = [
            run_worker("bench.histology", "--worker", stain, str(args.epochs))
            for _ in range(args.repeats)
        ]
        first = statistics.median(r["first"] for r in runs)
        later = statistics.median(r["later"] for r in runs)
        results[stain or "none"] = (first, later)
        print(
            f"stain {stain or 'none':8s} tiles/epoch {runs[0]['tiles']}: epoch 1 "
            f"{first:.0f} tiles/s ({first / 8:.1f} images/s), later {later:.0f} tiles/s"
        )
    first, later = results["macenko"]
    print(f"ratio: {later / first:.2f}")


if __name__ == "__main__":
    main()
