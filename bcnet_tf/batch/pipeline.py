"""``predict_batch``: image paths -> Beam ``RunInference`` -> sharded CSV and Parquet.

The pipeline: read paths (a CSV manifest's path column, or a glob) -> spread them over
the workers -> :class:`~bcnet_tf.batch.handler.BundleModelHandler` in
``RunInference`` (decode, preprocess, batched TFLite inference, guard verdict) ->
prediction rows to ``predictions-*.csv`` and ``predictions-*.parquet``, unreadable
inputs with the reason to ``dead_letter-*.csv``, and ``summary.json`` (counts, model
file and its SHA-256) last.

A local ``--output`` folder is built beside its final path and renamed into place when
the job has succeeded, so a failed job (a worker killed, say) leaves no partial
results, and ``--overwrite`` replaces an old folder only with a complete new one. On a
cluster's object store (``gs://``, ``s3://``, ``hdfs://``) Beam's sinks write each
shard atomically and ``summary.json`` is written last: a folder without it is
incomplete.

The default runner is Beam's DirectRunner in multi-processing mode with one worker
process per local core; any other runner takes its own pipeline options (see
``docs/scaling.md``).
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import PredictionResult, RunInference
from apache_beam.options.pipeline_options import PipelineOptions

from bcnet_tf.batch.handler import (
    DEAD_LETTER_COLUMNS,
    BundleModel,
    BundleModelHandler,
    Unreadable,
    csv_line,
)
from bcnet_tf.data.layouts import PATH_COLUMNS
from bcnet_tf.errors import BcnetError
from bcnet_tf.io import atomic_directory, refuse_inside_dataset

DIRECT_RUNNER = "DirectRunner"
DEAD_LETTER = "dead_letter"
SUMMARY = "summary.json"
_WILDCARD = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class BatchResult:
    """What a finished job wrote: the output folder and its ``summary.json``."""

    output: str
    summary: dict[str, Any]

    @property
    def predicted(self) -> int:
        return self.summary["predicted"]

    @property
    def unreadable(self) -> int:
        return self.summary["unreadable"]


def _is_remote(path: str) -> bool:
    return "://" in path


def _manifest_folder(manifest: str) -> str:
    return (
        FileSystems.split(manifest)[0]
        if _is_remote(manifest)
        else os.path.abspath(os.path.dirname(manifest))
    )


def _path_column(manifest: str) -> int:
    """Index of the manifest's path column (the names ``bcnet-tf train`` accepts)."""
    with FileSystems.open(manifest) as handle:
        first = handle.readline().decode("utf-8-sig")
    header = [name.strip().lower() for name in next(csv.reader([first]), [])]
    found = [header.index(name) for name in PATH_COLUMNS if name in header]
    if not found:
        raise BcnetError(
            f"manifest {manifest} has no path column ({'/'.join(PATH_COLUMNS)}) in its first "
            f"row {header}. Fix: name the column of image paths `path`."
        )
    return found[0]


def _manifest_path(line: str, column: int, folder: str) -> str:
    """The image path on one manifest line: absolute as written, else relative to the
    manifest's folder."""
    fields = next(csv.reader([line]))
    raw = fields[column].strip() if column < len(fields) else ""
    if not raw or _is_remote(raw) or os.path.isabs(raw):
        return raw
    return FileSystems.join(folder, raw)


def _metadata_path(metadata: Any) -> str:
    return metadata.path


class ReadPaths(beam.PTransform):
    """Image paths from a CSV manifest (``*.csv``: its path column, relative paths
    resolved against its folder) or a glob (``scans/**/*.dcm``).

    Example:
        >>> pipeline | ReadPaths("screening/manifest.csv")  # doctest: +SKIP
    """

    def __init__(self, inputs: str) -> None:
        super().__init__()
        self.inputs = inputs
        if not _is_remote(inputs) and os.path.isdir(inputs):
            raise BcnetError(
                f"{inputs} is a folder. Fix: pass a glob such as '{inputs}/**/*.png' (quoted) "
                "or a CSV manifest with a path column."
            )
        if not FileSystems.match([inputs], limits=[1])[0].metadata_list:
            raise BcnetError(f"{inputs} matches no file. Fix: check the path or the glob.")

    @property
    def is_manifest(self) -> bool:
        return self.inputs.lower().endswith(".csv") and not _WILDCARD.search(self.inputs)

    @property
    def root(self) -> str:
        """The folder the inputs live under (outputs are never written inside it)."""
        if self.is_manifest:
            return _manifest_folder(self.inputs)
        return os.path.dirname(_WILDCARD.split(self.inputs)[0]) or "."

    def expand(self, pipeline: beam.pvalue.PBegin) -> beam.PCollection[str]:
        if self.is_manifest:
            column, folder = _path_column(self.inputs), _manifest_folder(self.inputs)
            return (
                pipeline
                | "Read manifest" >> beam.io.ReadFromText(self.inputs, skip_header_lines=1)
                | "Skip blank lines" >> beam.Filter(str.strip)
                | "Path column" >> beam.Map(_manifest_path, column, folder)
            )
        return (
            pipeline
            | "Match" >> fileio.MatchFiles(self.inputs)
            | "Paths" >> beam.Map(_metadata_path)
        )


def _route(result: PredictionResult) -> Iterator[Any]:
    if isinstance(result.inference, Unreadable):
        yield beam.pvalue.TaggedOutput(DEAD_LETTER, (result.example, result.inference.reason))
    else:
        yield result.inference


def _row_line(row: dict[str, Any], columns: Sequence[str]) -> str:
    return csv_line(row[column] for column in columns)


def write_predictions(
    results: beam.PCollection[PredictionResult], model: BundleModel, folder: str
) -> None:
    """Write the handler's results under ``folder``: rows as CSV and Parquet shards,
    unreadable inputs as dead-letter CSV shards."""
    rows, dead = results | "Route" >> beam.ParDo(_route).with_outputs(DEAD_LETTER, main="rows")
    prefix = FileSystems.join(folder, "predictions")
    _ = (
        rows
        | "CSV lines" >> beam.Map(_row_line, model.columns)
        | "Write CSV"
        >> beam.io.WriteToText(prefix, file_name_suffix=".csv", header=csv_line(model.columns))
    )
    _ = rows | "Write Parquet" >> beam.io.WriteToParquet(
        prefix, model.parquet_schema(), file_name_suffix=".parquet"
    )
    _ = (
        dead
        | "Dead-letter lines" >> beam.Map(csv_line)
        | "Write dead letter"
        >> beam.io.WriteToText(
            FileSystems.join(folder, DEAD_LETTER),
            file_name_suffix=".csv",
            header=csv_line(DEAD_LETTER_COLUMNS),
        )
    )


def pipeline_options(
    runner: str = DIRECT_RUNNER, workers: int | None = None, beam_options: Sequence[str] = ()
) -> PipelineOptions:
    """Beam options: on the DirectRunner, multi-processing with ``workers`` processes
    (default: one per core); ``beam_options`` (``--project=...``) are passed as given
    and win over these defaults.

    Example:
        >>> options = pipeline_options(workers=2)
        >>> options.get_all_options()["direct_num_workers"]
        2
    """
    flags = [f"--runner={runner}"]
    if runner == DIRECT_RUNNER:
        flags += [
            "--direct_running_mode=multi_processing",
            f"--direct_num_workers={workers or os.cpu_count() or 1}",
            "--default_sdk_harness_log_level=WARNING",
        ]
    return PipelineOptions([*flags, *beam_options])


@contextmanager
def _output_folder(output: str, overwrite: bool, inputs_root: str) -> Iterator[str]:
    """The folder the job writes into: for a local ``output``, a temporary sibling
    renamed into place on success; on an object store, ``output`` itself."""
    refusal = (
        f"{output} already exists. Fix: pass --overwrite to replace it (the old results "
        "stay until the new ones are complete), or choose another --output."
    )
    if not _is_remote(output):
        refuse_inside_dataset(output, inputs_root, flag="--output")
        if Path(output).exists() and not overwrite:
            raise BcnetError(refusal)
        with atomic_directory(output) as folder:
            yield str(folder)
        return
    pattern = FileSystems.join(output, "*")
    existing = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
    if existing and not overwrite:
        raise BcnetError(refusal)
    if existing:
        FileSystems.delete(existing)
    yield output


def _counters(result: beam.runners.runner.PipelineResult) -> dict[str, int]:
    query = result.metrics().query(MetricsFilter().with_namespace("bcnet_tf"))
    return {counter.key.metric.name: int(counter.committed) for counter in query["counters"]}


def predict_batch(
    bundle: str | os.PathLike[str],
    inputs: str,
    output: str,
    *,
    artifact: str | None = None,
    runner: str = DIRECT_RUNNER,
    workers: int | None = None,
    threads: int | None = None,
    guard: bool = True,
    batch_size: int = 32,
    overwrite: bool = False,
    beam_options: Sequence[str] = (),
) -> BatchResult:
    """Classify every image of ``inputs`` with a bundle's TFLite model on Apache Beam.

    Args:
        bundle: a folder written by ``bcnet-tf export`` (on a cluster: a path every
            worker reads, e.g. baked into the worker image or a mounted volume).
        inputs: a CSV manifest with a path column, or a glob.
        output: results folder (local or ``gs://...``); refused if it exists, unless
            ``overwrite``.
        artifact: the ``.tflite`` file to run; default: the bundle's recommended one.
        runner: a Beam runner (``DirectRunner``, ``DataflowRunner``, ``FlinkRunner``,
            ``SparkRunner``, ``PortableRunner``).
        workers: DirectRunner worker processes; default: one per local core.
        threads: interpreter threads per worker; default: the local cores shared by the
            DirectRunner's workers, else 1.
        guard: run the bundle's input guard.
        batch_size: images per model call.
        beam_options: further pipeline options, e.g. ``["--project=p", "--region=r"]``.

    Example:
        >>> result = predict_batch("bundle", "scans/*.png", "out")  # doctest: +SKIP
        >>> result.predicted, result.unreadable                      # doctest: +SKIP
        (780, 0)
    """
    model = BundleModel.open(bundle, artifact)
    read = ReadPaths(inputs)
    options = pipeline_options(runner, workers, beam_options)
    processes = options.get_all_options()["direct_num_workers"] or 1
    if threads is None:
        threads = max(1, (os.cpu_count() or 1) // processes) if runner == DIRECT_RUNNER else 1
    handler = BundleModelHandler(model, threads=threads, guard=guard, batch_size=batch_size)
    with _output_folder(output, overwrite, read.root) as folder:
        pipeline = beam.Pipeline(options=options)
        results = pipeline | "Read paths" >> read | "Spread" >> beam.Reshuffle()
        write_predictions(results | "Predict" >> RunInference(handler), model, folder)
        try:
            finished = pipeline.run()
            finished.wait_until_finish()
        except Exception as error:  # the job's failure, in one line
            first = (str(error).strip().splitlines() or [type(error).__name__])[-1]
            raise BcnetError(
                f"the Beam job failed ({first}); {output} was not changed. Fix: read the "
                "workers' messages above, then run the same command again."
            ) from error
        counts = _counters(finished)
        summary = {
            "bundle": os.fspath(bundle),
            "artifact": model.artifact,
            "model_sha256": model.sha256,
            "class_names": list(model.class_names),
            "inputs": inputs,
            "runner": runner,
            "predicted": counts.get("predicted", 0),
            "unreadable": counts.get("unreadable", 0),
            "guard": guard,
        }
        with FileSystems.create(FileSystems.join(folder, SUMMARY)) as handle:
            handle.write((json.dumps(summary, indent=2) + "\n").encode("utf-8"))
    return BatchResult(output, summary)


__all__ = ["BatchResult", "ReadPaths", "pipeline_options", "predict_batch", "write_predictions"]
