"""``bcnet-tf``: the command line, a thin layer over the library.

Commands:
    inspect DIR      what a dataset folder holds and what is wrong with it
    split DIR        write a leak-free train/val/test split as JSON
    models           the model zoo: parameters, input size, preprocessing, weights
    train            train a model in a resumable run directory
    cv               k-fold cross-validation: a run per fold, one pooled report
    evaluate SOURCE  metrics with CIs, figures and an HTML report for a run or model
    explain MODEL    Grad-CAM / occlusion overlays for image files, heat maps over slides
    export SOURCE    verified bundle: .keras, SavedModel, TFLite (float/int8), model card
    benchmark BUNDLE time a bundle's TFLite files here; record the fastest verified one
    predict BUNDLE   classify image files (TFLite bundle without TensorFlow, or .keras)
    predict-batch BUNDLE  the same on Apache Beam: a manifest or glob -> CSV, Parquet
    app BUNDLE       web demo: upload an image, see probabilities and Grad-CAM

Every command takes ``--help`` (each flag with its description, allowed values and
default) and ``--verbose`` (TensorFlow's start-up log, hidden otherwise). Bad input,
a missing optional install or an OS error (disk full, permission denied) ends in one
line naming the file and the fix, with exit status 2 (input) or 1 (OS).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from bcnet_tf import __version__
from bcnet_tf.console import ArgumentParser, add_verbose_flag, quiet_tensorflow, run_program
from bcnet_tf.edge.benchmark import BenchmarkSettings, ExportBenchmark
from bcnet_tf.errors import BcnetError
from bcnet_tf.settings import Choices, add_setting_argument, add_settings_arguments
from bcnet_tf.training.config import TrainConfig


def _synthetic_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--synthetic",
        action="store_true",
        help="use the embedded synthetic IDC-grade dataset (drawn into the cache once)",
    )


def _dataset_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", nargs="?", help="dataset folder or CSV manifest")
    _synthetic_flag(parser)
    for name in ("layout", "label_by", "magnification"):
        add_setting_argument(parser, TrainConfig, name, keep_default=True)


def _discover(args: argparse.Namespace):
    from bcnet_tf.data.layouts import discover
    from bcnet_tf.data.synthetic import synthetic_dataset

    if args.synthetic == bool(args.data):
        raise BcnetError("give a dataset folder or --synthetic (one of the two).")
    data = synthetic_dataset() if args.synthetic else args.data
    return discover(data, args.layout, label_by=args.label_by, magnification=args.magnification)


def _inspect(args: argparse.Namespace) -> int:
    from bcnet_tf.data.inspection import inspect_dataset
    from bcnet_tf.io import atomic_write_json, refuse_inside_dataset

    index = _discover(args)
    report = inspect_dataset(index, check_duplicates=not args.no_duplicates)
    print(report.format(max_listed=args.max_listed))
    if args.json:
        refuse_inside_dataset(args.json, index.root, flag="--json")
        atomic_write_json(args.json, report.to_dict())
        print(f"report written to {args.json}")
    return 0


def _split(args: argparse.Namespace) -> int:
    from bcnet_tf.data.splits import kfold_splits, split_dataset
    from bcnet_tf.io import refuse_inside_dataset

    index = _discover(args)
    out = Path(args.out)
    refuse_inside_dataset(out, index.root)
    if args.k:
        for fold, split in enumerate(
            kfold_splits(index, args.k, seed=args.seed, group_by=args.group_by)
        ):
            path = split.save(out / f"fold{fold}.json", index.root)
            print(f"fold {fold}: train {len(split.train)}, test {len(split.test)} -> {path}")
        return 0
    split = split_dataset(
        index, val=args.val, test=args.test, seed=args.seed, group_by=args.group_by
    )
    path = split.save(out, index.root)
    sizes = {part: len(records) for part, records in split.parts.items()}
    print(f"{split.group_by}-grouped split {json.dumps(sizes)} -> {path}")
    return 0


def _models(args: argparse.Namespace) -> int:
    from bcnet_tf.models import backbone_parameters, build_model, get_spec, list_models
    from bcnet_tf.models.weights import IMAGENET_SOURCES

    rows = [
        ("model", "parameters", "backbone", "input", "preprocessing", "ImageNet weights", "study")
    ]
    for name in list_models():
        spec = get_spec(name)
        model = build_model(name, args.num_classes)
        source = IMAGENET_SOURCES.get(spec.imagenet or "")
        weights = (
            "none (from scratch)"
            if source is None
            else ("download" if source.url else "local file only")
        )
        rows.append(
            (
                name,
                f"{model.count_params():,}",
                f"{backbone_parameters(model):,}",
                f"{spec.default_size}px",
                spec.preprocessing,
                weights,
                spec.study,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
            + "  "
            + row[-1]
        )
    print(f"(parameters with a {args.num_classes}-class head; `build_model(name, num_classes)`)")
    return 0


def _train(args: argparse.Namespace) -> int:
    from bcnet_tf.training import train

    config = _train_config(args)
    result = train(config)
    if config.find_lr:
        print(
            f"peak learning rate {result.learning_rate:.3g}, found by the range test "
            f"({result.run_dir / 'lr_find.png'})"
        )
    last = result.history[-1] if result.history else {}
    summary = ", ".join(f"{k} {v:.4f}" for k, v in last.items() if k.startswith("val_"))
    print(f"run {result.run_dir}: {len(result.history)} epochs, {summary}")
    if result.stopped:
        print(f"stopped: {result.stopped}")
    print(f"best model: {result.best}")
    return 0


def _train_config(args: argparse.Namespace) -> TrainConfig:
    from bcnet_tf.settings import settings_from_arguments

    config = settings_from_arguments(TrainConfig, args)
    if args.synthetic == (config.data is not None):
        raise BcnetError(
            "give --data DIR (a dataset folder or CSV manifest) or --synthetic (the "
            "embedded synthetic dataset), one of the two."
        )
    return config


def _cv(args: argparse.Namespace) -> int:
    from bcnet_tf.evaluation.bootstrap import interval_text
    from bcnet_tf.evaluation.cross_validation import cross_validation_report
    from bcnet_tf.training.cross_validation import cross_validate

    cv = cross_validate(_train_config(args), k=args.k, repeats=args.repeats)
    report = cross_validation_report(cv.path, tta=args.tta, resamples=args.bootstrap)
    summary = report.summary
    print(f"protocol: {summary['protocol']}")
    print(f"{'metric':<20} {'mean ± sd over folds':>21}  {'pooled':>7}  95 % CI")
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "roc_auc_macro"):
        folds = summary["folds"][key]
        print(
            f"{key:<20} {folds['mean']:>12.4f} ± {folds['sd']:.4f}  "
            f"{summary['metrics'][key]:>7.4f}  {interval_text(summary, key)}"
        )
    print(f"report: {report.out_dir / 'report.html'}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from bcnet_tf.evaluation import evaluate
    from bcnet_tf.evaluation.bootstrap import bootstrap_text, interval_text

    result = evaluate(
        args.source,
        data=args.data,
        split=args.split,
        tta=args.tta,
        temperature=args.temperature,
        resamples=args.bootstrap,
        out=args.out,
        trust=args.trust,
    )
    metrics = result.metrics
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "gmean", "iba", "roc_auc_macro"):
        interval = interval_text(result.summary, key, digits=4)
        print(f"{key:<20} {metrics[key]:.4f}" + (f"  95% CI {interval}" if interval else ""))
    if intervals := bootstrap_text(result.summary):
        print(intervals)
    for key in ("patient_accuracy", "patient_recognition_rate"):
        if key in metrics:
            print(f"{key:<20} {metrics[key]:.4f}")
    print(f"expected calibration error {result.summary['calibration']['before']['ece']:.4f}")
    print(f"report: {result.out_dir / 'report.html'}")
    return 0


def _explain(args: argparse.Namespace) -> int:
    from bcnet_tf.explain import explain

    for path in explain(
        args.model,
        args.images,
        args.out,
        methods=tuple(args.method) if args.method else None,
        class_name=args.class_name,
        layer=args.layer,
        trust=args.trust,
    ):
        print(path)
    return 0


def _export(args: argparse.Namespace) -> int:
    from bcnet_tf.export import export

    result = export(
        args.source,
        out=args.out,
        data=args.data,
        formats=tuple(args.formats.split(",")),
        quantize=tuple(args.quantize.split(",")),
        int8_io=args.int8_io,
        calibration=args.calibration,
        equalize=not args.no_equalize,
        bias_correction=not args.no_bias_correction,
        guard=not args.no_guard,
        guard_acceptance=args.guard_acceptance,
        trust=args.trust,
        target_benchmark=args.target_benchmark,
        benchmark=_benchmark_settings(args),
    )
    print(f"{'artifact':<22} {'MB':>8}  {'max|diff|':>9}  {'agree':>6}  {'acc.change':>10}  check")
    for name, artifact in result.spec["artifacts"].items():
        check = artifact["verification"]
        print(
            f"{name:<22} {artifact['bytes'] / 1e6:8.2f}  {check['max_abs_diff']:9.2g}  "
            f"{check['top1_agreement']:6.1%}  {check['accuracy_change']:+10.3f}  "
            f"{'pass' if check['passed'] else 'FAIL'} ({check['criterion']})"
        )
    guard = result.spec.get("guard")
    if guard is None:
        print("input guard: none (--no-guard, or the model has no head_pool layer)")
    else:
        accepted = guard["accepted"].get(result.recommended, {})
        rates = ", ".join(f"{group} {rate:.1%}" for group, rate in accepted.items())
        print(f"input guard of {result.recommended}: accepts {rates}")
    timing = result.spec.get("benchmark")
    if timing is not None:
        _print_timing(timing)
    print(f"recommended: {result.recommended}\nbundle: {result.bundle}")
    return 0


def _benchmark_settings(args: argparse.Namespace):
    from bcnet_tf.edge.benchmark import BenchmarkSettings

    return BenchmarkSettings(args.threads, args.repeats, args.rounds)


def _print_timing(timing: dict) -> None:
    print(
        f"timed on {timing['machine']}: batch 1, {timing['threads']} threads, median of "
        f"{timing['rounds']} rounds x {timing['repeats']} calls, files in turns"
    )
    for name, ms in timing["ms"].items():
        mark = "  <- fastest verified" if name == timing["fastest_verified"] else ""
        print(f"{name:<24} {ms:8.2f} ms{mark}")


def _benchmark(args: argparse.Namespace) -> int:
    from bcnet_tf.edge.benchmark import benchmark_bundle

    timing = benchmark_bundle(args.bundle, _benchmark_settings(args), write=args.write)
    _print_timing(timing)
    if args.write:
        print(f"recorded in {args.bundle}: recommended {timing['fastest_verified']}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from bcnet_tf.edge.guard import Verdict
    from bcnet_tf.edge.predictor import Predictor, rank_classes

    if args.source.endswith(".keras"):  # the Keras model itself: needs TensorFlow
        from bcnet_tf.data.mammo import preprocess_of
        from bcnet_tf.data.pipeline import load_files
        from bcnet_tf.evaluation.predict import predict_pixels
        from bcnet_tf.models.saving import load_model
        from bcnet_tf.pathology.settings import from_model_extra

        model, info = load_model(args.source, trust=args.trust)
        stain, _ = from_model_extra(info.extra)
        pixels = load_files(args.images, info.image_size, stain, preprocess_of(info.extra))
        probabilities = predict_pixels(model, pixels, args.tta)
        unguarded = Verdict(None, reason="a .keras file carries no guard: predict with its bundle")
        verdicts = [unguarded] * len(args.images)
        results = rank_classes(
            args.images, probabilities, list(info.class_names), args.top_k, verdicts
        )
    else:
        predictor = Predictor(args.source, artifact=args.artifact, guard=not args.no_guard)
        results = predictor.predict(args.images, top_k=args.top_k, tta=args.tta)
    if args.json:
        print(json.dumps([r.to_json() for r in results], indent=2))
        return 0
    for result in results:
        if result.in_distribution is False:  # no class: the image is unlike the training data
            print(f"{result.path}  {result.guard.message}")
            continue
        ranked = "  ".join(f"{label} {p:.3f}" for label, p in result.top)
        print(f"{result.path}  {ranked}  [{result.guard.message}]")
    return 0


def _predict_batch(args: argparse.Namespace) -> int:
    from bcnet_tf.batch import predict_batch

    result = predict_batch(
        args.bundle,
        args.input,
        args.output,
        artifact=args.artifact,
        runner=args.runner,
        workers=args.workers,
        threads=args.threads,
        guard=not args.no_guard,
        batch_size=args.batch_size,
        overwrite=args.overwrite,
        beam_options=args.beam_options,
    )
    summary = result.summary
    print(f"predicted {result.predicted} image(s) with {summary['artifact']}")
    print(f"unreadable {result.unreadable} (see dead_letter-*.csv)")
    print(f"model sha256 {summary['model_sha256']}\noutput: {result.output}")
    return 0


def _app(args: argparse.Namespace) -> int:
    from bcnet_tf.app import build_app

    build_app(args.bundle).launch(server_name=args.host, server_port=args.port)
    return 0


_TRUST_HELP = "allow Python code (Lambda layers) in the model file: only for files you trust"


def build_parser() -> argparse.ArgumentParser:
    """The ``bcnet-tf`` argument parser. Help text is %-formatted by argparse: a literal
    percent sign is written ``%%``."""
    parser = ArgumentParser(
        prog="bcnet-tf", description="Breast-cancer image classifiers with Keras/TensorFlow."
    )
    parser.add_argument("--version", action="version", version=f"bcnet_tf {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    add_verbose_flag(common)

    def command(name: str, **options: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, parents=[common], **options)

    inspect = command("inspect", help="summarise a dataset and list its problems")
    _dataset_arguments(inspect)
    inspect.add_argument("--no-duplicates", action="store_true", help="skip duplicate search")
    inspect.add_argument("--max-listed", type=int, default=5, help="files listed per reason")
    inspect.add_argument("--json", help="also write the report as JSON to this file")
    inspect.set_defaults(run=_inspect)

    split = command("split", help="write a grouped, stratified split as JSON")
    _dataset_arguments(split)
    split.add_argument("--out", required=True, help="split JSON file (a folder with --k)")
    for name in ("val", "test", "group_by"):
        add_setting_argument(split, TrainConfig, name, keep_default=True)
    split.add_argument("--k", type=int, default=0, help="write k cross-validation folds")
    split.add_argument("--seed", type=int, default=0, help="seed of the split [default: 0]")
    split.set_defaults(run=_split)

    models = command("models", help="list the model zoo")
    models.add_argument("--num-classes", type=int, default=3, help="head size for the counts")
    models.set_defaults(run=_models)

    training = command(
        "train",
        help="train a model (re-run the same command to resume)",
        description="Train a model on --data DIR or --synthetic; every TrainConfig field "
        "is a flag. Re-running the same command on the same --run-dir resumes it.",
    )
    _synthetic_flag(training)
    add_settings_arguments(training, TrainConfig)
    training.set_defaults(run=_train)

    crossval = command(
        "cv",
        help="k-fold cross-validation: a run per fold, one pooled report",
        description="Train one run per grouped, stratified fold (--group-by; image is a "
        "leaking protocol, labelled so), then report per-fold metrics, mean ± sd and the "
        "pooled out-of-fold evaluation. --run-dir is the cross-validation folder; "
        "re-running the same command resumes every fold.",
    )
    _synthetic_flag(crossval)
    crossval.add_argument("--k", type=int, default=5, help="folds [default: 5]")
    crossval.add_argument(
        "--repeats", type=int, default=1, help="repeats with new fold seeds [default: 1]"
    )
    crossval.add_argument("--tta", action="store_true", help="test-time augmentation")
    crossval.add_argument("--bootstrap", type=int, default=1000, help="resamples (0: off)")
    add_settings_arguments(crossval, TrainConfig)
    crossval.set_defaults(run=_cv)

    evaluation = command("evaluate", help="metrics with 95%% CIs, figures and an HTML report")
    evaluation.add_argument("source", help="run directory, or a .keras file with --data")
    evaluation.add_argument("--data", help="dataset folder (required for a .keras file)")
    evaluation.add_argument(
        "--split",
        default="test",
        choices=Choices("bcnet_tf.data.splits", "PARTS"),
        metavar="PART",
        help="part of the run's split to evaluate; one of %(choices)s [default: test]",
    )
    evaluation.add_argument("--tta", action="store_true", help="test-time augmentation")
    evaluation.add_argument(
        "--temperature", action="store_true", help="fit temperature scaling on validation"
    )
    evaluation.add_argument("--bootstrap", type=int, default=1000, help="resamples (0: off)")
    evaluation.add_argument("--out", help="output folder [default: <run>/evaluation-<split>]")
    evaluation.add_argument("--trust", action="store_true", help=_TRUST_HELP)
    evaluation.set_defaults(run=_evaluate)

    explaining = command(
        "explain", help="Grad-CAM / occlusion overlays; heat maps over whole slides"
    )
    explaining.add_argument("model", help="a bcnet_tf .keras file")
    explaining.add_argument(
        "images", nargs="+", help="image files (slides, for a whole-slide model)"
    )
    explaining.add_argument("--out", required=True, help="output folder")
    explaining.add_argument(
        "--method",
        action="append",
        choices=Choices("bcnet_tf.explain.explain", "METHODS"),
        metavar="METHOD",
        help="explanation method, repeatable; one of %(choices)s [default: all]",
    )
    explaining.add_argument("--class", dest="class_name", help="class to explain")
    explaining.add_argument("--layer", help="Grad-CAM feature layer [default: automatic]")
    explaining.add_argument("--trust", action="store_true", help=_TRUST_HELP)
    explaining.set_defaults(run=_explain)

    exporting = command("export", help="verified deployment bundle")
    exporting.add_argument("source", help="run directory, or a .keras file with --data")
    exporting.add_argument("--data", help="dataset folder (required for a .keras file)")
    exporting.add_argument("--out", help="bundle folder [default: saved_models/<name>-bundle]")
    exporting.add_argument(
        "--formats",
        default="keras,savedmodel,tflite",
        help="comma-separated formats to write [default: %(default)s]",
    )
    exporting.add_argument(
        "--quantize",
        default="none,float16,dynamic,int8",
        help="comma-separated TFLite quantizations [default: %(default)s]",
    )
    exporting.add_argument("--int8-io", action="store_true", help="uint8 input/output for int8")
    exporting.add_argument("--calibration", type=int, default=200, help="int8 calibration images")
    exporting.add_argument(
        "--no-equalize",
        action="store_true",
        help="convert int8 from the model as is, without equalising its ReLU channels first",
    )
    exporting.add_argument(
        "--no-bias-correction",
        action="store_true",
        help="convert int8 without first moving each channel's mean int8 error into its bias",
    )
    exporting.add_argument(
        "--no-guard", action="store_true", help="write no input guard (out-of-distribution check)"
    )
    exporting.add_argument(
        "--guard-acceptance",
        type=float,
        default=0.975,
        help="share of held-out in-distribution images the guard accepts [default: %(default)s]",
    )
    exporting.add_argument("--trust", action="store_true", help=_TRUST_HELP)
    add_setting_argument(exporting, ExportBenchmark, "target_benchmark", keep_default=True)
    for name in ("threads", "repeats", "rounds"):
        add_setting_argument(exporting, BenchmarkSettings, name, keep_default=True)
    exporting.set_defaults(run=_export)

    timing = command(
        "benchmark",
        help="time a bundle's TFLite files here; optionally record the fastest verified one",
        description="Time every TFLite file of a bundle on this machine (batch 1, files in "
        "turns) without TensorFlow; with --write, record the timing and the fastest file "
        "that passed its verification as the bundle's recommended file.",
    )
    timing.add_argument("bundle", help="an exported bundle folder")
    for name in ("threads", "repeats", "rounds"):
        add_setting_argument(timing, BenchmarkSettings, name, keep_default=True)
    timing.add_argument(
        "--write",
        action="store_true",
        help="record the timing and recommendation in spec.json, the model card, SHA256SUMS",
    )
    timing.set_defaults(run=_benchmark)

    predicting = command("predict", help="classify image files")
    predicting.add_argument("source", help="an exported bundle folder, or a .keras file")
    predicting.add_argument("images", nargs="+", help="image files")
    predicting.add_argument(
        "--top-k", type=int, default=3, help="classes listed per image [default: 3]"
    )
    predicting.add_argument("--tta", action="store_true", help="average flips and rotations")
    predicting.add_argument("--artifact", help="bundle file to run [default: the recommended one]")
    predicting.add_argument("--json", action="store_true", help="print JSON")
    predicting.add_argument(
        "--no-guard",
        action="store_true",
        help="skip the bundle's input guard and show classes for every image (research use)",
    )
    predicting.add_argument("--trust", action="store_true", help=_TRUST_HELP)
    predicting.set_defaults(run=_predict)

    batch = command(
        "predict-batch",
        help="classify many images on Apache Beam (needs bcnet_tf[batch])",
        description="Run a bundle's TFLite model over a CSV manifest or a glob with Beam's "
        "RunInference; write predictions-*.csv/.parquet, dead_letter-*.csv and summary.json. "
        "Pipeline options for other runners go after `--`, e.g. `-- --project=p`.",
    )
    batch.add_argument("bundle", help="an exported bundle folder")
    batch.add_argument("--input", required=True, help="CSV manifest (path column) or a glob")
    batch.add_argument("--output", required=True, help="results folder (local or gs://...)")
    batch.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    batch.add_argument("--artifact", help="TFLite file to run [default: the recommended one]")
    batch.add_argument(
        "--runner",
        default="DirectRunner",
        help="Beam runner, e.g. DataflowRunner, FlinkRunner, SparkRunner [default: %(default)s]",
    )
    batch.add_argument(
        "--workers", type=int, help="DirectRunner worker processes [default: one per core]"
    )
    batch.add_argument(
        "--threads",
        type=int,
        help="interpreter threads per worker [default: cores / workers locally, else 1]",
    )
    batch.add_argument("--batch-size", type=int, default=32, help="images per model call")
    batch.add_argument(
        "--no-guard", action="store_true", help="skip the input guard (research use)"
    )
    batch.add_argument(
        "beam_options", nargs="*", metavar="-- BEAM_OPTION", help="further Beam pipeline options"
    )
    batch.set_defaults(run=_predict_batch)

    app = command("app", help="web demo for a bundle (needs bcnet_tf[app])")
    app.add_argument("bundle", help="an exported bundle folder")
    app.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to serve the network")
    app.add_argument("--port", type=int, default=7860, help="port to serve [default: 7860]")
    app.set_defaults(run=_app)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``bcnet-tf``; returns the exit status.

    Example:
        >>> main(["inspect", "path/to/busi", "--json", "report.json"])  # doctest: +SKIP
        0
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    quiet_tensorflow(argv)
    parser = build_parser()
    program = f"bcnet-tf {argv[0]}" if argv and not argv[0].startswith("-") else "bcnet-tf"
    # Parsing is inside too: checking some flags' choices imports their module.
    return run_program(program, lambda: _run(parser, argv))


def _run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
