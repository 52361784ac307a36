"""Study 004 — ResNet50 with lightweight channel attention on BreakHis, per magnification.

Liu & Achutha, "Enhancing Breast Cancer Classification Using Transfer ResNet with
Lightweight Attention Mechanism".

Data:      BreakHis v1 (Spanhol et al. 2016): 7,909 H&E images, 82 patients, benign /
           malignant, 40X/100X/200X/400X. Download:
           https://web.inf.ufpr.br/vri/databases/breast-cancer-histopathological-database-breakhis/
           Pass the extracted ``BreaKHis_v1`` folder; labels, patients and
           magnifications come from the file names.
Protocol:  ImageNet ResNet50 with a squeeze-style attention block on the last stage,
           FC (LeakyReLU) -> FC (ReLU) -> softmax, dropout 0.25, batch 32, 50 epochs,
           lr 1e-4; one model per magnification; baselines plain ResNet50 and VGG16.
           ``--protocol paper``: the study's 60/10/30 split (by image, as published;
           patients leak across parts). ``--protocol patientwise`` (default): Spanhol's
           standard protocol, 5 random 70/30 splits by patient (10 % of the training
           part validates), image accuracy and patient recognition rate as mean ± sd.
Published: accuracy 98.5 / 98.7 / 97.9 / 94.3 % at 40X / 100X / 200X / 400X (Table 5);
           parameter counts and convergence time per model (Table 6).
Histology: ``--mode tiles`` trains on tissue tiles of the 700x460 images instead of
           whole images resized (``--tile-size``, ``--tile-scale``); ``--stain macenko``
           or ``reinhard`` normalises the stain (docs/histopathology.md).

    python -m recipes.breakhis_attention --data /path/to/BreaKHis_v1     # the study
    python -m recipes.breakhis_attention                                  # demo
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bcnet_tf.errors import BcnetError
from bcnet_tf.settings import ImageSize, setting
from bcnet_tf.training import TrainConfig
from recipes import parse_recipe, run_recipe
from recipes._runner import (
    HistologySettings,
    Published,
    demo_banner,
    preset_setting,
    print_published,
    results_header,
    run_protocol,
    weights_for,
    write_results,
)

STUDY = "study 004 (BreakHis, ResNet50 + attention)"
#: The study's protocol (see the module docstring); every flag of ``Settings`` overrides
#: it, and ``--protocol`` chooses the split.
PRESET = TrainConfig(
    model="resnet50_attention",
    layout="breakhis",
    image_size=224,
    epochs=50,
    batch_size=32,
    learning_rate=1e-4,
    augment="histology",
    val=0.1,
    test=0.3,
)
PUBLISHED = tuple(
    Published(f"resnet50_attention {magnification}", "accuracy", "test", value, "Table 5")
    for magnification, value in (("40X", 0.985), ("100X", 0.987), ("200X", 0.979), ("400X", 0.943))
)
SCORES = ("accuracy", "patient_recognition_rate", "macro_f1", "gmean", "iba")
PROTOCOLS = ("paper", "patientwise")


@dataclass
class Settings(HistologySettings):
    """The study's protocol; ``demo_*`` settings apply without ``--data``."""

    out: str = "saved_models/breakhis_attention"
    models: str = setting(
        "resnet50_attention,resnet50,bcnet_vgg16", "comma-separated models to train"
    )
    magnifications: str = setting(
        "40X,100X,200X,400X", "comma-separated magnifications, one model each"
    )
    protocol: str = setting(
        "patientwise",
        "paper: the study's 60/10/30 split by image; patientwise: --trials random 70/30 "
        "splits by patient",
        PROTOCOLS,
    )
    trials: int = setting(5, "patientwise: random splits per model and magnification")
    weights: str | None = preset_setting(PRESET, "weights")
    image_size: ImageSize = preset_setting(PRESET, "image_size")
    epochs: int = preset_setting(PRESET, "epochs")
    batch_size: int = preset_setting(PRESET, "batch_size")
    learning_rate: float = preset_setting(PRESET, "learning_rate")
    augment: str = preset_setting(PRESET, "augment")
    demo_epochs: int = setting(1, "training epochs of the demo (without --data)")
    demo_image_size: int = setting(96, "input side in pixels of the demo")
    bootstrap: int = 200


def _grouping(protocol: str) -> str:
    """What the protocol's splits keep on one side: images (as published) or patients."""
    if protocol not in PROTOCOLS:
        raise BcnetError(f"protocol must be one of {PROTOCOLS}, not {protocol!r}")
    return "image" if protocol == "paper" else "patient"


def _convergence(history: list[dict[str, float]]) -> tuple[int, float]:
    """Epoch (1-based) of the best validation accuracy and the seconds spent to reach it."""
    best = max(range(len(history)), key=lambda i: history[i].get("val_accuracy", 0))
    return best + 1, sum(row.get("epoch_seconds", 0.0) for row in history[: best + 1])


def _mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    settings = parse_recipe(Settings, argv, __doc__)
    demo = demo_banner(STUDY, settings.data)
    out = Path(settings.out)
    magnifications = [None] if demo else settings.magnifications.split(",")
    trials = 1 if demo else (settings.trials if settings.protocol == "patientwise" else 1)
    runs: list[dict[str, Any]] = []
    exported = False
    for model in settings.models.split(","):
        weights = weights_for(model, settings.weights, demo)
        for magnification in magnifications:
            for trial in range(trials):
                name = f"{model}/{magnification or 'all'}/trial{trial}"
                print(f"--- {name} ---")
                config = settings.train_config(
                    PRESET,
                    model=model,
                    run_dir=str(out / name),
                    layout="auto" if demo else PRESET.layout,
                    magnification=magnification,
                    image_size=settings.demo_image_size if demo else settings.image_size,
                    weights=weights,
                    epochs=settings.demo_epochs if demo else settings.epochs,
                    group_by=_grouping(settings.protocol),
                    split_seed=trial,
                )
                outcome = run_protocol(
                    config,
                    resamples=settings.bootstrap,
                    quantize=() if exported else settings.quantizations,
                    bundle=settings.bundle(model),
                )
                exported = exported or outcome.bundle is not None
                epoch, seconds = _convergence(outcome.history)
                metrics = outcome.evaluation.metrics
                runs.append(
                    {
                        "model": model,
                        "magnification": magnification or "all",
                        "trial": trial,
                        "parameters": outcome.evaluation.summary["parameters"],
                        "best_epoch": epoch,
                        "seconds_to_best": seconds,
                        **{key: metrics.get(key, float("nan")) for key in SCORES},
                    }
                )
    table = _tables(runs)
    print_published(PUBLISHED)
    results = results_header(STUDY, demo, settings, PUBLISHED) | {"runs": runs, "table": table}
    write_results(out / "results.json", results)
    return results


def _tables(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Print Table 5 (scores, mean ± sd over trials) and Table 6 (size, convergence)."""
    rows = []
    keys = sorted({(r["model"], r["magnification"]) for r in runs}, key=str)
    print(f"\n{'model':<20} {'mag.':<5} " + " ".join(f"{s:<17}" for s in SCORES))
    for model, magnification in keys:
        group = [r for r in runs if r["model"] == model and r["magnification"] == magnification]
        row = {"model": model, "magnification": magnification, "trials": len(group)}
        row.update({s: _mean_sd([r[s] for r in group]) for s in SCORES})
        rows.append(row)
        print(f"{model:<20} {magnification:<5} " + " ".join(f"{row[s]:<17}" for s in SCORES))
    print(f"\n{'model':<20} {'parameters':>12} {'best epoch':>11} {'seconds to best':>16}")
    for model in dict.fromkeys(r["model"] for r in runs):
        group = [r for r in runs if r["model"] == model]
        print(
            f"{model:<20} {group[0]['parameters']:>12,} "
            f"{statistics.mean(r['best_epoch'] for r in group):>11.1f} "
            f"{statistics.mean(r['seconds_to_best'] for r in group):>16.1f}"
        )
    return rows


if __name__ == "__main__":
    run_recipe(main)
