"""Grouped, stratified splits: no leakage, reproducible, saved and reloaded."""

import json
import warnings
from collections import Counter
from pathlib import Path

import pytest

from bcnet_tf.data.layouts import discover
from bcnet_tf.data.splits import LeakageWarning, Split, kfold_splits, split_dataset
from bcnet_tf.errors import DatasetError, LeakageError
from tests.conftest import write_image


@pytest.fixture
def patient_dataset(tmp_path: Path) -> Path:
    """Databiox-style: 3 grades x 6 patients x 3 images."""
    root = tmp_path / "patients"
    for grade in (1, 2, 3):
        for patient in range(6):
            for i in range(3):
                write_image(
                    root / f"grade_{grade}" / f"p{patient}" / "10X" / f"{i}.png",
                    seed=grade * 100 + patient * 10 + i,
                )
    return root


def _patients(records) -> set:
    return {r.patient for r in records}


def test_patient_split_never_shares_a_patient(patient_dataset: Path) -> None:
    index = discover(patient_dataset)
    split = split_dataset(index, val=0.2, test=0.2, seed=3)
    assert split.group_by == "patient"
    parts = [_patients(split.train), _patients(split.val), _patients(split.test)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert sum(len(p) for p in split.parts.values()) == len(index.records)
    for part in (split.train, split.val, split.test):  # stratified: every grade present
        assert set(Counter(r.label for r in part)) == {"grade_1", "grade_2", "grade_3"}


def test_split_is_reproducible_and_seed_dependent(patient_dataset: Path) -> None:
    index = discover(patient_dataset)
    first = split_dataset(index, seed=1)
    assert first.test == split_dataset(index, seed=1).test
    assert any(split_dataset(index, seed=s).test != first.test for s in range(2, 6))


def test_duplicates_stay_on_one_side(folder_dataset: Path) -> None:
    for i in range(4):  # four copies of one image
        copy = folder_dataset / "benign" / f"copy{i}.png"
        copy.write_bytes((folder_dataset / "benign" / "benign_3.png").read_bytes())
    index = discover(folder_dataset)
    for seed in range(4):
        split = split_dataset(index, val=0.2, test=0.2, seed=seed, progress=False)
        assert split.group_by == "duplicates"
        holding = [
            p
            for p, recs in split.parts.items()
            if any("copy" in r.path or "benign_3" in r.path for r in recs)
        ]
        assert len(holding) == 1


def test_image_level_split_warns_naming_the_leak(patient_dataset: Path) -> None:
    index = discover(patient_dataset)
    with pytest.warns(LeakageWarning, match="patients have images in more than one part"):
        split_dataset(index, seed=0, group_by="image")


def test_save_and_load_round_trip(patient_dataset: Path, tmp_path: Path) -> None:
    index = discover(patient_dataset)
    split = split_dataset(index, seed=0)
    path = split.save(tmp_path / "run" / "split.json", index.root)
    loaded = Split.load(path, index)
    assert loaded.parts == split.parts and loaded.group_by == "patient"
    data = json.loads(path.read_text())
    assert not data["parts"]["train"][0]["path"].startswith("/")  # portable, relative paths


def test_load_detects_leak_and_changed_dataset(patient_dataset: Path, tmp_path: Path) -> None:
    index = discover(patient_dataset)
    path = split_dataset(index, seed=0).save(tmp_path / "split.json", index.root)
    data = json.loads(path.read_text())
    moved = data["parts"]["train"].pop(0)
    test_group = data["parts"]["test"][0]["group"]
    data["parts"]["test"].append({**moved, "group": test_group})
    data["parts"]["train"].append(dict(data["parts"]["test"][0]))
    path.write_text(json.dumps(data))
    with pytest.raises(LeakageError, match="is in both"):
        Split.load(path, index)
    data = json.loads((tmp_path / "split.json").read_text())
    data["parts"]["train"][0]["label"] = "grade_9"
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match="is now 'grade_"):
        Split.load(path, index)
    path.write_text("{}")
    with pytest.raises(DatasetError, match="not a bcnet_tf split"):
        Split.load(path, index)


def test_kfold_covers_every_record_once(patient_dataset: Path) -> None:
    index = discover(patient_dataset)
    folds = kfold_splits(index, k=3, seed=0)
    tested = [r.path for fold in folds for r in fold.test]
    assert sorted(tested) == sorted(r.path for r in index.records)
    for fold in folds:
        assert not _patients(fold.train) & _patients(fold.test)


def test_impossible_requests_fail_clearly(patient_dataset: Path) -> None:
    index = discover(patient_dataset)
    with pytest.raises(DatasetError, match=r"50-fold needs at least 50 groups; .* has 18"):
        kfold_splits(index, k=50)
    with pytest.raises(DatasetError, match="sum below 1"):
        split_dataset(index, val=0.6, test=0.5)
    with pytest.raises(DatasetError, match="has no patient ids"):
        split_dataset(discover(patient_dataset / "grade_1"), group_by="patient")


def test_no_warning_for_grouped_split(patient_dataset: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        split_dataset(discover(patient_dataset), seed=0)


def test_real_breakhis_samples_split_by_patient(shared: Path) -> None:
    index = discover(shared / "data" / "breakhis_samples")
    split = split_dataset(index, val=0, test=0.3, seed=0)
    assert not _patients(split.train) & _patients(split.test)
    # the five images of patient 14-25197 travel together
    assert len({p for p, recs in split.parts.items() for r in recs if r.patient == "14-25197"}) == 1
