"""Two worker processes on localhost (``TF_CONFIG``) train under
``MultiWorkerMirroredStrategy``: to the weights one process reaches with Keras' ``fit``
on the same global batches, with the chief alone writing the run directory, and a job
whose worker was killed resumes from the last finished epoch."""

import csv
import json
import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).with_name("train_script.py")
# A model without dropout and no augmentation: every replica draws the same random
# numbers, so random layers would make two replicas differ from one process.
COMMON = ("--model", "resnet18", "--epochs", "2", "--augment", "none", "--learning-rate", "1e-4")
TIMEOUT = 600


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _workers(
    run_dirs: list[Path], out: Path, extra: Sequence[Sequence[str]] = ()
) -> list[subprocess.Popen]:
    """Start one worker per run directory (worker 0 is the chief), logging to
    ``out/worker<i>.log``; ``extra[i]`` are more arguments for worker ``i``."""
    cluster = [f"localhost:{port}" for port in _free_ports(len(run_dirs))]
    out.mkdir(parents=True, exist_ok=True)
    workers = []
    for index, run_dir in enumerate(run_dirs):
        config = {"cluster": {"worker": cluster}, "task": {"type": "worker", "index": index}}
        env = {
            **os.environ,
            "TF_CONFIG": json.dumps(config),
            "OMP_NUM_THREADS": "1",
            "TF_NUM_INTRAOP_THREADS": "1",
            "TF_NUM_INTEROP_THREADS": "1",
        }
        args = [
            *COMMON,
            "--strategy",
            "multiworker",
            "--save-weights",
            str(out / f"{index}.npz"),
            *(extra[index] if extra else ()),
        ]
        with (out / f"worker{index}.log").open("w") as log:
            command = [sys.executable, str(SCRIPT), str(run_dir), *args]
            workers.append(subprocess.Popen(command, env=env, stdout=log, stderr=log))
    return workers


def _finish(workers: list[subprocess.Popen], out: Path) -> list[str]:
    """Wait for ``workers`` and return their logs; each must succeed. Whatever
    happens, no worker is left running (a worker whose peer died can wait forever)."""
    try:
        for worker in workers:
            worker.wait(timeout=TIMEOUT)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    logs = [(out / f"worker{i}.log").read_text() for i in range(len(workers))]
    for worker, log in zip(workers, logs, strict=True):
        assert worker.returncode == 0, log[-3000:]
    return logs


def _weights(path: Path) -> list[np.ndarray]:
    with np.load(path) as saved:
        return [saved[key] for key in sorted(saved.files, key=lambda k: int(k.split("_")[1]))]


def _history(run: Path) -> list[dict[str, float]]:
    with (run / "history.csv").open(newline="") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished two-worker run; worker 1 was given a run directory of its own."""
    root = tmp_path_factory.mktemp("multiworker")
    _finish(_workers([root / "run", root / "worker1-run"], root / "weights"), root / "weights")
    return root


def test_two_workers_train_as_one_process_and_only_the_chief_writes(
    two_workers: Path, tmp_path: Path
) -> None:
    single = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            str(tmp_path / "single"),
            *COMMON,
            "--save-weights",
            str(tmp_path / "single.npz"),
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert single.returncode == 0, single.stderr[-3000:]
    chief, worker = (_weights(two_workers / "weights" / f"{i}.npz") for i in (0, 1))
    for c, w in zip(chief, worker, strict=True):
        np.testing.assert_array_equal(c, w)  # the replicas stay one model
    # Same global batches, same start: the same trajectory up to float rounding, which
    # Adam amplifies over the steps, so not bit for bit (docs/scaling.md says why).
    together = np.concatenate([c.ravel() for c in chief])
    alone = np.concatenate([r.ravel() for r in _weights(tmp_path / "single.npz")])
    assert np.linalg.norm(together - alone) < 0.02 * np.linalg.norm(alone)
    logged, reference = (_history(run) for run in (two_workers / "run", tmp_path / "single"))
    for key, epoch in (("loss", 0), ("val_loss", 0), ("val_loss", 1)):
        assert logged[epoch][key] == pytest.approx(reference[epoch][key], rel=0.02)

    assert not (two_workers / "worker1-run").exists()  # the other worker wrote nothing
    run = two_workers / "run"
    assert [row["epoch"] for row in logged] == [0, 1]
    assert (run / "checkpoints" / "best.keras").exists()
    assert json.loads((run / "state.json").read_text())["completed"] == [0]


def test_a_killed_worker_resumes_from_the_last_finished_epoch(
    two_workers: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    chief, worker = _workers([run, run], tmp_path / "killed", [(), ("--kill-at", "1,2")])
    try:
        worker.wait(timeout=TIMEOUT)
    finally:
        chief.kill()  # the cluster's scheduler restarts the whole job
        chief.wait()
    assert worker.returncode == -9  # mid second epoch
    assert (run / "backup" / "phase0" / "training_metadata.json").exists()

    outputs = _finish(_workers([run, run], tmp_path / "resumed"), tmp_path / "resumed")
    assert all("epochs 2-2" in output for output in outputs)  # epoch 1 is not redone
    assert [row["epoch"] for row in _history(run)] == [0, 1]
    assert not (run / "backup" / "phase0").exists()
    resumed = _weights(tmp_path / "resumed" / "0.npz")
    uninterrupted = _weights(two_workers / "weights" / "0.npz")
    for r, u in zip(resumed, uninterrupted, strict=True):
        np.testing.assert_allclose(r, u, rtol=1e-4, atol=1e-5)
