"""The input guard on real ultrasound: does it reject other images and keep BUSI's?

SqueezeNet with the shared real ImageNet weights (frozen backbone, the library
defaults) is trained briefly on the 780 BUSI images of ``../shared/data/busi_256`` and
exported with ``bcnet_tf.export`` (TFLite float32 and int8; the guard is fitted on the
run's training part, its threshold set on the validation part to accept 97.5 %, the
library default). The
edge predictor then judges, with the recommended TFLite file:

* the run's held-out BUSI test images (in distribution: the hard case),
* the real BreakHis samples of ``../shared/data/breakhis_samples`` (another modality),
* the embedded synthetic H&E tiles (``bcnet_tf.data.synthetic``),
* blank images, colour and grey uniform noise, and over-exposed BUSI test images.

For each set: the AUROC of the guard's score against the held-out BUSI images (the
feature score alone, and the whole guard, where a failed image check counts as an
infinite score) and the share of images accepted. Then the latency the guard adds on
the device: the image checks plus the feature score, against a prediction without the
guard (resize + TFLite), batch 1, 2 threads, the two timed in turns.

    python -m bench.guard [--data DIR] [--weights FILE] [--epochs 5] [--repeats 50]

Goals: AUROC >= 0.99 against other modalities, >= 95 % of held-out BUSI accepted, guard
latency < 5 % of the prediction's. Prints ``ratio: X`` last: the lowest whole-guard AUROC
over the out-of-distribution sets, the guard's weakest separation (1.0 is perfect).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench._worker import describe_machine, latencies_ms

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DEFAULT_WEIGHTS = SHARED / "weights" / "squeezenet_v1.1_imagenet_notop.h5"
OTHER_MODALITIES = ("BreakHis samples", "synthetic H&E tiles")


def _sets(test_files: list[Path], breakhis: Path, synthetic: Path) -> dict[str, list[np.ndarray]]:
    """Decoded images of every set, the held-out BUSI images first."""
    from bcnet_tf.data.decode import decode_rgb

    rng = np.random.default_rng(0)
    busi = [decode_rgb(path) for path in test_files]
    side = busi[0].shape[0]
    return {
        "held-out BUSI": busi,
        "BreakHis samples": [decode_rgb(p) for p in sorted(breakhis.glob("*.png"))],
        "synthetic H&E tiles": [decode_rgb(p) for p in sorted(synthetic.rglob("*.png"))],
        "blank": [np.full((side, side, 3), level, np.uint8) for level in range(0, 256, 16)],
        "colour noise": [rng.integers(0, 256, (side, side, 3), np.uint8) for _ in range(16)],
        "grey noise": [
            np.repeat(rng.integers(0, 256, (side, side, 1), np.uint8), 3, axis=2) for _ in range(16)
        ],
        "over-exposed BUSI": [
            np.clip(image.astype(np.int32) * 4 + 60, 0, 255).astype(np.uint8) for image in busi[:16]
        ],
    }


def _judge(
    predictor: Any, sets: dict[str, list[np.ndarray]]
) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """Per set: feature scores, whole-guard scores (a failed check is infinite) and
    the share accepted."""
    judged = {}
    for name, images in sets.items():
        verdicts = [predictor.judge(image)[1] for image in images]
        scores = np.array([v.score for v in verdicts])
        whole = np.array([np.inf if v.reason else v.score for v in verdicts])
        judged[name] = scores, whole, float(np.mean([bool(v.in_distribution) for v in verdicts]))
    return judged


def _auroc(inside: np.ndarray, outside: np.ndarray) -> float:
    """AUROC of telling ``outside`` scores (positives) from ``inside`` ones."""
    from sklearn.metrics import roc_auc_score

    truth = np.r_[np.zeros(len(inside)), np.ones(len(outside))]
    return float(roc_auc_score(truth, np.nan_to_num(np.r_[inside, outside], posinf=1e300)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(SHARED / "data" / "busi_256"))
    parser.add_argument("--breakhis", default=str(SHARED / "data" / "breakhis_samples"))
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--acceptance", type=float, default=0.975, help="guard target")
    parser.add_argument("--repeats", type=int, default=50, help="timed calls per round")
    args = parser.parse_args()
    for path in (args.data, args.breakhis, args.weights):
        if not Path(path).exists():
            sys.exit(f"{path} is missing; pass --data, --breakhis and --weights")
    from bcnet_tf.data.synthetic import synthetic_dataset
    from bcnet_tf.edge import Predictor
    from bcnet_tf.export import export
    from bcnet_tf.training import train
    from bcnet_tf.training.run_dir import resolve_source

    print(describe_machine())
    with tempfile.TemporaryDirectory() as folder:
        run = train(
            model="squeezenet",
            data=args.data,
            weights=args.weights,
            epochs=args.epochs,
            run_dir=f"{folder}/run",
        )
        bundle = export(
            run.run_dir,
            out=f"{folder}/bundle",
            quantize=("none", "int8"),
            guard_acceptance=args.acceptance,
        ).bundle
        test = resolve_source(Path(run.run_dir), None, "test", None).records
        synthetic = synthetic_dataset(root=folder, progress=False)
        sets = _sets([r.path for r in test], Path(args.breakhis), synthetic)
        files = ("model_float32.tflite", "model_int8.tflite")
        spec = Predictor(bundle).spec["guard"]
        print(
            f"squeezenet, {args.epochs} epochs on {args.data}; guard fitted on "
            f"{spec['fitted_on']['images']} training images, thresholds set on "
            f"{spec['threshold_set_on']['images']} validation images to accept "
            f"{args.acceptance:.1%}: "
            + ", ".join(f"{file} {spec['thresholds'][file]:.3g}" for file in files)
        )
        print(
            f"\n{'set':20s} {'images':>6s}  {'median score':>12s}  "
            + "  ".join(
                f"{'AUROC score':>11s} {'AUROC guard':>11s} {'accepted':>8s}" for _ in files
            )
        )
        print(f"{'':42s}" + "  ".join(f"{file:>32s}" for file in files))
        results = {file: _judge(Predictor(bundle, artifact=file), sets) for file in files}
        aurocs = []
        for name in sets:
            row = (
                f"{name:20s} {len(sets[name]):6d}  {np.median(results[files[0]][name][0]):12.3g}  "
            )
            cells = []
            for file in files:
                scores, whole, accepted = results[file][name]
                if name == "held-out BUSI":
                    cells.append(f"{'':>11s} {'':>11s} {accepted:8.1%}")
                    continue
                inside = results[file]["held-out BUSI"]
                feature, guard = _auroc(inside[0], scores), _auroc(inside[1], whole)
                aurocs.append((guard, name in OTHER_MODALITIES))
                cells.append(f"{feature:11.4f} {guard:11.4f} {accepted:8.1%}")
            print(row + "  ".join(cells))
        guarded = Predictor(bundle, artifact=files[1])
        bare = Predictor(bundle, artifact=files[1], guard=False)
        guard = guarded.guard
        image = sets["held-out BUSI"][0]
        features = guarded.outputs(guarded.pixels(image))[1]
        times = latencies_ms(
            {
                "prediction, no guard": bare.judge,
                "guard alone": lambda im: guard.verdict(guard.check(im), features),
            },
            image,
            args.repeats,
        )
    share = times["guard alone"] / times["prediction, no guard"]
    print(
        f"\nlatency of {files[1]} per {image.shape[0]}x{image.shape[1]} image (median ms): "
        "prediction "
        f"without guard {times['prediction, no guard']:.2f}, guard alone "
        f"{times['guard alone']:.3f} = {share:.1%} of the prediction"
    )
    other = min(auroc for auroc, modality in aurocs if modality)
    print(f"lowest whole-guard AUROC against another modality: {other:.4f}")
    print(describe_machine())
    print(f"ratio: {min(auroc for auroc, _ in aurocs):.4f}")


if __name__ == "__main__":
    main()
