"""What bcnet_tf's programs show on a terminal: progress bars, TensorFlow's start-up log,
and errors as one line.

=========================  ==========================================================
name                       what it does
=========================  ==========================================================
:func:`progress_bar`       a tqdm bar that draws only on a terminal (a log file gets
                           no carriage-return updates)
:func:`fit_verbosity`      the same rule for Keras' ``fit`` progress bar
:class:`ArgumentParser`    argparse with usage errors in one line
:func:`quiet_tensorflow`   hides TensorFlow's C++ start-up log unless ``--verbose``
:func:`run_program`        a program's body with bcnet_tf errors, OS errors and a
                           missing extra printed as one line and an exit status
=========================  ==========================================================

The ``bcnet-tf`` command line and every recipe use the last two the same way.
"""

from __future__ import annotations

import argparse
import errno
import importlib.abc
import importlib.machinery
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import Any, NoReturn

from tqdm.auto import tqdm

from bcnet_tf.errors import BcnetError, missing_extra_hint

VERBOSE_FLAG = "--verbose"


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with a usage error (an unknown flag, a value not among the choices) in
    one line that points to ``--help``, instead of the whole usage block first.

    Example:
        >>> ArgumentParser(prog="bcnet-tf").parse_args(["--nope"])  # doctest: +SKIP
        bcnet-tf: error: unrecognized arguments: --nope. Fix: see `bcnet-tf --help`.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}. Fix: see `{self.prog} --help`.\n")


def progress_bar(iterable: Any = None, *, enabled: bool = True, **options: Any) -> tqdm:
    """A tqdm progress bar on stderr, drawn only when stderr is a terminal.

    Example:
        >>> for path in progress_bar(paths, desc="hashing images"):  # doctest: +SKIP
        ...     ...
    """
    return tqdm(iterable, disable=None if enabled else True, **options)


def fit_verbosity() -> int | str:
    """Keras ``fit(verbose=...)``: a live progress bar on a terminal, else one line per
    epoch (no carriage-return updates in log files).

    Example:
        >>> model.fit(data, verbose=fit_verbosity())  # doctest: +SKIP
    """
    return "auto" if sys.stdout.isatty() else 2


def add_verbose_flag(parser: argparse.ArgumentParser) -> None:
    """The ``--verbose`` flag (read by :func:`quiet_tensorflow` before parsing)."""
    parser.add_argument(
        VERBOSE_FLAG,
        action="store_true",
        help="show TensorFlow's start-up and C++ log (hidden by default; "
        "use it when TensorFlow fails to start)",
    )


def quiet_tensorflow(argv: Sequence[str]) -> None:
    """Hide TensorFlow's C++ log from a program, unless ``argv`` holds ``--verbose``.

    ``TF_CPP_MIN_LOG_LEVEL`` becomes 3 (unless set already), and while TensorFlow's
    native libraries load, what they print to stderr before their logging is
    initialised (oneDNN, CUDA and CPU-feature notices, absl's "All log messages
    before absl::InitializeLog()") goes to a temporary file, replayed if the import
    fails. No other output is touched. It must run before TensorFlow is imported, so
    programs call it with their raw arguments before parsing them.

    Example:
        >>> quiet_tensorflow(sys.argv[1:])  # doctest: +SKIP
    """
    if VERBOSE_FLAG in argv or "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if not any(isinstance(finder, _QuietFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())


@contextmanager
def _native_stderr_captured() -> Iterator[None]:
    """Send file descriptor 2 to a temporary file; write it back if the body raises."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            os.write(2, captured.read())
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class _QuietLoader(importlib.abc.Loader):
    """Runs the real loader of ``tensorflow`` under :func:`_native_stderr_captured`."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = module.__spec__.loader = self.loader  # the real one from now on
        with _native_stderr_captured():
            self.loader.exec_module(module)


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as usual (once), with a :class:`_QuietLoader`."""

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


#: What to do about an OS error, by errno.
_OS_FIXES = {
    errno.ENOSPC: "free disk space, or choose an output folder on another disk",
    errno.EACCES: "choose a location you have permission to use, or change its permissions",
    errno.EPERM: "choose a location you have permission to use, or change its permissions",
    errno.EROFS: "the file system is read-only; choose an output folder on a writable one",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "a part of the path is a file, not a folder; check the path",
    errno.EISDIR: "the path is a folder; give a file name",
    errno.EADDRINUSE: "the port is in use; choose another --port",
}


def describe_os_error(error: OSError) -> str:
    """One line for an OS error: the path(s), what went wrong and the fix.

    Example:
        >>> describe_os_error(OSError(errno.EISDIR, "Is a directory", "runs"))
        'runs: Is a directory. Fix: the path is a folder; give a file name.'
    """
    paths = " -> ".join(str(p) for p in (error.filename, error.filename2) if p is not None)
    fix = _OS_FIXES.get(error.errno, "check the path, then run the command again")
    return f"{f'{paths}: ' if paths else ''}{error.strerror or error}. Fix: {fix}."


def run_program(program: str, body: Callable[[], Any]) -> int:
    """Run a program's ``body`` and return its exit status.

    An ``int`` that ``body`` returns is the status; anything else means 0. bcnet_tf's
    own errors and a missing optional install print ``<program>: error: <message>``
    (status 2), an OS error (disk full, permission denied, read-only folder) prints its
    path and the fix (status 1): one line on stderr, no traceback. Other exceptions
    are bugs and keep their traceback.

    Example:
        >>> sys.exit(run_program("bcnet-tf inspect", lambda: run(args)))  # doctest: +SKIP
    """
    try:
        status = body()
    except BcnetError as error:
        message, status = str(error), 2
    except ModuleNotFoundError as error:
        hint = missing_extra_hint(error)
        if hint is None:
            raise
        message, status = hint, 2
    except OSError as error:
        message, status = describe_os_error(error), 1
    else:
        return status if isinstance(status, int) else 0
    print(f"{program}: error: {message}", file=sys.stderr)
    return status
