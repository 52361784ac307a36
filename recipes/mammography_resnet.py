"""Study 000 — ResNet18 and ResNet34 transfer learning on mammograms (4 classes).

Subaar et al. 2024, "Investigating the detection of breast cancer with deep transfer
learning using ResNet18 and ResNet34", Biomed. Phys. Eng. Express 10 035029.

Data:      1,200 x-ray mammograms in 4 classes: implant_cancer_negative,
           implant_cancer_positive, cancer_negative, cancer_positive (the study's own
           collection; any mammography set works: class folders of DICOM, PGM or
           16-bit PNG files, or a CSV manifest such as CBIS-DDSM's or VinDr-Mammo's,
           see docs/mammography.md). DICOM is windowed as its header says and split by
           the header's patient; every image is cropped to the breast, flipped to one
           side and padded (--preprocess mammo, the default here).
Protocol:  ImageNet ResNet18 and ResNet34, 128x128 (--image-size 512x416 keeps a
           mammogram's aspect), flips/rotations/translations,
           batch 64, fastai ``fine_tune``: head-only epoch(s), then the whole network
           with discriminative learning rates, 100 epochs; 80/20 split (here 70/15/15
           and grouped by patient or duplicate set).
Published: validation accuracy 92.0 % (ResNet18), 86.7 % (ResNet34).

    python -m recipes.mammography_resnet --data /path/to/mammograms   # the study
    python -m recipes.mammography_resnet --data cbis_ddsm_mass.csv     # a CSV manifest
    python -m recipes.mammography_resnet                               # demo, synthetic
"""

from __future__ import annotations

from dataclasses import dataclass
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
    weights_for,
    write_results,
)

STUDY = "study 000 (mammography, ResNet18/34)"
#: The study's protocol (see the module docstring); every flag of ``Settings`` overrides it.
PRESET = TrainConfig(
    model="resnet18",
    image_size=128,
    preprocess="mammo",
    epochs=100,
    schedule="fine_tune",
    head_epochs=1,
    batch_size=64,
    learning_rate=2e-3,
    augment="flip_rotate",
)
PUBLISHED = (
    Published("resnet18", "accuracy", "validation", 0.920, "abstract"),
    Published("resnet34", "accuracy", "validation", 0.867, "abstract"),
)


@dataclass
class Settings(RecipeSettings):
    """The study's protocol; ``demo_epochs`` replaces ``epochs`` without ``--data``."""

    out: str = "saved_models/mammography_resnet"
    models: str = setting("resnet18,resnet34", "comma-separated models to train, one run each")
    weights: str | None = preset_setting(PRESET, "weights")
    image_size: ImageSize = preset_setting(PRESET, "image_size")
    preprocess: str = preset_setting(PRESET, "preprocess")
    epochs: int = preset_setting(PRESET, "epochs")
    demo_epochs: int = setting(3, "training epochs of the demo (without --data)")
    head_epochs: int = preset_setting(PRESET, "head_epochs")
    batch_size: int = preset_setting(PRESET, "batch_size")
    learning_rate: float = preset_setting(PRESET, "learning_rate")
    augment: str = preset_setting(PRESET, "augment")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    settings = parse_recipe(Settings, argv, __doc__)
    demo = demo_banner(STUDY, settings.data)
    out = Path(settings.out)
    results = results_header(STUDY, demo, settings, PUBLISHED)
    for model in settings.models.split(","):
        print(f"--- {model} ---")
        config = settings.train_config(
            PRESET,
            model=model,
            run_dir=str(out / model),
            weights=weights_for(model, settings.weights, demo),
            epochs=settings.demo_epochs if demo else settings.epochs,
        )
        results[model] = run_and_summarise(config, settings, model)
    print_published(PUBLISHED)
    write_results(out / "results.json", results)
    return results


if __name__ == "__main__":
    run_recipe(main)
