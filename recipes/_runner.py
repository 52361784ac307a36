"""What every recipe shares: its protocol as a :class:`TrainConfig` preset that its flags
override, the numbers its study published, demo or real data, ImageNet weights (demo
only: fall back to random initialisation in one line), then
train -> evaluate -> explain -> export, and a closing summary."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from bcnet_tf.errors import BcnetError
from bcnet_tf.evaluation import Evaluation, evaluate
from bcnet_tf.evaluation.bootstrap import bootstrap_text, interval_text
from bcnet_tf.explain import explain
from bcnet_tf.export import ExportResult, export
from bcnet_tf.io import atomic_write_text
from bcnet_tf.models import WeightsError, get_spec
from bcnet_tf.models.weights import fetch_imagenet
from bcnet_tf.pathology.tiles import TileSpec
from bcnet_tf.settings import nested_setting, setting, setting_like
from bcnet_tf.training import TrainConfig, train

SAVED_MODELS = Path("saved_models")
#: The metrics every recipe prints and writes to ``results.json``.
HEADLINE = ("accuracy", "balanced_accuracy", "macro_f1", "roc_auc_macro")
HISTOLOGY_MODES = ("whole", "tiles")


@dataclass(frozen=True)
class Published:
    """One number a study reports: which of the recipe's runs, which metric on which
    part of the data, and where in the paper. A recipe's ``PUBLISHED`` tuple is printed
    after its runs, written to its ``results.json`` and tabled in the docs.

    Example:
        >>> Published("resnet18", "accuracy", "validation", 0.920, "abstract").text()
        'resnet18 0.920 validation accuracy'
    """

    run: str
    metric: str
    part: str
    value: float
    where: str

    def text(self) -> str:
        return f"{self.run} {self.value:.3f} {self.part} {self.metric}"


def preset_setting(preset: TrainConfig, name: str) -> Any:
    """A recipe flag that means what ``TrainConfig``'s field ``name`` means, with the
    study's value in ``preset`` as its default (see :meth:`RecipeSettings.train_config`).

    Example:
        >>> @dataclass
        ... class Settings(RecipeSettings):
        ...     epochs: int = preset_setting(TrainConfig(epochs=100), "epochs")
        >>> Settings().epochs
        100
    """
    return setting_like(TrainConfig, name, getattr(preset, name))


@dataclass
class RecipeSettings:
    """Settings every recipe has; each recipe's own dataclass extends it."""

    data: str | None = setting(
        None, "the study's dataset folder (none: a demo on the embedded synthetic dataset)"
    )
    out: str = setting(
        "saved_models/recipe", "output folder of the runs and results.json (bundles go beside it)"
    )
    seed: int = setting_like(TrainConfig, "seed", 0)
    bootstrap: int = setting(1000, "bootstrap resamples of the confidence intervals (0: off)")
    quantize: str = setting(
        "none,float16,dynamic,int8",
        "comma-separated TFLite quantizations of the exported bundle (empty: no export)",
    )

    @property
    def quantizations(self) -> tuple[str, ...]:
        return tuple(q for q in self.quantize.split(",") if q)

    def bundle(self, suffix: str = "") -> str:
        """``<out>-<suffix>-bundle`` beside the recipe's output folder."""
        out = Path(self.out)
        return str(out.with_name(f"{out.name}{f'-{suffix}' if suffix else ''}-bundle"))

    def train_config(self, preset: TrainConfig, **overrides: Any) -> TrainConfig:
        """The study's ``preset`` with every setting of this recipe that is also a
        ``TrainConfig`` setting (``--epochs``, ``--data``, ...), then ``overrides``
        (what differs between the recipe's runs).

        Example:
            >>> preset = TrainConfig(model="resnet18", epochs=100)
            >>> RecipeSettings(seed=3).train_config(preset, run_dir="out/a").seed
            3
        """
        shared = {item.name for item in fields(TrainConfig)} & {item.name for item in fields(self)}
        return replace(preset, **({name: getattr(self, name) for name in shared} | overrides))


@dataclass
class HistologySettings(RecipeSettings):
    """Recipe settings plus stain normalisation and tile mode, for the H&E studies
    (003, 004).

    ``mode="whole"`` resizes each image to the model's input, as the studies did;
    ``mode="tiles"`` trains on random tissue tiles (``--tile-size``, cut at
    ``--tile-scale`` of the native resolution) and predicts each image from its tiles.
    """

    mode: str = setting(
        "whole", "whole images resized to the model's input, or tissue tiles", HISTOLOGY_MODES
    )
    stain: str = setting_like(TrainConfig, "stain", "none")
    stain_reference: str | None = setting_like(TrainConfig, "stain_reference", None)
    tiles: TileSpec = nested_setting(
        TileSpec, TileSpec(size=224), "tile mode (with --mode tiles)", prefix="tile"
    )

    def train_config(self, preset: TrainConfig, **overrides: Any) -> TrainConfig:
        """:meth:`RecipeSettings.train_config`, with the tile spec in tile mode only."""
        if self.mode not in HISTOLOGY_MODES:
            raise BcnetError(f"mode must be one of {HISTOLOGY_MODES}, not {self.mode!r}")
        tiles = self.tiles if self.mode == "tiles" else None
        return super().train_config(preset, **({"tiles": tiles} | overrides))


def results_header(
    study: str, demo: bool, settings: RecipeSettings, published: Sequence[Published]
) -> dict[str, Any]:
    """The first entries of every recipe's ``results.json``."""
    return {
        "study": study,
        "demo": demo,
        "settings": asdict(settings),
        "published": [asdict(number) for number in published],
    }


def print_published(published: Sequence[Published]) -> None:
    """One line: what the study published, to read beside the runs above it."""
    print("published: " + "; ".join(number.text() for number in published))


def demo_banner(study: str, data: str | None) -> bool:
    """Print whether this is a demo (no ``--data``) and return ``True`` if so."""
    if data is None:
        print(
            f"{study}: demo on the embedded synthetic dataset (pass --data DIR for the real "
            "data set); numbers below prove the pipeline, not the study."
        )
        return True
    print(f"{study}: data {data}")
    return False


def weights_for(model: str, weights: str | None, demo: bool) -> str | None:
    """``weights``, except that a demo without reachable ImageNet weights says so in
    one line and continues from random initialisation. With real data a missing
    download stays an error (never a silent fallback)."""
    spec = get_spec(model)
    if weights != "imagenet" or spec.imagenet is None:
        return weights
    try:
        fetch_imagenet(spec.imagenet, model)
    except WeightsError as error:
        if not demo:
            raise
        print(f"demo: {error} Continuing from random initialisation.")
        return None
    return weights


@dataclass
class Outcome:
    """A finished protocol run: its run directory, evaluation and bundle."""

    run_dir: Path
    history: list[dict[str, float]]
    evaluation: Evaluation
    bundle: ExportResult | None


def run_protocol(
    config: TrainConfig,
    *,
    tta: bool = False,
    resamples: int = 1000,
    explain_images: int = 4,
    quantize: tuple[str, ...] = ("none", "float16", "dynamic", "int8"),
    bundle: str | None = None,
) -> Outcome:
    """Train, evaluate on the test part, explain a few test images, export a bundle
    (skipped when ``quantize`` is empty)."""
    result = train(config)
    evaluation = evaluate(result.run_dir, tta=tta, resamples=resamples)
    chosen = evaluation.records[:: max(len(evaluation.records) // explain_images, 1)]
    explain(
        result.best,
        [record.path for record in chosen[:explain_images]],
        result.run_dir / "explain",
        methods=("gradcam",),
    )
    exported = (
        export(
            result.run_dir,
            out=bundle or SAVED_MODELS / f"{result.run_dir.name}-bundle",
            quantize=quantize,
        )
        if quantize
        else None
    )
    return Outcome(result.run_dir, result.history, evaluation, exported)


def run_and_summarise(
    config: TrainConfig,
    settings: RecipeSettings,
    bundle_suffix: str = "",
    *,
    export: bool = True,
    tta: bool = False,
) -> dict[str, Any]:
    """:func:`run_protocol` with the recipe's settings, then :func:`summarise`."""
    outcome = run_protocol(
        config,
        tta=tta,
        resamples=settings.bootstrap,
        quantize=settings.quantizations if export else (),
        bundle=settings.bundle(bundle_suffix),
    )
    return summarise(outcome)


def summarise(outcome: Outcome) -> dict[str, Any]:
    """Print and return the headline numbers of an outcome."""
    summary = outcome.evaluation.summary
    metrics, intervals = outcome.evaluation.metrics, summary["intervals"]
    headline = {key: {"value": metrics[key], "ci95": intervals.get(key)} for key in HEADLINE}
    for key, value in headline.items():
        interval = f"  (95% CI {interval_text(summary, key)})" if value["ci95"] else ""
        print(f"  {key:<18} {value['value']:.3f}{interval}")
    if bootstrap_text(summary):
        print(f"  {bootstrap_text(summary)}")
    print(f"  epochs run: {len(outcome.history)}; run: {outcome.run_dir}")
    print(f"  report: {outcome.evaluation.out_dir / 'report.html'}")
    if outcome.bundle is not None:
        print(f"  bundle: {outcome.bundle.bundle} (ship {outcome.bundle.recommended})")
    return headline


def write_results(path: Path, results: dict[str, Any]) -> None:
    """Write a recipe's results JSON (atomically)."""
    atomic_write_text(path, json.dumps(results, indent=2, default=str) + "\n")
