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

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bcnet_tf.errors import BcnetError
from bcnet_tf.settings import ImageSize, setting
from bcnet_tf.training import TrainConfig
from recipes import parse_recipe, run_recipe
from recipes._runner import (
    Published,
    RecipeSettings,
    demo_banner,
    preset_setting,
    print_published,
    results_header,
    run_and_summarise,
    weights_for,
    write_results,
)

STUDY = "study 002 (multi-cancer, frozen ResNet18)"
MODES = ("per_type", "joint")
#: The study's protocol (see the module docstring); every flag of ``Settings`` overrides it.
PRESET = TrainConfig(
    model="resnet18",
    image_size=224,
    freeze="all",
    epochs=4,
    batch_size=32,
    learning_rate=1e-3,
    augment="flip_rotate",
)
PUBLISHED = (
    Published("breast", "accuracy", "validation", 0.985, "results table"),
    Published("breast", "accuracy", "test", 0.983, "results table"),
)


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
    weights: str | None = preset_setting(PRESET, "weights")
    image_size: ImageSize = preset_setting(PRESET, "image_size")
    epochs: int = preset_setting(PRESET, "epochs")
    batch_size: int = preset_setting(PRESET, "batch_size")
    learning_rate: float = preset_setting(PRESET, "learning_rate")
    augment: str = preset_setting(PRESET, "augment")


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
    weights = weights_for(PRESET.model, settings.weights, demo)
    results = results_header(STUDY, demo, settings, PUBLISHED)
    for cancer_type, data in _datasets(settings, demo).items():
        print(f"--- {cancer_type} ---")
        safe = cancer_type.replace(" ", "_")
        config = settings.train_config(PRESET, data=data, run_dir=str(out / safe), weights=weights)
        results[cancer_type] = run_and_summarise(config, settings, safe)
    print_published(PUBLISHED)
    write_results(out / "results.json", results)
    return results


if __name__ == "__main__":
    run_recipe(main)
