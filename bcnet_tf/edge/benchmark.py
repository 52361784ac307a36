"""Time a bundle's TFLite files on the machine that runs them, without TensorFlow.

Which file is fastest depends on the CPU: int8 files run fast only where the CPU has
int8 dot products (x86 VNNI, Arm SDOT), dynamic-range files only where the runtime has
kernels for every op in int8, and small models may spend more time converting between
int8 and float than they save. So the recommendation is measured, on the device itself
when it can run Python: :func:`benchmark_bundle` times every ``.tflite`` file of a
bundle in turns and names the fastest one that passed the export's verification; with
``write=True`` it records the measurement and that file as the bundle's ``recommended``
file in ``spec.json`` and the model card, and refreshes ``SHA256SUMS`` (each file
replaced atomically).

Example:
    >>> latencies = latencies_ms({"sum": sum}, [1, 2], repeats=3, rounds=2)
    >>> sorted(latencies)
    ['sum']
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bcnet_tf.edge.predictor import SPEC_FILE
from bcnet_tf.edge.runtime import TFLiteModel
from bcnet_tf.errors import BcnetError
from bcnet_tf.io import atomic_write_json, atomic_write_text
from bcnet_tf.settings import setting

CARD_FILE, SUMS_FILE = "MODEL_CARD.md", "SHA256SUMS"
#: CPU flags that change what is measured (SIMD width, bf16, int8 dot products).
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni", "avx_vnni", "asimddp")
#: The model card's recommendation section lies between these two lines.
SECTION_START, SECTION_END = "<!-- recommendation -->", "<!-- /recommendation -->"
#: The order a bundle recommends its verified files in when nothing was timed.
STATIC_ORDER = ("model_int8.tflite", "model_float16.tflite", "model_float32.tflite")


@dataclass(frozen=True)
class BenchmarkSettings:
    """How a bundle's files are timed (``bcnet-tf benchmark`` flags)."""

    threads: int = setting(2, "interpreter threads while timing")
    repeats: int = setting(20, "calls of each file per round")
    rounds: int = setting(5, "timing rounds; every file runs once per round, in turns")


@dataclass(frozen=True)
class ExportBenchmark:
    """Whether ``bcnet-tf export`` times its files (``--target-benchmark``)."""

    target_benchmark: bool = setting(
        False,
        "time every TFLite file on this machine and recommend the fastest one that passed "
        "its verification (else: the first verified of int8, float16, float32)",
    )


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
    model = re.search(r"^(?:model name|Hardware|Model)\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    flag_line = re.search(r"^(?:flags|Features)\s*:(.*)$", cpuinfo, re.MULTILINE)
    present = set(flag_line.group(1).split()) if flag_line else set()
    flags = " ".join(flag for flag in CPU_FLAGS if flag in present) or "none listed"
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    name = model.group(1).strip() if model else "unknown CPU"
    return f"{name}, {os.cpu_count()} CPUs, flags {flags}, load {load}"


def bundle_checksums(folder: str | os.PathLike[str]) -> str:
    """The text of a bundle's ``SHA256SUMS``: every file but that one, sorted
    (``sha256sum -c SHA256SUMS`` checks it)."""
    folder = Path(folder)
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != SUMS_FILE):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        lines.append(f"{digest}  {path.relative_to(folder).as_posix()}")
    return "\n".join(lines) + "\n"


def static_recommendation(artifacts: dict[str, dict[str, Any]]) -> str:
    """The first verified file of :data:`STATIC_ORDER` (else the first TFLite file,
    else the Keras file): the recommendation when nothing was timed."""
    for name in STATIC_ORDER:
        if name in artifacts and artifacts[name]["verification"]["passed"]:
            return name
    tflite = [name for name in artifacts if name.endswith(".tflite")]
    return tflite[0] if tflite else "model.keras"


def recommendation_section(spec: dict[str, Any]) -> list[str]:
    """The model card lines that name the recommended file and why (the measured
    milliseconds when the bundle was timed), between :data:`SECTION_START` and
    :data:`SECTION_END`."""
    lines = [SECTION_START, f"Recommended on-device file: `{spec['recommended']}`."]
    timing = spec.get("benchmark")
    if timing is None:
        lines += [
            "",
            "Chosen by file type (int8, then float16, then float32; the first that passed",
            "its verification), not by timing. Time the files on the target device with",
            "`bcnet-tf benchmark BUNDLE --write`: the fastest verified file depends on the CPU.",
        ]
    else:
        lines += [
            "",
            f"The fastest file that passed its verification, timed on {timing['machine']} "
            f"on {timing['date']}: batch 1, {timing['threads']} threads, median of "
            f"{timing['rounds']} rounds x {timing['repeats']} calls, files in turns. "
            "Another CPU may rank them differently: time them there.",
            "",
            "| file | ms per image | verification |",
            "|---|---|---|",
            *(
                f"| `{name}` | {ms:.2f} | "
                f"{'pass' if spec['artifacts'][name]['verification']['passed'] else 'FAIL'} |"
                for name, ms in timing["ms"].items()
            ),
        ]
    return [*lines, SECTION_END]


def _with_section(card: str, spec: dict[str, Any]) -> str:
    section = "\n".join(recommendation_section(spec))
    pattern = re.compile(re.escape(SECTION_START) + ".*?" + re.escape(SECTION_END), re.DOTALL)
    if pattern.search(card):
        return pattern.sub(lambda _: section, card, count=1)
    return card.rstrip("\n") + "\n\n## Recommended on-device file\n\n" + section + "\n"


def _read_spec(bundle: Path) -> dict[str, Any]:
    path = bundle / SPEC_FILE
    if not path.is_file():
        raise BcnetError(
            f"{bundle} is not a bcnet_tf bundle (no {SPEC_FILE}). Fix: pass the folder "
            "`bcnet-tf export` wrote."
        )
    return json.loads(path.read_text(encoding="utf-8"))


def benchmark_bundle(
    bundle: str | os.PathLike[str],
    settings: BenchmarkSettings | None = None,
    *,
    write: bool = False,
) -> dict[str, Any]:
    """Time every ``.tflite`` file of ``bundle`` here (batch 1, in turns) and name the
    fastest one that passed the export's verification.

    Args:
        bundle: a folder written by ``bcnet-tf export``.
        settings: threads, calls per round, rounds.
        write: record the result in the bundle: ``spec.json`` (``benchmark`` and
            ``recommended``), the model card's recommendation, ``SHA256SUMS``.

    Returns:
        The ``benchmark`` entry: machine, date, settings, ``ms`` per file and
        ``fastest_verified`` (``None`` when no TFLite file passed).

    Example:
        >>> benchmark_bundle("saved_models/run-bundle")["fastest_verified"]  # doctest: +SKIP
        'model_int8.tflite'
    """
    settings = settings or BenchmarkSettings()
    folder = Path(bundle)
    spec = _read_spec(folder)
    files = [name for name in spec["artifacts"] if name.endswith(".tflite")]
    if not files:
        raise BcnetError(f"{folder} holds no .tflite file. Fix: export with --formats tflite.")
    models = {name: TFLiteModel(folder / name, threads=settings.threads) for name in files}
    shape = (1, *spec["image_size"], 3)
    pixels = np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)
    calls = {name: model.run for name, model in models.items()}
    measured = latencies_ms(calls, pixels, settings.repeats, settings.rounds)
    verified = [name for name in files if spec["artifacts"][name]["verification"]["passed"]]
    result = {
        "machine": describe_machine(),
        "date": datetime.now(UTC).date().isoformat(),
        "batch": 1,
        "threads": settings.threads,
        "repeats": settings.repeats,
        "rounds": settings.rounds,
        "ms": {name: round(measured[name], 3) for name in files},
        "fastest_verified": min(verified, key=measured.__getitem__) if verified else None,
    }
    if write:
        record_benchmark(folder, spec, result)
    return result


def apply_benchmark(spec: dict[str, Any], result: dict[str, Any]) -> None:
    """Put a :func:`benchmark_bundle` ``result`` into a bundle's ``spec``: as its
    ``benchmark`` entry, and its fastest verified file (if any) as ``recommended``."""
    spec["benchmark"] = result
    if result["fastest_verified"] is not None:
        spec["recommended"] = result["fastest_verified"]


def record_benchmark(
    bundle: str | os.PathLike[str], spec: dict[str, Any], result: dict[str, Any]
) -> None:
    """Write a :func:`benchmark_bundle` ``result`` into ``bundle``: ``spec.json``
    (``benchmark``; ``recommended`` when a file passed), the model card's
    recommendation section and ``SHA256SUMS``, each replaced atomically."""
    folder = Path(bundle)
    apply_benchmark(spec, result)
    atomic_write_json(folder / SPEC_FILE, spec)
    card = folder / CARD_FILE
    if card.is_file():
        atomic_write_text(card, _with_section(card.read_text(encoding="utf-8"), spec))
    if (folder / SUMS_FILE).is_file():
        atomic_write_text(folder / SUMS_FILE, bundle_checksums(folder))
