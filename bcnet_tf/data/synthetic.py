"""The embedded default dataset: synthetic H&E-like tiles with three IDC grades.

SYNTHETIC DATA — for demos and tests only; nothing learnt from it says anything
about real tissue. No real dataset can be shipped or downloaded here, so bcnet_tf
draws one, deterministically from a seed, following the cues a pathologist grades
on (Nottingham system):

* tubule formation — grade 1 tiles have many pale gland lumens, grade 3 almost none;
* nuclear pleomorphism — nuclei grow larger, more irregular and more varied in size;
* hyperchromasia and density — nuclei get darker and more numerous with grade.

Each synthetic patient has its own stain tint and cellularity, so grades overlap and
patient grouping matters as it does on real slides. Tiles are written in the Databiox layout
(``grade_<g>/patient_<nn>/10X/tile_<kk>.png``) to the bcnet_tf cache folder, never
next to user data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

from bcnet_tf.console import progress_bar
from bcnet_tf.io import atomic_directory, cache_dir

_VERSION = 1
_EOSIN = np.array([232.0, 150.0, 190.0])
_HAEMATOXYLIN = np.array([70.0, 40.0, 125.0])


@dataclass(frozen=True)
class GradeLook:
    """How one grade is drawn: nucleus count, radius (mean, spread), irregularity,
    darkness (0..1) and gland lumens per tile."""

    nuclei: int
    radius: float
    radius_spread: float
    irregularity: float
    darkness: float
    lumens: int


GRADES = {
    1: GradeLook(
        nuclei=45, radius=3.6, radius_spread=0.10, irregularity=0.06, darkness=0.62, lumens=3
    ),
    2: GradeLook(
        nuclei=58, radius=4.3, radius_spread=0.20, irregularity=0.15, darkness=0.72, lumens=1
    ),
    3: GradeLook(
        nuclei=72, radius=5.0, radius_spread=0.30, irregularity=0.26, darkness=0.82, lumens=0
    ),
}


def draw_tile(
    rng: np.random.Generator, grade: int, size: int, tint: np.ndarray, cellularity: float
) -> np.ndarray:
    """Draw one ``(size, size, 3)`` uint8 H&E-like tile of ``grade`` (1-3); ``tint``
    (RGB multipliers) and ``cellularity`` (nucleus-count multiplier) vary by patient."""
    look = GRADES[grade]
    scale = size / 128.0
    stroma = gaussian_filter(rng.normal(0, 1, (size, size)), 3 * scale)
    stroma = 0.55 + 0.25 * stroma / (np.abs(stroma).max() + 1e-6)  # eosin density 0.3-0.8
    nuclear = np.zeros((size, size))
    yy, xx = np.mgrid[0:size, 0:size]
    for _ in range(look.lumens):
        cy, cx = rng.uniform(0.15, 0.85, 2) * size
        ry, rx = rng.uniform(7, 13, 2) * scale
        lumen = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
        stroma[lumen] *= 0.1
    for _ in range(int(look.nuclei * cellularity * rng.uniform(0.85, 1.15))):
        cy, cx = rng.uniform(0, size, 2)
        radius = max(1.5, look.radius * scale * (1 + look.radius_spread * rng.normal()))
        reach = int(np.ceil(radius * (1 + 3 * look.irregularity))) + 1
        y0, y1 = max(0, int(cy) - reach), min(size, int(cy) + reach + 1)
        x0, x1 = max(0, int(cx) - reach), min(size, int(cx) + reach + 1)
        dy, dx = yy[y0:y1, x0:x1] - cy, xx[y0:y1, x0:x1] - cx
        theta = np.arctan2(dy, dx)
        harmonics = rng.normal(0, look.irregularity, 3)
        phases = rng.uniform(0, 2 * np.pi, 3)
        boundary = radius * (
            1
            + sum(
                h * np.cos((k + 2) * theta + p)
                for k, (h, p) in enumerate(zip(harmonics, phases, strict=True))
            )
        )
        inside = np.hypot(dy, dx) < boundary
        strength = look.darkness * rng.uniform(0.85, 1.0)
        nuclear[y0:y1, x0:x1] = np.maximum(nuclear[y0:y1, x0:x1], inside * strength)
    nuclear = gaussian_filter(nuclear, 0.6 * scale)
    white = np.full(3, 245.0)
    tissue = white + (_EOSIN * tint - white) * stroma[..., None]
    image = tissue + (_HAEMATOXYLIN * tint - tissue) * nuclear[..., None]
    image += rng.normal(0, 4, image.shape)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def synthetic_dataset(
    seed: int = 0,
    *,
    patients_per_grade: int = 8,
    tiles_per_patient: int = 6,
    size: int = 128,
    root: str | Path | None = None,
    progress: bool = True,
) -> Path:
    """Return the folder of the synthetic IDC-grade dataset, drawing it if needed.

    The same arguments always give the same pixels. The folder is built in a temporary
    sibling and renamed into place, so an interrupted run never leaves half a dataset.

    Args:
        seed: random seed; part of the folder name.
        patients_per_grade: patients drawn for each of the 3 grades.
        tiles_per_patient: tiles drawn for each patient.
        size: tile side in pixels.
        root: parent folder (default: the bcnet_tf cache, ``$BCNET_TF_CACHE``).

    Example:
        >>> folder = synthetic_dataset(seed=0)            # doctest: +SKIP
        >>> discover(folder).layout                       # doctest: +SKIP
        'databiox'
    """
    parent = Path(root) if root is not None else cache_dir("synthetic")
    name = f"idc-grades-v{_VERSION}-seed{seed}-{patients_per_grade}x{tiles_per_patient}-{size}px"
    folder = parent / name
    if folder.is_dir():
        return folder
    rng = np.random.default_rng(seed)
    total = len(GRADES) * patients_per_grade * tiles_per_patient
    with (
        atomic_directory(folder) as tmp,
        progress_bar(enabled=progress, total=total, desc="drawing synthetic tiles") as bar,
    ):
        (tmp / "README.txt").write_text(
            "SYNTHETIC H&E-like tiles drawn by bcnet_tf.data.synthetic (not real tissue).\n"
            f"seed={seed} patients_per_grade={patients_per_grade} "
            f"tiles_per_patient={tiles_per_patient} size={size}\n"
        )
        for grade in GRADES:
            for patient in range(1, patients_per_grade + 1):
                tint = rng.uniform(0.88, 1.08, 3)
                cellularity = rng.uniform(0.75, 1.25)
                tiles = tmp / f"grade_{grade}" / f"patient_{grade}{patient:02d}" / "10X"
                tiles.mkdir(parents=True)
                for tile in range(1, tiles_per_patient + 1):
                    pixels = draw_tile(rng, grade, size, tint, cellularity)
                    Image.fromarray(pixels).save(tiles / f"tile_{tile:02d}.png")
                    bar.update()
    return folder
