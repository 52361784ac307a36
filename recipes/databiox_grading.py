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

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bcnet_tf.settings import setting, setting_like
from bcnet_tf.training import TrainConfig
from recipes import parse_recipe, run_recipe
from recipes._runner import (
    HistologySettings,
    RecipeSettings,
    demo_banner,
    run_and_summarise,
    weights_for,
    write_results,
)

STUDY = "study 003 (BCNet, Databiox IDC grading)"


@dataclass
class Settings(HistologySettings, RecipeSettings):
    """The study's protocol (see the module docstring)."""

    out: str = "saved_models/databiox_grading"
    weights: str | None = setting_like(TrainConfig, "weights", "imagenet")
    magnification: str | None = setting_like(TrainConfig, "magnification", None)
    image_size: int = setting(224, "input side in pixels")
    epochs: int = setting_like(TrainConfig, "epochs", 50)
    batch_size: int = setting_like(TrainConfig, "batch_size", 52)
    learning_rate: float = setting_like(TrainConfig, "learning_rate", 1e-3)
    stop_at: float | None = setting(
        0.88, "stop once validation accuracy passes this value (none: never)"
    )
    val: float = setting_like(TrainConfig, "val", 0.2)
    test: float = setting_like(TrainConfig, "test", 0.15)
    augment: str = setting_like(TrainConfig, "augment", "bcnet")
    tta: bool = setting(False, "evaluate with test-time augmentation (flips and rotations)")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    settings = parse_recipe(Settings, argv, __doc__)
    demo = demo_banner(STUDY, settings.data)
    out = Path(settings.out)
    config = TrainConfig(
        model="bcnet_vgg16",
        data=settings.data,
        run_dir=str(out),
        layout="auto" if demo else "databiox",
        magnification=settings.magnification,
        image_size=settings.image_size,
        weights=weights_for("bcnet_vgg16", settings.weights, demo),
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        stop_at=settings.stop_at,
        val=settings.val,
        test=settings.test,
        augment=settings.augment,
        seed=settings.seed,
        **settings.histology_config(),
    )
    headline = run_and_summarise(config, settings, tta=settings.tta)
    results = {"study": STUDY, "demo": demo, "settings": asdict(settings), "bcnet_vgg16": headline}
    print("published: 0.88 validation accuracy, 0.72 on 21 held-out images")
    write_results(out / "results.json", results)
    return results


if __name__ == "__main__":
    run_recipe(main)
