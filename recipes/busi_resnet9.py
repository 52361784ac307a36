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
Evaluation (``--protocol``):
           ``cv`` (default): duplicate-aware k-fold cross-validation (BUSI has
           near-duplicate scans; copies never straddle a fold), per-fold mean ± sd and
           the pooled out-of-fold evaluation with bootstrap intervals;
           ``paper``: the study's image-level 70/15/15 split (copies may straddle
           train and test: a leaking protocol, labelled so), trained, evaluated,
           explained and exported as one run;
           ``both``: the two, printed side by side (same model and recipe, only the
           evaluation differs).
Published: ~90 % accuracy with the switching schedule, 81 % with constant parameters.

    python -m recipes.busi_resnet9 --data ../shared/data/busi_256 --protocol both
    python -m recipes.busi_resnet9                                     # demo, synthetic
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bcnet_tf.evaluation.bootstrap import interval_text
from bcnet_tf.evaluation.cross_validation import cross_validation_report
from bcnet_tf.settings import ImageSize, setting
from bcnet_tf.training import TrainConfig
from bcnet_tf.training.cross_validation import cross_validate
from recipes import parse_recipe, run_recipe
from recipes._runner import (
    HEADLINE,
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
PROTOCOLS = ("cv", "paper", "both")
PAPER_PROTOCOL = "image-level 70/15/15 split (LEAKING: near-duplicates straddle the parts)"
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
    protocol: str = setting(
        "cv",
        "cv: duplicate-aware k-fold cross-validation; paper: the study's image-level "
        "split (leaks near-duplicates); both: the two side by side",
        PROTOCOLS,
    )
    k: int = setting(5, "cross-validation folds (--protocol cv or both)")


def cross_validated(config: TrainConfig, settings: Settings) -> dict[str, Any]:
    """k-fold cross-validation of ``config``, grouped by patient when known, else by
    near-duplicates: mean ± sd over the folds and the pooled value with its interval,
    per headline metric."""
    cv = cross_validate(config, k=settings.k, group_by="auto")
    report = cross_validation_report(cv.path, resamples=settings.bootstrap)
    summary = report.summary
    print(f"  report: {report.out_dir / 'report.html'}")
    return {
        "protocol": summary["protocol"],
        **{
            key: {
                **summary["folds"][key],
                "pooled": summary["metrics"][key],
                "ci95": summary["intervals"].get(key),
            }
            for key in HEADLINE
        },
    }


def print_side_by_side(results: dict[str, Any], runs: list[str]) -> None:
    """One row per metric, one column per protocol run: a split's value, or the mean ±
    sd over folds and the pooled value; each with its 95 % CI."""
    print(f"{'metric':<18}" + "".join(f"{run:>46}" for run in runs))
    for key in HEADLINE:
        cells = []
        for run in runs:
            value = results[run][key]
            interval = interval_text({"intervals": {key: value["ci95"]}}, key) or "no CI"
            if "mean" in value:
                cells.append(
                    f"{value['mean']:.3f} ± {value['sd']:.3f}; {value['pooled']:.3f} [{interval}]"
                )
            else:
                cells.append(f"{value['value']:.3f} [{interval}]")
        print(f"{key:<18}" + "".join(f"{cell:>46}" for cell in cells))
    for run in runs:
        print(f"  {run}: {results[run]['protocol']}")
    print("  (cross-validation: mean ± sd over folds; pooled out-of-fold value [95 % CI])")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    settings = parse_recipe(Settings, argv, __doc__)
    demo = demo_banner(STUDY, settings.data)
    out = Path(settings.out)
    protocols = ["paper", "cv"] if settings.protocol == "both" else [settings.protocol]
    switching = settings.train_config(
        PRESET, epochs=settings.demo_epochs if demo else settings.epochs
    )
    variants = {"one_cycle_switch": switching}
    if settings.compare_constant:
        variants["constant"] = replace(
            switching, schedule="constant", learning_rate=settings.constant_learning_rate
        )
    results = results_header(STUDY, demo, settings, PUBLISHED)
    for name, config in variants.items():
        for protocol in protocols:
            if protocol == "paper":
                print(f"--- {name}: {PAPER_PROTOCOL} ---")
                paper = replace(config, run_dir=str(out / name), group_by="image")
                headline = run_and_summarise(paper, settings, export=name == "one_cycle_switch")
                results[name] = {"protocol": PAPER_PROTOCOL, **headline}
            else:
                run = f"{name}-cv{settings.k}"
                print(f"--- {run}: {settings.k}-fold CV, near-duplicates kept together ---")
                results[run] = cross_validated(replace(config, run_dir=str(out / run)), settings)
        if settings.protocol == "both":
            print_side_by_side(results, [name, f"{name}-cv{settings.k}"])
    print_published(PUBLISHED)
    write_results(out / "results.json", results)
    return results


if __name__ == "__main__":
    run_recipe(main)
