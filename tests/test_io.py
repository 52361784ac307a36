"""Atomic outputs: a failure never leaves a half-written file or folder; nothing is written
inside a dataset."""

from pathlib import Path

import pytest

from bcnet_tf.errors import DatasetError
from bcnet_tf.io import (
    atomic_directory,
    atomic_write_json,
    atomic_write_text,
    refuse_inside_dataset,
)


def test_atomic_write_replaces_only_on_success(tmp_path: Path, monkeypatch) -> None:
    target = atomic_write_text(tmp_path / "out" / "a.txt", "old")
    assert target.read_text() == "old"

    def broken_replace(*_args):
        raise OSError("disk full")

    monkeypatch.setattr("bcnet_tf.io.os.replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_json(target, {"new": 1})
    assert target.read_text() == "old"
    assert [p.name for p in target.parent.iterdir()] == ["a.txt"]  # no temp file left


def test_atomic_directory(tmp_path: Path) -> None:
    final = tmp_path / "bundle"
    with atomic_directory(final) as tmp:
        (tmp / "labels.txt").write_text("a\n")
        assert not final.exists()
    assert (final / "labels.txt").read_text() == "a\n"
    with pytest.raises(RuntimeError), atomic_directory(final) as tmp:
        (tmp / "labels.txt").write_text("half")
        raise RuntimeError("crash mid-export")
    assert (final / "labels.txt").read_text() == "a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]
    with atomic_directory(final) as tmp:
        (tmp / "labels.txt").write_text("b\n")
    assert (final / "labels.txt").read_text() == "b\n"
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


def test_refuse_inside_dataset(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "benign").mkdir(parents=True)
    (tmp_path / "link").symlink_to(data / "benign")
    (data / "elsewhere").symlink_to(tmp_path, target_is_directory=True)
    refused = {
        "inside": data / "benign" / "run",
        "equal": data,
        "dot-dot back in": tmp_path / "out" / ".." / "data" / "x.json",
        "through a symlink": tmp_path / "link" / "run",
    }
    for case, path in refused.items():
        with pytest.raises(DatasetError) as error:
            refuse_inside_dataset(path, data, flag="--run-dir")
        assert str(error.value) == (
            f"{path} lies inside the dataset folder {data}; bcnet_tf never writes there. "
            "Fix: give --run-dir a path outside it."
        ), case
    for path in (tmp_path / "out", tmp_path / "data-out", data / "elsewhere" / "run"):
        refuse_inside_dataset(path, data)  # outside (also a sibling sharing the prefix)
    with pytest.raises(DatasetError, match="outside"):  # the dataset reached through a link
        refuse_inside_dataset(data / "benign" / "run", tmp_path / "link")
