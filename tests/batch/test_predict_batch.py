"""`bcnet-tf predict-batch` on Beam's DirectRunner with two worker processes: the
evaluation's probabilities and the edge predictor's guard verdicts, unreadable files in
the dead letter, nothing lost or duplicated, an existing output refused, and a worker
killed mid-run leaving the previous results intact until a re-run completes."""

from __future__ import annotations

import csv
import glob
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bcnet_tf.cli import main
from tests.conftest import REPOSITORY, tree_digest, write_bad

pytest.importorskip("apache_beam")
parquet = pytest.importorskip("pyarrow.parquet")

FLOAT32 = "model_float32.tflite"
BAD = ("empty", "text", "truncated")


@pytest.fixture(scope="module", autouse=True)
def _workers_import_this_checkout() -> Iterator[None]:
    """Beam's worker processes import bcnet_tf by name: from this checkout."""
    with pytest.MonkeyPatch.context() as patch:
        paths = [str(REPOSITORY), *filter(None, [os.environ.get("PYTHONPATH")])]
        patch.setenv("PYTHONPATH", os.pathsep.join(paths))
        yield


def _manifest(folder: Path, images: list[Path], extra: list[str]) -> Path:
    """A manifest listing ``images`` (absolute) and ``extra`` (relative to it)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["path,note", *(f"{p},image" for p in images), *(f"{p},other" for p in extra)]
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n")
    return folder / "manifest.csv"


@pytest.fixture(scope="module")
def inputs(lesion_model: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory):
    """``(manifest, every listed path)``: the 240 lesion images and three bad files."""
    _, data = lesion_model
    folder = tmp_path_factory.mktemp("inputs")
    for kind in BAD:
        write_bad(folder / "bad" / f"{kind}.png", kind)
    images = sorted(p.resolve() for p in data.rglob("*.png"))
    manifest = _manifest(folder, images, [f"bad/{kind}.png" for kind in BAD])
    listed = [str(p) for p in images] + [str(folder / "bad" / f"{k}.png") for k in BAD]
    return manifest, listed


def _command(bundle: Path, manifest: Path, out: Path, *extra: str) -> list[str]:
    return [
        "predict-batch",
        str(bundle),
        "--input",
        str(manifest),
        "--output",
        str(out),
        "--workers",
        "2",
        "--artifact",
        FLOAT32,
        *extra,
    ]


@pytest.fixture(scope="module")
def results(bundle: Path, inputs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("batch") / "out"
    assert main(_command(bundle, inputs[0], out)) == 0
    return out


def _csv(pattern: str) -> list[dict[str, str]]:
    rows = []
    for name in sorted(glob.glob(pattern)):
        with open(name, newline="") as handle:
            rows += list(csv.DictReader(handle))
    return rows


def _listed_once(out: Path, listed: list[str]) -> list[dict[str, str]]:
    """The prediction rows, after checking that rows and dead letters together hold
    every listed path exactly once."""
    rows = _csv(f"{out}/predictions-*.csv")
    dead = _csv(f"{out}/dead_letter-*.csv")
    assert Counter(r["path"] for r in rows + dead) == Counter(listed)
    return rows


def test_two_workers_give_the_evaluations_probabilities(
    results: Path, inputs, lesion_model: tuple[Path, Path], tmp_path: Path
) -> None:
    from bcnet_tf.evaluation import evaluate

    model, data = lesion_model
    evaluation = evaluate(model, data=str(data), resamples=0, out=str(tmp_path / "eval"))
    expected = {
        str(Path(r.path).resolve()): p
        for r, p in zip(evaluation.records, evaluation.probabilities, strict=True)
    }
    rows = {row["path"]: row for row in _listed_once(results, inputs[1])}
    assert rows.keys() == expected.keys()
    names = evaluation.class_names
    batch = np.array([[float(rows[p][f"p_{n}"]) for n in names] for p in expected])
    assert np.abs(batch - np.array(list(expected.values()))).max() <= 1e-5
    assert all(rows[p]["predicted"] == names[int(np.argmax(q))] for p, q in expected.items())


def test_every_row_carries_the_predictors_guard_verdict_and_the_model_hash(
    results: Path, inputs, bundle: Path
) -> None:
    from bcnet_tf.edge import Predictor

    rows = _listed_once(results, inputs[1])
    edge = {
        p.path: p for p in Predictor(bundle, artifact=FLOAT32).predict([r["path"] for r in rows])
    }
    for row in rows:
        verdict = edge[row["path"]].guard
        assert row["in_distribution"] == str(verdict.in_distribution)
        assert float(row["guard_score"]) == pytest.approx(verdict.score, rel=1e-6)
        assert float(row["guard_threshold"]) == verdict.threshold
    digest = hashlib.sha256((bundle / FLOAT32).read_bytes()).hexdigest()
    assert {r["model_sha256"] for r in rows} == {digest}
    summary = json.loads((results / "summary.json").read_text())
    assert (summary["predicted"], summary["unreadable"], summary["model_sha256"]) == (
        240,
        3,
        digest,
    )


def test_parquet_holds_the_csv_rows(results: Path) -> None:
    table = [
        row
        for name in sorted(results.glob("predictions-*.parquet"))
        for row in parquet.read_table(name).to_pylist()
    ]
    by_path = {row["path"]: row for row in _csv(f"{results}/predictions-*.csv")}
    assert len(table) == len(by_path) == 240
    for row in table:
        assert row["p_lesion"] == float(by_path[row["path"]]["p_lesion"])
        assert str(row["in_distribution"]) == by_path[row["path"]]["in_distribution"]
        assert row["predicted"] == by_path[row["path"]]["predicted"]


def test_unreadable_files_are_dead_letters_with_the_reason(results: Path, inputs) -> None:
    dead = {Path(r["path"]).name: r["reason"] for r in _csv(f"{results}/dead_letter-*.csv")}
    assert sorted(dead) == sorted(f"{kind}.png" for kind in BAD)
    for name, reason in dead.items():
        assert reason.startswith(f"cannot read image {Path(inputs[0]).parent}/bad/{name}")


def test_an_existing_output_is_refused_without_overwrite(
    results: Path, bundle: Path, inputs, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree_digest(results)
    assert main(_command(bundle, inputs[0], results)) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "--overwrite" in error
    assert tree_digest(results) == before


def _worker_reading(fifo: Path) -> int | None:
    """The Beam worker process that has ``fifo`` open, if any."""
    for fd in glob.glob("/proc/[0-9]*/fd/*"):
        pid = fd.split("/")[2]
        try:
            if (
                os.readlink(fd) == str(fifo)
                and b"sdk_worker_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
            ):
                return int(pid)
        except OSError:
            continue
    return None


def _open_when_read(fifo: Path, job: subprocess.Popen, timeout: float = 120) -> int:
    """Open ``fifo`` for writing as soon as a worker opens it for reading."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and job.poll() is None:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # no reader yet
            time.sleep(0.05)
    job.kill()
    pytest.fail(f"no worker opened the input {fifo}: {job.communicate()[1][-2000:]}")


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")
def test_a_killed_worker_leaves_the_old_results_and_a_rerun_is_complete(
    results: Path, bundle: Path, lesion_model: tuple[Path, Path], tmp_path: Path
) -> None:
    """A worker is killed while it is stuck reading one input (a named pipe), so the
    job is certainly mid-run. The DirectRunner does not retry a lost worker's bundle:
    the job fails, and the previous output must stay complete and untouched; the same
    command again gives every input exactly once."""
    out = tmp_path / "out"
    shutil.copytree(results, out)
    before = tree_digest(out)
    images = sorted(p.resolve() for p in lesion_model[1].rglob("*.png"))[::3]
    fifo = tmp_path / "inputs" / "stuck.png"
    manifest = _manifest(fifo.parent, images, [fifo.name])
    os.mkfifo(fifo)
    command = [sys.executable, "-m", "bcnet_tf.cli", *_command(bundle, manifest, out)]
    job = subprocess.Popen([*command, "--overwrite"], stderr=subprocess.PIPE, text=True)
    writer = _open_when_read(fifo, job)
    while (worker := _worker_reading(fifo)) is None:
        time.sleep(0.02)
    os.kill(worker, signal.SIGKILL)
    os.close(writer)
    _, stderr = job.communicate(timeout=120)

    assert job.returncode == 2
    assert stderr.strip().splitlines()[-1].startswith("bcnet-tf predict-batch: error: the Beam")
    assert tree_digest(out) == before
    assert not list(tmp_path.glob(".out.*"))  # no half-written folder left beside it

    fifo.unlink()
    write_bad(fifo, "text")
    assert main([*command[3:], "--overwrite"]) == 0
    rows = _listed_once(out, [str(p) for p in images] + [str(fifo)])
    assert len(rows) == len(images)
