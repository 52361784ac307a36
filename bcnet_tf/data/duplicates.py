"""Exact and near-duplicate images, found by file hash and perceptual hash, verified
on pixels.

Copies of one image on both sides of a train/test split inflate test accuracy
(BUSI has several). :func:`hash_images` decodes every image once and returns a
SHA-256 of its bytes, a 64-bit perceptual hash (``imagehash.phash``) and a small grey
thumbnail; :func:`duplicate_groups` joins images whose hashes are within a Hamming
distance *and* whose thumbnails correlate (:data:`NEAR_DUPLICATE_CORRELATION`).

The pixel check matters for mammograms: a dark background with one bright breast
silhouette dominates the perceptual hash, so images of different women collide. Only
verified pairs are joined, so a group never chains through an unverified link.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import imagehash
import numpy as np
from PIL import Image

from bcnet_tf.console import progress_bar
from bcnet_tf.data.decode import decode_rgb
from bcnet_tf.data.records import ImageRecord, image_file
from bcnet_tf.errors import ImageDecodeError

#: Perceptual-hash Hamming distance (of 64 bits) at or below which two images are
#: near-duplicate candidates (copies and adjacent frames of one scan score low).
NEAR_DUPLICATE_DISTANCE = 6
#: Side of the grey thumbnails (box-averaged) the pixel check compares.
THUMBNAIL_SIDE = 32
#: Grey level (0..255) above which a thumbnail pixel is foreground (not air).
FOREGROUND_LEVEL = 20
#: Least Pearson correlation of two thumbnails, over the inside of their common
#: foreground, for a perceptual-hash pair to count as near-duplicates: copies of one
#: scan agree pixel by pixel; different breasts that share a silhouette do not
#: (docs/mammography.md gives the scores measured on BUSI and on such images).
NEAR_DUPLICATE_CORRELATION = 0.7


@dataclass(frozen=True)
class ImageHashes:
    """Hashes of one image; ``error`` is set (and hashes are empty) if it failed to decode.

    ``thumbnail`` is the image's ``THUMBNAIL_SIDE`` square grey thumbnail (float32); a
    pair with a missing thumbnail is judged by its hashes alone.
    """

    sha256: str
    phash: int
    error: str | None = None
    thumbnail: np.ndarray | None = field(default=None, repr=False, compare=False)


def _hash_one(item: ImageRecord | str) -> ImageHashes:
    path, frame = image_file(item)
    try:
        with open(path, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
        pixels = decode_rgb(path, frame)
    except (ImageDecodeError, OSError) as error:
        return ImageHashes("", 0, getattr(error, "reason", str(error)))
    image = Image.fromarray(pixels)
    phash = imagehash.phash(image)
    side = (THUMBNAIL_SIDE, THUMBNAIL_SIDE)
    thumbnail = np.asarray(image.convert("L").resize(side, Image.Resampling.BOX), np.float32)
    return ImageHashes(digest, int(str(phash), 16), thumbnail=thumbnail)


def pixels_agree(
    a: np.ndarray | None, b: np.ndarray | None, minimum: float = NEAR_DUPLICATE_CORRELATION
) -> bool:
    """The pixel check of a near-duplicate pair: the thumbnails' correlation is at least
    ``minimum`` over the pixels that are foreground in both and not on that region's
    edge (so a shared silhouette outline does not count; all pixels if fewer than 16
    remain). True when a thumbnail is missing (nothing to check).

    Example:
        >>> ramp = np.arange(1024, dtype=np.float32).reshape(32, 32) % 200 + 30
        >>> pixels_agree(ramp, ramp * 0.9 + 5), pixels_agree(ramp, ramp[::-1])
        (True, False)
    """
    if a is None or b is None:
        return True
    both = np.pad((a > FOREGROUND_LEVEL) & (b > FOREGROUND_LEVEL), 1)
    both = both[1:-1, 1:-1] & both[:-2, 1:-1] & both[2:, 1:-1] & both[1:-1, :-2] & both[1:-1, 2:]
    x, y = (a[both], b[both]) if both.sum() >= 16 else (a.ravel(), b.ravel())
    if x.std() == 0 or y.std() == 0:
        return bool(np.abs(x - y).mean() <= 1)
    return float(np.corrcoef(x, y)[0, 1]) >= minimum


def hash_images(
    paths: Sequence[ImageRecord | str], workers: int = 4, progress: bool = True
) -> list[ImageHashes]:
    """Decode each image (a file, or a record's file and frame) and hash it, in
    parallel threads, with a progress bar.

    Example:
        >>> hashes = hash_images(index.records)  # doctest: +SKIP
    """
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(_hash_one, paths)
        bar = progress_bar(results, enabled=progress, total=len(paths), desc="hashing images")
        return list(bar)


def duplicate_groups(
    hashes: Sequence[ImageHashes],
    max_distance: int = NEAR_DUPLICATE_DISTANCE,
    min_correlation: float = NEAR_DUPLICATE_CORRELATION,
) -> list[int]:
    """Group id per image: images that are exact or near copies share an id.

    A pair is a near copy when its perceptual hashes are within ``max_distance`` and
    its thumbnails pass :func:`pixels_agree`. Grouping is transitive over such
    verified pairs (union-find): if A~B and B~C, all three share a group. Images that
    failed to decode get a group of their own.

    Example:
        >>> duplicate_groups([ImageHashes("a", 0b1011), ImageHashes("b", 0b1010),
        ...                   ImageHashes("c", 2**63 - 1)])
        [0, 0, 2]
    """
    count = len(hashes)
    parent = list(range(count))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    valid = np.array([h.error is None for h in hashes], bool)
    values = np.array([h.phash for h in hashes], np.uint64)
    by_sha: dict[str, int] = {}
    for i, item in enumerate(hashes):
        if item.error is None:
            first = by_sha.setdefault(item.sha256, i)
            parent[find(i)] = find(first)
    for i in range(count):
        if not valid[i]:
            continue
        distances = np.bitwise_count(values[i + 1 :] ^ values[i])
        for j in np.flatnonzero((distances <= max_distance) & valid[i + 1 :]) + i + 1:
            if pixels_agree(hashes[i].thumbnail, hashes[j].thumbnail, min_correlation):
                parent[find(int(j))] = find(i)
    return [find(i) for i in range(count)]
