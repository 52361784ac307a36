"""Whole-slide reading: tiles per second and peak memory on a large pyramidal slide.

Writes a 40,000 x 40,000 px pyramidal TIFF (JPEG tiles of 256 px, levels 1, 4 and 16
times smaller, 0.25 µm/px; BreakHis tissue with glass margins) tile by tile under
``/tmp``, never holding it in memory; then, in this process:

1. indexes its tissue tiles at 0.5 µm/px (low-resolution mask, cached);
2. reads ``--tiles`` random 224 px tissue tiles at 0.5 µm/px through the training
   stream (:func:`bcnet_tf.data.slides.slide_tile_batches`, tf.data parallel map) and
   reports tiles per second of read + decode + resize;
3. trains a small convolutional network for ``--steps`` steps on that stream, so peak
   RSS covers training reading from the slide (the network is kept tiny so that its
   activations do not hide the reader's memory).

Prints ``ratio: X`` last: tiles per second over the 200 tiles/s goal.

Usage: ``python -m bench.slides [--side 40000] [--tiles 2000] [--steps 10]``
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import numpy as np
from PIL import Image

BREAKHIS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "breakhis_samples"
TILE = 256
MPP = 0.25
DOWNSAMPLES = (1, 4, 16)


def _texture() -> np.ndarray:
    """BreakHis samples side by side (or a pink pattern without them)."""
    files = sorted(BREAKHIS.glob("*.png"))[:6]
    if not files:
        rng = np.random.default_rng(0)
        return rng.integers(120, 230, (460, 4200, 3), dtype=np.uint8)
    return np.concatenate([np.asarray(Image.open(f).convert("RGB"))[:460, :700] for f in files], 1)


def _tiles(side: int, downsample: int, texture: np.ndarray):
    """The level's tiles row by row: tissue inside a 10 % glass margin."""
    margin = side // 10
    texture = texture if downsample == 1 else texture[::2, ::2]
    height, width = texture.shape[:2]
    for top in range(0, side, TILE):
        for left in range(0, side, TILE):
            rows = (np.arange(top, top + TILE) % height)[:, None]
            cols = (np.arange(left, left + TILE) + top // TILE * 97) % width
            tile = texture[rows, cols[None, :]]
            ys = np.arange(top, top + TILE)[:, None]
            xs = np.arange(left, left + TILE)[None, :]
            glass = (ys < margin) | (ys >= side - margin) | (xs < margin) | (xs >= side - margin)
            yield np.where(glass[..., None], np.uint8(245), tile)


def write_slide(path: Path, side: int) -> None:
    import tifffile

    texture = _texture()
    with tifffile.TiffWriter(path, bigtiff=True) as writer:
        for i, downsample in enumerate(DOWNSAMPLES):
            level = -(-side // downsample)
            per_cm = 1e4 / (MPP * downsample)
            writer.write(
                _tiles(level, downsample, texture),
                shape=(level, level, 3),
                dtype=np.uint8,
                tile=(TILE, TILE),
                compression="jpeg",
                compressionargs={"level": 90},
                photometric="rgb",
                subfiletype=1 if i else 0,
                resolution=(per_cm, per_cm),
                resolutionunit="CENTIMETER",
            )


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=40_000)
    parser.add_argument("--tiles", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--out", default="/tmp/bcnet_bench_slide")
    args = parser.parse_args()
    os.environ.setdefault("BCNET_TF_CACHE", f"{args.out}/cache")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"slide_{args.side}.tif"
    if not path.exists():
        start = time.perf_counter()
        write_slide(path, args.side)
        print(
            f"wrote {path} ({path.stat().st_size / 1e9:.2f} GB) in "
            f"{time.perf_counter() - start:.0f} s, peak RSS {_peak_rss_gb():.2f} GB"
        )

    import keras

    from bcnet_tf.data.records import ImageRecord
    from bcnet_tf.data.slides import slide_tile_batches
    from bcnet_tf.pathology.slide_index import slide_tiles
    from bcnet_tf.pathology.tiles import TileSpec

    spec = TileSpec(size=224, mpp=0.5, per_image=args.tiles)
    start = time.perf_counter()
    found = slide_tiles(path, spec)
    index_s = time.perf_counter() - start
    record = [ImageRecord(str(path), "tissue")]

    def stream(seed: int):
        return slide_tile_batches(
            record, np.zeros(1, np.int32), spec, batch_size=32, epochs=range(1), seed=seed
        )

    start = time.perf_counter()
    read = sum(int(batch.shape[0]) for batch, _ in stream(0))
    rate = read / (time.perf_counter() - start)
    rss_read = _peak_rss_gb()

    model = keras.Sequential(
        [
            keras.Input((224, 224, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(16, 7, strides=4, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    start = time.perf_counter()
    model.fit(
        stream(1).map(lambda x, y: (keras.ops.cast(x, "float32"), y)).take(args.steps), verbose=0
    )
    train_s = time.perf_counter() - start

    print(
        f"| slide | {args.side:,} x {args.side:,} px, {len(DOWNSAMPLES)} levels, "
        f"{path.stat().st_size / 1e9:.2f} GB |"
    )
    print(
        f"| tissue tiles at 0.5 µm/px (224 px) | {len(found.corners):,} (index {index_s:.1f} s) |"
    )
    print(f"| read + decode + resize, tf.data stream | {rate:.0f} tiles/s ({read} tiles) |")
    print(f"| peak RSS after reading | {rss_read:.2f} GB |")
    print(f"| training a small CNN, {args.steps} steps of 32 | {train_s:.0f} s |")
    print(f"| peak RSS, whole bench | {_peak_rss_gb():.2f} GB |")
    print(f"ratio: {rate / 200:.2f}")


if __name__ == "__main__":
    main()
