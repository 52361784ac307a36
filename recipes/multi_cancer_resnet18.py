"""Study 002 — frozen ResNet18 with a new head, per cancer type (multi-cancer set).

Olalekan et al., "Cancer Detection and Classification through Transfer Learning with
ResNet18-Based Convolutional Neural Network" (Kaggle
multi-cancer dataset: breast, brain, kidney, oral, lung/colon, cervical, lymphoma, ALL).

Data:      the Kaggle "Multi Cancer Dataset" (obulisainaren/multi-cancer): one folder
           per cancer type, each with one folder per class, e.g.
           ``Breast Cancer/breast_benign/*.jpg``. Pass the top folder with
           ``--mode per_type`` (a model per type, as the study did) or a single type's
           folder with ``--mode joint``.
Protocol:  ImageNet ResNet18, base frozen, new final fully-connected layer; rotation /
           flip augmentation; Adam lr 1e-3, batch 32, 4 epochs, cross-entropy; per-type
           confusion matrices and a probability bar chart per prediction.
Published: breast 98.5 % validation / 98.3 % test accuracy.

    python -m recipes.multi_cancer_resnet18 --data /path/to/multi-cancer   # the study
    python -m recipes.multi_cancer_resnet18                               # demo
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bcnet_tf.errors import BcnetError
from bcnet_tf.settings import setting, setting_like
from bcnet_tf.training import TrainConfig
from recipes import parse_recipe, run_recipe
from recipes._runner import (
    RecipeSettings,
    demo_banner,
    run_and_summarise,
    weights_for,
    write_results,
)

STUDY = "study 002 (multi-cancer, frozen ResNet18)"
MODES = ("per_type", "joint")


@dataclass
class Settings(RecipeSettings):
    """The study's protocol; ``types`` limits ``per_type`` mode to some sub-folders."""

    out: str = "saved_models/multi_cancer_resnet18"
    mode: str = setting(
        "per_type",
        "per_type: one model per cancer-type sub-folder of --data; joint: one model on --data",
        MODES,
    )
    types: str | None = setting(
        None, "per_type: comma-separated cancer-type folders to train (none: all)"
    )
    weights: str | None = setting_like(TrainConfig, "weights", "imagenet")
    image_size: int = setting(224, "input side in pixels")
    epochs: int = setting_like(TrainConfig, "epochs", 4)
    batch_size: int = setting_like(TrainConfig, "batch_size", 32)
    learning_rate: float = setting_like(TrainConfig, "learning_rate", 1e-3)
    augment: str = setting_like(TrainConfig, "augment", "flip_rotate")


def _datasets(settings: Settings, demo: bool) -> dict[str, str | None]:
    """``{cancer type: dataset folder}`` to train one model each on."""
    if demo:
        return {"synthetic": None}
    root = Path(settings.data)
    if settings.mode == "joint":
        return {root.name: str(root)}
    if settings.mode not in MODES:
        raise BcnetError(f"mode must be one of {MODES}, not {settings.mode!r}")
    wanted = set(settings.types.split(",")) if settings.types else None
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    chosen = {p.name: str(p) for p in folders if wanted is None or p.name in wanted}
    if not chosen:
        raise BcnetError(
            f"{root} has no cancer-type folders{f' named {sorted(wanted)}' if wanted else ''}. "
            "Fix: pass the dataset's top folder (one sub-folder per type), or --mode joint."
        )
    return chosen


def main(argv: list[str] | None = None) -> dict[str, Any]:
    settings = parse_recipe(Settings, argv, __doc__)
    demo = demo_banner(STUDY, settings.data)
    out = Path(settings.out)
    weights = weights_for("resnet18", settings.weights, demo)
    results: dict[str, Any] = {"study": STUDY, "demo": demo, "settings": asdict(settings)}
    for cancer_type, data in _datasets(settings, demo).items():
        print(f"--- {cancer_type} ---")
        safe = cancer_type.replace(" ", "_")
        config = TrainConfig(
            model="resnet18",
            data=data,
            run_dir=str(out / safe),
            image_size=settings.image_size,
            weights=weights,
            freeze="all",
            epochs=settings.epochs,
            batch_size=settings.batch_size,
            learning_rate=settings.learning_rate,
            augment=settings.augment,
            seed=settings.seed,
        )
        results[cancer_type] = run_and_summarise(config, settings, safe)
    print("published: breast 0.985 validation / 0.983 test accuracy")
    write_results(out / "results.json", results)
    return results


if __name__ == "__main__":
    run_recipe(main)
