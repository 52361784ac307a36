"""A run killed with SIGKILL resumes with the same command, and with determinism on
ends with exactly the weights of an uninterrupted run; tf.distribute runs train."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("train_script.py")


def _run(run_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(run_dir), *extra],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def _weights(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("WEIGHTS"))
    return line.split()[1]


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted_run(tmp_path: Path) -> None:
    uninterrupted = _weights(_run(tmp_path / "clean"))

    killed = _run(tmp_path / "crashed", "--kill-at", "1,2")  # mid second epoch
    assert killed.returncode == -9  # SIGKILL, as a crash or OOM killer would
    assert (tmp_path / "crashed" / "backup" / "phase0").exists()
    assert (tmp_path / "crashed" / "checkpoints" / "best.keras").exists()  # epoch 1 kept

    resumed = _run(tmp_path / "crashed")  # the same command again
    assert "epochs 2-3" in resumed.stdout  # continued from the last finished epoch
    assert _weights(resumed) == uninterrupted
    assert not (tmp_path / "crashed" / "backup" / "phase0").exists()  # cleaned at the end


def test_mirrored_strategy_on_two_logical_cpus_trains(tmp_path: Path) -> None:
    result = _run(
        tmp_path / "mirrored", "--logical-cpus", "2", "--strategy", "mirrored", "--epochs", "1"
    )
    _weights(result)
    assert (tmp_path / "mirrored" / "checkpoints" / "best.keras").exists()
