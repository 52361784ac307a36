"""benchmark_bundle: times every TFLite file in turns, recommends the fastest verified
one, writes into the bundle only when asked (spec, card, checksums kept consistent)."""

import hashlib
import json
import shutil
import time
from pathlib import Path

import pytest

from bcnet_tf.cli import main
from bcnet_tf.edge import benchmark
from bcnet_tf.edge.benchmark import BenchmarkSettings, benchmark_bundle, latencies_ms
from tests.conftest import tree_digest

QUICK = BenchmarkSettings(threads=1, repeats=2, rounds=1)
TFLITE = {
    "model_float32.tflite",
    "model_float16.tflite",
    "model_dynamic.tflite",
    "model_int8.tflite",
}


def _copy(bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(bundle, tmp_path / "bundle"))


def _checksums_match(bundle: Path) -> bool:
    for line in (bundle / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        if hashlib.sha256((bundle / name).read_bytes()).hexdigest() != digest:
            return False
    return True


def test_latencies_rank_a_slow_call_above_a_fast_one() -> None:
    timed = latencies_ms({"slow": lambda _: time.sleep(0.004), "fast": len}, [1], 3, rounds=2)
    assert timed["slow"] >= 4.0 > timed["fast"]


def test_bench_keeps_the_timing_function_importable() -> None:
    from bench._worker import describe_machine as bench_describe
    from bench._worker import latencies_ms as bench_latencies

    assert bench_latencies is latencies_ms
    assert bench_describe is benchmark.describe_machine


def test_timing_times_every_tflite_file_and_leaves_the_bundle_alone(
    bundle: Path, tmp_path: Path
) -> None:
    copy = _copy(bundle, tmp_path)
    before = tree_digest(copy)
    result = benchmark_bundle(copy, QUICK)
    assert tree_digest(copy) == before
    assert set(result["ms"]) == TFLITE
    assert all(ms > 0 for ms in result["ms"].values())
    assert result["fastest_verified"] == min(result["ms"], key=result["ms"].get)
    assert result["threads"] == 1 and result["batch"] == 1


def test_the_fastest_file_that_failed_verification_is_not_recommended(
    bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = _copy(bundle, tmp_path)
    spec = json.loads((copy / "spec.json").read_text())
    spec["artifacts"]["model_int8.tflite"]["verification"]["passed"] = False
    (copy / "spec.json").write_text(json.dumps(spec))
    (copy / "SHA256SUMS").write_text(benchmark.bundle_checksums(copy))
    fixed = {
        "model_int8.tflite": 1.0,
        "model_dynamic.tflite": 3.0,
        "model_float16.tflite": 2.0,
        "model_float32.tflite": 2.5,
    }
    monkeypatch.setattr(benchmark, "latencies_ms", lambda calls, *_: {n: fixed[n] for n in calls})
    result = benchmark_bundle(copy, QUICK, write=True)
    assert result["fastest_verified"] == "model_float16.tflite"
    written = json.loads((copy / "spec.json").read_text())
    assert written["recommended"] == "model_float16.tflite"
    assert written["benchmark"]["ms"] == fixed
    card = (copy / "MODEL_CARD.md").read_text()
    assert card.count("Recommended on-device file: `model_float16.tflite`") == 1
    assert "| `model_int8.tflite` | 1.00 | FAIL |" in card
    assert "Chosen by file type" not in card  # the static explanation was replaced
    assert _checksums_match(copy)


def test_cli_benchmark_writes_only_with_write(bundle: Path, tmp_path: Path, capsys) -> None:
    copy = _copy(bundle, tmp_path)
    before = tree_digest(copy)
    flags = ["--threads", "1", "--repeats", "2", "--rounds", "1"]
    assert main(["benchmark", str(copy), *flags]) == 0
    assert tree_digest(copy) == before
    assert main(["benchmark", str(copy), *flags, "--write"]) == 0
    spec = json.loads((copy / "spec.json").read_text())
    assert set(spec["benchmark"]["ms"]) == TFLITE
    assert spec["recommended"] == spec["benchmark"]["fastest_verified"]
    assert _checksums_match(copy)
    assert "fastest verified" in capsys.readouterr().out


def test_benchmark_of_a_folder_without_spec_is_one_clear_line(tmp_path: Path, capsys) -> None:
    assert main(["benchmark", str(tmp_path)]) == 2
    assert "is not a bcnet_tf bundle" in capsys.readouterr().err
