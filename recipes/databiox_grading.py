"""Study 003 — BCNet: IDC grading of H&E histopathology (Databiox). The main job.

Zavareh et al., "BCNet: A Deep Convolutional Neural Network for Breast Cancer
Grading".

Data:      Databiox (Bolhasani et al. 2020): 922 H&E images of invasive ductal
           carcinoma, 124 patients, grades I / II / III, at 4x/10x/20x/40x.
           Download: https://data.mendeley.com/datasets/ (search "Databiox"); pass the
           folder laid out ``<grade>/<patient>/<magnification>/*.jpg``.
Protocol:  frozen ImageNet VGG16 + global average pooling + Dense 1024 (ReLU) x2 +
           softmax; VGG16 preprocessing, random zoom 0.2, 224x224, batch 52, Adam,
           categorical cross-entropy, up to 50 epochs, stopping once validation
           accuracy exceeds 0.88. The study held 21 images out for evaluation and split
           the rest 75/25; here every split is by patient (no patient on two sides).
Published: 88 % validation accuracy, 72 % on the held-out evaluation images.
Histology: ``--mode tiles`` trains on 224 px tissue tiles at native (or
           ``--tile-scale``) resolution instead of whole 2100x1574 images squeezed to
           224 px, and predicts each image from its tiles; ``--stain macenko`` or
           ``reinhard`` normalises the stain (see docs/histopathology.md).

    python -m recipes.databiox_grading --data /path/to/databiox     # the study
    python -m recipes.databiox_grading                               # demo, synthetic

The demo trains on the embedded synthetic IDC-grade tiles (Databiox layout) and, with
no ImageNet download possible, from random initialisation: it proves the pipeline
end to end (train -> evaluate -> explain -> export) in a few minutes on 2 CPU cores.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    run_and_summarise,
    weights_for,
    write_results,
)

STUDY = "study 003 (BCNet, Databiox IDC grading)"
#: The study's protocol (see the module docstring); every flag of ``Settings`` overrides it.
PRESET = TrainConfig(
    model="bcnet_vgg16",
    layout="databiox",
    image_size=224,
    epochs=50,
    batch_size=52,
    learning_rate=1e-3,
    stop_at=0.88,
    val=0.2,
    test=0.15,
    augment="bcnet",
)
PUBLISHED = (
    Published("bcnet_vgg16", "accuracy", "validation", 0.88, "abstract"),
    Published("bcnet_vgg16", "accuracy", "21 held-out images", 0.72, "abstract"),
)


@dataclass
class Settings(HistologySettings):
    """The study's protocol (see the module docstring)."""

    out: str = "saved_models/databiox_grading"
    weights: str | None = preset_setting(PRESET, "weights")
    magnification: str | None = preset_setting(PRESET, "magnification")
    image_size: ImageSize = preset_setting(PRESET, "image_size")
    epochs: int = preset_setting(PRESET, "epochs")
    batch_size: int = preset_setting(PRESET, "batch_size")
    learning_rate: float = preset_setting(PRESET, "learning_rate")
    stop_at: float | None = preset_setting(PRESET, "stop_at")
    val: float = preset_setting(PRESET, "val")
    test: float = preset_setting(PRESET, "test")
    augment: str = preset_setting(PRESET, "augment")
    tta: bool = setting(False, "evaluate with test-time augmentation (flips and rotations)")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    settings = parse_recipe(Settings, argv, __doc__)
    demo = demo_banner(STUDY, settings.data)
    out = Path(settings.out)
    config = settings.train_config(
        PRESET,
        run_dir=str(out),
        layout="auto" if demo else PRESET.layout,
        weights=weights_for(PRESET.model, settings.weights, demo),
    )
    results = results_header(STUDY, demo, settings, PUBLISHED)
    results[PRESET.model] = run_and_summarise(config, settings, tta=settings.tta)
    print_published(PUBLISHED)
    write_results(out / "results.json", results)
    return results


if __name__ == "__main__":
    run_recipe(main)
