"""Run one measurement in a fresh Python process (tf.data pipelines and Keras policies
built in one process skew each other) and read the JSON it prints last. Timing in turns
and the machine line live in :mod:`bcnet_tf.edge.benchmark` (a device with only the
edge install times bundles too); they are re-exported here for the benches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bcnet_tf.edge.benchmark import CPU_FLAGS, describe_machine, latencies_ms

__all__ = ["CPU_FLAGS", "describe_machine", "latencies_ms", "run_worker"]


def run_worker(module: str, *arguments: str) -> dict:
    """``python -m <module> <arguments>`` from the project root; its last stdout line
    parsed as JSON. Exits with the worker's stderr tail if it fails."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CI": "1"}
    result = subprocess.run(
        [sys.executable, "-m", module, *arguments],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=Path(__file__).resolve().parents[1],
    )
    if result.returncode != 0:
        sys.exit(f"{module} {' '.join(arguments)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])
