"""Atomic file output and the user cache folder.

Everything bcnet_tf writes goes through here: a temporary sibling first, then an
atomic rename, so a crash never leaves a half-written file that looks final.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bcnet_tf.errors import DatasetError


def cache_dir(*parts: str) -> Path:
    """Return (and create) a folder under the bcnet_tf cache.

    The cache is ``$BCNET_TF_CACHE`` if set, else ``~/.cache/bcnet_tf``.

    Example:
        >>> cache_dir("synthetic")  # doctest: +SKIP
        PosixPath('/home/me/.cache/bcnet_tf/synthetic')
    """
    root = Path(os.environ.get("BCNET_TF_CACHE", Path.home() / ".cache" / "bcnet_tf"))
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def refuse_inside_dataset(
    path: str | os.PathLike[str], dataset_root: str | os.PathLike[str], flag: str = "--out"
) -> None:
    """Raise :class:`~bcnet_tf.errors.DatasetError` if ``path`` is, or lies under, the dataset.

    Every command calls this before it writes, so bcnet_tf never writes into a dataset
    folder. Both paths are resolved first: a symlink that leads into the dataset is refused.

    Args:
        path: the file or folder about to be written (it need not exist yet).
        dataset_root: the dataset folder.
        flag: the option that set ``path``, named in the fix.

    Example:
        >>> refuse_inside_dataset("/data/runs/resnet9", "/data/busi")  # outside: returns None
        >>> refuse_inside_dataset("/data/busi/runs", "/data/busi", flag="--run-dir")
        Traceback (most recent call last):
        bcnet_tf.errors.DatasetError: /data/busi/runs lies inside the dataset folder /data/busi; ...
    """
    if Path(path).resolve().is_relative_to(Path(dataset_root).resolve()):
        raise DatasetError(
            f"{path} lies inside the dataset folder {dataset_root}; bcnet_tf never writes "
            f"there. Fix: give {flag} a path outside it."
        )


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and an atomic rename.

    Example:
        >>> atomic_write_bytes("/tmp/bcnet_example.bin", b"hello")  # doctest: +SKIP
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno is not None:  # name the file, not tmp
            raise OSError(error.errno, error.strerror, str(path)) from error
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically (see :func:`atomic_write_text`)."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


@contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Build a folder in a temporary sibling and rename it into place on success.

    If the body raises, the temporary folder is removed and ``path`` is untouched.
    An existing ``path`` is replaced only after the new folder is complete.

    Example:
        >>> with atomic_directory("/tmp/bundle") as tmp:  # doctest: +SKIP
        ...     (tmp / "labels.txt").write_text("benign\\nmalignant\\n")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if path.exists():
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        os.replace(path, old)
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
