"""inspect_dataset(): counts, duplicates, unreadable files, problems."""

from pathlib import Path

import numpy as np
from PIL import Image

from bcnet_tf.data.duplicates import (
    NEAR_DUPLICATE_DISTANCE,
    ImageHashes,
    duplicate_groups,
    hash_images,
)
from bcnet_tf.data.inspection import inspect_dataset
from bcnet_tf.data.layouts import discover
from tests.conftest import rgb_pattern, write_bad


def test_duplicates_and_unreadable_are_reported(folder_dataset: Path) -> None:
    benign = folder_dataset / "benign"
    (benign / "copy.png").write_bytes((benign / "benign_1.png").read_bytes())
    resized = Image.fromarray(rgb_pattern(seed=2)).resize((80, 60)).resize((64, 48))
    resized.save(folder_dataset / "malignant" / "near_copy_of_benign_2.png")
    write_bad(benign / "cut.png", "truncated")
    report = inspect_dataset(discover(folder_dataset), progress=False)
    assert ["benign/benign_1.png", "benign/copy.png"] in report.exact_duplicates
    assert any("near_copy_of_benign_2.png" in " ".join(g) for g in report.near_duplicates)
    assert any("different labels ['benign', 'malignant']" in p for p in report.problems)
    assert any(p.startswith("unreadable image benign/cut.png") for p in report.problems)
    assert report.skipped["unreadable"] == ["benign/cut.png"]
    readable = sorted(p.name for p in folder_dataset.rglob("*.png") if p.name != "cut.png")
    assert report.num_images == len(readable)  # the cut file is skipped, not also counted
    assert report.class_counts["benign"] == len(list(benign.rglob("*.png"))) - 1
    text = report.format()
    assert "problems:" in text and "benign" in text


def test_clean_dataset_has_no_problems(folder_dataset: Path) -> None:
    report = inspect_dataset(discover(folder_dataset), progress=False)
    assert report.problems == []
    assert report.size_range == {"width": [64, 64], "height": [48, 48]}


def test_single_class_and_single_patient_are_problems(tmp_path: Path) -> None:
    from tests.conftest import write_image

    for i in range(3):
        write_image(tmp_path / "G1" / "p1" / "10x" / f"{i}.png", seed=i)
    report = inspect_dataset(discover(tmp_path), progress=False)
    assert any("only one class" in p for p in report.problems)
    assert any("single patient" in p for p in report.problems)


def test_duplicate_groups_are_transitive() -> None:
    hashes = [
        ImageHashes("a", 0b0),
        ImageHashes("b", 0b11),
        ImageHashes("c", 0b1111),
        ImageHashes("", 0, error="broken"),
        ImageHashes("a", 2**63),
    ]
    assert duplicate_groups(hashes, max_distance=2) == [0, 0, 0, 3, 0]


def test_mammograms_sharing_a_silhouette_are_not_near_duplicates(tmp_path: Path) -> None:
    """Different breasts with one silhouette collide in the perceptual hash (what made
    the hash alone group them); the pixel check keeps them apart, and a re-encoded copy
    (other bytes, same pixels) is still found."""
    from pydicom.uid import RLELossless

    from tests.dicom_files import breast_phantom, write_dicom

    window = {"WindowCenter": 2048, "WindowWidth": 4096}
    for seed in range(6):
        label = "benign" if seed % 2 else "malignant"
        pixels = breast_phantom(256, 208, seed=seed, texture=100, grain=4)
        write_dicom(tmp_path / label / f"m{seed}.dcm", pixels, bits_stored=12, **window)
    copy = breast_phantom(256, 208, seed=0, texture=100, grain=4)
    write_dicom(
        tmp_path / "benign" / "copy.dcm", copy, bits_stored=12, compress=RLELossless, **window
    )
    index = discover(tmp_path)
    hashes = hash_images([r.path for r in index.records], progress=False)
    distinct = [h for r, h in zip(index.records, hashes, strict=True) if "copy" not in r.path]
    closest = min(
        bin(a.phash ^ b.phash).count("1") for i, a in enumerate(distinct) for b in distinct[i + 1 :]
    )
    assert closest <= NEAR_DUPLICATE_DISTANCE  # different breasts collide in the hash
    report = inspect_dataset(index, progress=False)
    assert report.near_duplicates == [["benign/copy.dcm", "malignant/m0.dcm"]]
    assert report.exact_duplicates == []


def test_real_busi_counts_and_known_cross_class_duplicates(shared: Path) -> None:
    index = discover(shared / "data" / "busi_256")
    assert index.class_counts() == {"benign": 437, "malignant": 210, "normal": 133}
    report = inspect_dataset(index, progress=False)
    conflicting = [p for p in report.problems if "different labels" in p]
    # BUSI ships a few scans filed under two classes (checked by eye).
    assert any("benign (433).png" in p and "malignant (145).png" in p for p in conflicting)
    assert report.skipped == {"not an image file (extension '.csv')": ["all_captions.csv"]}
    assert np.isclose(len(report.near_duplicates), 141, atol=15)
