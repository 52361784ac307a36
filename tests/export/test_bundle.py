"""export(): every format verified, lean, checksummed; broken int8 caught; a killed or
disk-full export leaves the previous bundle intact."""

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bcnet_tf.export import export
from tests.conftest import tree_digest

ARTIFACTS = {
    "model.keras",
    "saved_model",
    "model_float32.tflite",
    "model_float16.tflite",
    "model_dynamic.tflite",
    "model_int8.tflite",
}


def test_every_format_round_trips_and_passes_verification(bundle: Path) -> None:
    spec = json.loads((bundle / "spec.json").read_text())
    assert set(spec["artifacts"]) == ARTIFACTS
    for name, artifact in spec["artifacts"].items():
        check = artifact["verification"]
        assert check["passed"], (name, check)
        assert check["images"] == 120
    assert spec["artifacts"]["model.keras"]["verification"]["max_abs_diff"] == 0
    assert spec["artifacts"]["model_int8.tflite"]["verification"]["top1_agreement"] >= 0.98
    assert spec["recommended"] == "model_int8.tflite"
    assert (bundle / "labels.txt").read_text().split() == ["clear", "lesion"]
    assert spec["image_size"] == [32, 32]
    sizes = {name: a["bytes"] for name, a in spec["artifacts"].items()}
    variables = sum(f.stat().st_size for f in (bundle / "saved_model" / "variables").iterdir())
    assert variables < 1.3 * sizes["model_float32.tflite"]  # weights stored once, not twice
    assert sizes["model_int8.tflite"] < sizes["model_float32.tflite"] / 2


def test_checksums_cover_every_file_and_match(bundle: Path) -> None:
    listed = {}
    for line in (bundle / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        listed[name] = digest
    files = {
        p.relative_to(bundle).as_posix()
        for p in bundle.rglob("*")
        if p.is_file() and p.name != "SHA256SUMS"
    }
    assert set(listed) == files
    for name, digest in listed.items():
        assert hashlib.sha256((bundle / name).read_bytes()).hexdigest() == digest


def test_model_card_states_use_data_and_verification(bundle: Path) -> None:
    card = (bundle / "MODEL_CARD.md").read_text()
    assert "Not a medical device" in card
    assert "## Limitations" in card and "model_int8.tflite" in card
    assert "Not evaluated before export" in card  # a bare model file has no evaluation
    spec = json.loads((bundle / "spec.json").read_text())
    corrected = spec["artifacts"]["model_int8.tflite"]["bias_corrected_layers"]
    assert corrected and f"biases of {len(corrected)} layers" in card
    assert all(f"`{name}`" in card for name in corrected)


def test_broken_int8_calibration_is_caught(lesion_model: tuple[Path, Path], tmp_path: Path) -> None:
    """Calibrating on black images squeezes the activation ranges to nothing."""
    model, data = lesion_model
    broken = np.zeros((120, 32, 32, 3), np.float32)
    with pytest.warns(UserWarning, match="NOT recommended; ship model_float16.tflite"):
        result = export(
            model,
            data=str(data),
            out=tmp_path / "broken",
            formats=("tflite",),
            quantize=("float16", "int8"),
            calibration_images=broken,
        )
    int8 = result.spec["artifacts"]["model_int8.tflite"]["verification"]
    assert not int8["passed"] and int8["top1_agreement"] < 0.98
    assert result.recommended == "model_float16.tflite"


def test_bias_correction_changes_the_int8_file_only(
    lesion_model: tuple[Path, Path], bundle: Path, tmp_path: Path
) -> None:
    model, data = lesion_model
    plain = export(
        model,
        data=str(data),
        out=tmp_path / "plain",
        formats=("tflite",),
        quantize=("none", "int8"),
        bias_correction=False,
        guard=False,
    ).bundle
    spec = json.loads((plain / "spec.json").read_text())
    assert spec["artifacts"]["model_int8.tflite"]["bias_corrected_layers"] == []
    float32 = (plain / "model_float32.tflite").read_bytes()
    assert float32 == (bundle / "model_float32.tflite").read_bytes()
    assert (plain / "model_int8.tflite").read_bytes() != (bundle / "model_int8.tflite").read_bytes()


def _export_command(model: Path, data: Path, out: Path) -> list[str]:
    code = (
        "import sys; from bcnet_tf.export import export; "
        "export(sys.argv[1], data=sys.argv[2], out=sys.argv[3])"
    )
    return [sys.executable, "-c", code, str(model), str(data), str(out)]


def test_sigkill_during_export_leaves_the_previous_bundle_intact(
    lesion_model: tuple[Path, Path], bundle: Path, tmp_path: Path
) -> None:
    model, data = lesion_model
    folder = tmp_path / "bundles"
    target = folder / "lesion-bundle"
    folder.mkdir()
    subprocess.run(["cp", "-r", str(bundle), str(target)], check=True)
    before = tree_digest(target)
    process = subprocess.Popen(_export_command(model, data, target), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not any((p / "saved_model").exists() for p in folder.glob(".lesion-bundle.*.tmp")):
        assert process.poll() is None and time.monotonic() < deadline, "export never started"
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert tree_digest(target) == before
    assert [p.name for p in folder.iterdir() if not p.name.startswith(".")] == ["lesion-bundle"]
    export(model, data=str(data), out=target, quantize=("none",))  # the next export cleans up
    assert sorted(p.name for p in folder.iterdir()) == ["lesion-bundle"]


def test_disk_full_during_export_leaves_the_previous_bundle_intact(
    lesion_model: tuple[Path, Path], bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, data = lesion_model
    target = tmp_path / "lesion-bundle"
    subprocess.run(["cp", "-r", str(bundle), str(target)], check=True)
    before = tree_digest(target)
    write_bytes = Path.write_bytes

    def full_disk(path: Path, data_bytes: bytes) -> int:
        if path.name == "model_int8.tflite":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return write_bytes(path, data_bytes)

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(OSError, match="No space left"):
        export(model, data=str(data), out=target)
    assert tree_digest(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lesion-bundle"]


@pytest.mark.parametrize("quantize", ["none", "int8"])
def test_caffe_preprocessing_is_one_delegable_conv(tmp_path: Path, quantize: str) -> None:
    """VGG/ResNet50/SqueezeNet normalisation (RGB->BGR, mean subtraction) becomes a single
    CONV_2D in TFLite: no REVERSE_V2 (which int8 gets wrong), no GATHER or SUB left
    outside XNNPACK; and the converted model still matches Keras."""
    import keras
    from ai_edge_litert.interpreter import Interpreter

    from bcnet_tf.edge.runtime import TFLiteModel
    from bcnet_tf.export.convert import tflite_model, write_saved_model
    from bcnet_tf.models.preprocessing import CaffePreprocess

    inputs = keras.Input((16, 16, 3))
    outputs = keras.layers.Conv2D(4, 1, use_bias=False)(CaffePreprocess()(inputs))
    model = keras.Model(inputs, outputs)
    pixels = np.random.default_rng(0).uniform(0, 255, (64, 16, 16, 3)).astype(np.float32)
    blob = tflite_model(write_saved_model(model, tmp_path / "sm"), quantize, pixels)
    (tmp_path / "m.tflite").write_bytes(blob)
    ops = [op["op_name"] for op in Interpreter(model_content=blob)._get_ops_details()]
    assert [op for op in ops if op not in ("QUANTIZE", "DEQUANTIZE")] == ["CONV_2D", "CONV_2D"]
    expected = model.predict(pixels[:8], verbose=0)
    error = np.abs(TFLiteModel(tmp_path / "m.tflite").predict(pixels[:8]) - expected)
    assert error.max() < (0.05 if quantize == "int8" else 1e-4) * np.abs(expected).max()


def test_target_benchmark_recommends_the_fastest_verified_file(
    lesion_model: tuple[Path, Path], tmp_path: Path
) -> None:
    from bcnet_tf.edge.benchmark import BenchmarkSettings

    model, data = lesion_model
    result = export(
        model,
        data=str(data),
        out=tmp_path / "timed",
        formats=("tflite",),
        quantize=("none", "int8"),
        guard=False,
        target_benchmark=True,
        benchmark=BenchmarkSettings(threads=1, repeats=2, rounds=1),
    )
    timing = result.spec["benchmark"]
    assert set(timing["ms"]) == {"model_float32.tflite", "model_int8.tflite"}
    assert result.recommended == min(timing["ms"], key=timing["ms"].get)
    written = json.loads((result.bundle / "spec.json").read_text())
    assert written["recommended"] == result.recommended and written["benchmark"] == timing
    card = (result.bundle / "MODEL_CARD.md").read_text()
    assert f"Recommended on-device file: `{result.recommended}`" in card
    assert "| `model_float32.tflite` |" in card
