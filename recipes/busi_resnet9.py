"""Study 001 — ResNet9 from scratch on breast ultrasound (BUSI).

Achyuthanwesh et al., "Breast cancer detection and recognition by using deep learning
techniques - ultrasound images classification into benign, malignant and normal tissue
by the ResNet model".

Data:      BUSI (Al-Dhabyani et al. 2020), 780 ultrasound images, benign / malignant /
           normal. Download: https://scholar.cu.edu.eg/?q=afahmy/pages/dataset (or the
           Kaggle mirror "breast-ultrasound-images-dataset"); pass the folder with one
           sub-folder per class (masks are skipped automatically).
Protocol:  images resized to 64x64, batch 128, ResNet9 trained from scratch for 50
           epochs with a one-cycle learning rate and the optimizer switched from Adam to
           SGD part-way ("changing the optimizers between Adam and SGD simultaneously
           with the change in learning rates"), against a constant optimizer and rate.
           The split here is duplicate-aware (BUSI has near-duplicate scans; copies never
           straddle train and test), 70/15/15.
Published: ~90 % accuracy with the switching schedule, 81 % with constant parameters.

    python -m recipes.busi_resnet9 --data ../shared/data/busi_256     # the study
    python -m recipes.busi_resnet9                                     # demo, synthetic
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

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
    write_results,
)

STUDY = "study 001 (BUSI, ResNet9)"
#: The study's protocol (see the module docstring); every flag of ``Settings`` overrides it.
PRESET = TrainConfig(
    model="resnet9",
    weights=None,
    image_size=64,
    epochs=50,
    batch_size=128,
    schedule="one_cycle_switch",
    learning_rate=0.01,
    switch_at=0.5,
    augment="flip_rotate",
)
PUBLISHED = (
    Published("one_cycle_switch", "accuracy", "test", 0.90, "abstract (about 90 %)"),
    Published("constant", "accuracy", "test", 0.81, "abstract"),
)


@dataclass
class Settings(RecipeSettings):
    """The study's protocol; ``demo_epochs`` replaces ``epochs`` without ``--data``."""

    out: str = "saved_models/busi_resnet9"
    epochs: int = preset_setting(PRESET, "epochs")
    demo_epochs: int = setting(3, "training epochs of the demo (without --data)")
    image_size: ImageSize = preset_setting(PRESET, "image_size")
    batch_size: int = preset_setting(PRESET, "batch_size")
    learning_rate: float = preset_setting(PRESET, "learning_rate")
    switch_at: float = preset_setting(PRESET, "switch_at")
    constant_learning_rate: float = setting(1e-3, "learning rate of the constant run")
    compare_constant: bool = setting(
        True, "also train with a constant optimizer and learning rate, as the study did"
    )
    augment: str = preset_setting(PRESET, "augment")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    settings = parse_recipe(Settings, argv, __doc__)
    demo = demo_banner(STUDY, settings.data)
    out = Path(settings.out)
    switching = settings.train_config(
        PRESET,
        run_dir=str(out / "one_cycle_switch"),
        epochs=settings.demo_epochs if demo else settings.epochs,
    )
    variants = {"one_cycle_switch": switching}
    if settings.compare_constant:
        variants["constant"] = replace(
            switching,
            run_dir=str(out / "constant"),
            schedule="constant",
            learning_rate=settings.constant_learning_rate,
        )
    results = results_header(STUDY, demo, settings, PUBLISHED)
    for name, config in variants.items():
        print(f"--- {name} ---")
        results[name] = run_and_summarise(config, settings, export=name == "one_cycle_switch")
    print_published(PUBLISHED)
    write_results(out / "results.json", results)
    return results


if __name__ == "__main__":
    run_recipe(main)
