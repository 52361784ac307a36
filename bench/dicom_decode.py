"""DICOM mammogram to model input: decode, window, preprocess, resize, on one core.

Writes a mammogram-like 3328 x 4084 (width x height) 16-bit MONOCHROME1 file (12 bits
stored, rescale and a window in the header; a breast with texture, air, a marker)
uncompressed and RLE-compressed, and the same display pixels as a 16-bit PNG. Then,
pinned to one CPU core with one TensorFlow thread, times (median of ``--repeats``):

* ``decode``: :func:`bcnet_tf.data.decode.decode_rgb` (pydicom + the VOI pipeline);
* ``to tensor``: what the pipeline and the edge predictor do per image with
  ``--preprocess mammo``: decode, crop/flip/pad (:mod:`bcnet_tf.data.mammo`), resize
  to 512 x 416 (``tf.image.resize`` as in training; numpy as on the edge).

    python -m bench.dicom_decode [--repeats 5]

Goal: a mammogram reaches the model's input in well under a second on one core.
Prints ``ratio: X`` last: one second over the uncompressed file's ``to tensor`` time
(numpy path), so X > 1 meets the goal and says by how much; the PNG row shows what
the same pixels cost from the format people usually export mammograms to.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

WIDTH, HEIGHT = 3328, 4084
SIZE = (512, 416)


def _phantom(seed: int = 0) -> np.ndarray:
    """12-bit stored values, MONOCHROME1 (air bright): a breast against the left edge."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    breast = (rows - HEIGHT / 2) ** 2 / (0.42 * HEIGHT) ** 2 + cols**2 / (0.7 * WIDTH) ** 2 < 1
    coarse = rng.normal(0, 1, (HEIGHT // 64 + 1, WIDTH // 64 + 1)).astype(np.float32)
    texture = np.kron(coarse, np.ones((64, 64), np.float32))[:HEIGHT, :WIDTH]
    dense = 2400 - 500 * texture + rng.normal(0, 40, (HEIGHT, WIDTH)).astype(np.float32)
    stored = np.where(breast, dense, 4000).clip(0, 4095)
    stored[80:200, WIDTH - 400 : WIDTH - 150] = 0  # a lead marker (white after inversion)
    return stored.astype(np.uint16)


def _write(folder: Path) -> dict[str, Path]:
    from PIL import Image
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import (
        DigitalMammographyXRayImageStorageForPresentation,
        ExplicitVRLittleEndian,
        RLELossless,
        generate_uid,
    )

    from bcnet_tf.data.decode import decode_rgb

    stored = _phantom()
    files = {}
    for name, syntax in (("dicom", None), ("dicom_rle", RLELossless)):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = DigitalMammographyXRayImageStorageForPresentation
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, generate_uid()
        ds.set_pixel_data(stored, "MONOCHROME1", 12)
        ds.RescaleSlope, ds.RescaleIntercept = 1, 0
        ds.WindowCenter, ds.WindowWidth = 2300, 2600
        ds.ImageLaterality = "L"
        if syntax is not None:
            ds.compress(syntax)
        files[name] = folder / f"{name}.dcm"
        ds.save_as(files[name], enforce_file_format=True)
    display = decode_rgb(files["dicom"])[..., 0].astype(np.uint16) * 257
    files["png16"] = folder / "png16.png"
    Image.fromarray(display).save(files["png16"])
    return files


def _median_seconds(function: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from bcnet_tf.data.decode import decode_rgb
    from bcnet_tf.data.images import resize_image
    from bcnet_tf.data.mammo import load_prepared
    from bcnet_tf.pathology.prepare import resize_rgb

    with tempfile.TemporaryDirectory() as tmp:
        files = _write(Path(tmp))
        print(f"{WIDTH}x{HEIGHT} px, 12 of 16 bits, MONOCHROME1; one core; model input {SIZE}")
        print(f"{'file':<10} {'MB':>6} {'decode s':>9} {'to tensor, numpy s':>19} {'tf s':>7}")
        numpy_times = {}
        for name, path in files.items():
            decode = _median_seconds(lambda p=path: decode_rgb(p), args.repeats)
            numpy_path = _median_seconds(
                lambda p=path: resize_rgb(load_prepared(p, SIZE, "mammo"), SIZE), args.repeats
            )
            tf_path = _median_seconds(
                lambda p=path: resize_image(load_prepared(p, SIZE, "mammo"), SIZE).numpy(),
                args.repeats,
            )
            numpy_times[name] = numpy_path
            megabytes = path.stat().st_size / 1e6
            print(f"{name:<10} {megabytes:6.1f} {decode:9.3f} {numpy_path:19.3f} {tf_path:7.3f}")
    print(f"ratio: {1.0 / numpy_times['dicom']:.2f}")


if __name__ == "__main__":
    main()
