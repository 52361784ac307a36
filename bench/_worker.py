"""Run one measurement in a fresh Python process (tf.data pipelines and Keras policies
built in one process skew each other) and read the JSON it prints last; describe the
machine a bench ran on."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


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


def latencies_ms(
    calls: dict[str, Callable[[Any], object]], argument: Any, repeats: int, rounds: int = 5
) -> dict[str, float]:
    """Median ms per ``call(argument)`` of each entry, timed in turns (``rounds`` rounds
    of ``repeats`` calls each, every entry once per round, after 5 warm-up calls) so that
    a slow spell of a shared machine hits every entry alike instead of skewing one."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        for _ in range(5):
            call(argument)
    for _ in range(rounds):
        for name, call in calls.items():
            for _ in range(repeats):
                start = time.perf_counter()
                call(argument)
                times[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


#: CPU flags that change what the benches measure (SIMD width, bf16, int8 dot products).
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni", "avx_vnni")


def describe_machine() -> str:
    """One line: CPU model, core count, the :data:`CPU_FLAGS` it has, load average.

    Example:
        >>> describe_machine()  # doctest: +SKIP
        'AMD EPYC, 2 CPUs, flags avx2 avx512f avx512_bf16 avx512_vnni, load 1.9 1.2 0.8'
    """
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    flag_line = re.search(r"^flags\s*:(.*)$", cpuinfo, re.MULTILINE)
    present = set(flag_line.group(1).split()) if flag_line else set()
    flags = " ".join(flag for flag in CPU_FLAGS if flag in present) or "none listed"
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    name = model.group(1).strip() if model else "unknown CPU"
    return f"{name}, {os.cpu_count()} CPUs, flags {flags}, load {load}"
