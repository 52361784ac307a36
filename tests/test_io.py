"""Atomic outputs: a failure never leaves a half-written file or folder."""

from pathlib import Path

import pytest

from bcnet_tf.io import atomic_directory, atomic_write_json, atomic_write_text


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
