"""Errors bcnet_tf raises on bad input: each message names the file and the fix."""

from __future__ import annotations


class BcnetError(Exception):
    """Base class of every error bcnet_tf raises on purpose."""


class DatasetError(BcnetError, ValueError):
    """A dataset folder or manifest cannot be used as given."""


class ImageDecodeError(DatasetError):
    """One image file cannot be decoded.

    Attributes:
        path: the file that failed.
        reason: what is wrong with it, without the advice.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"cannot read image {path}: {reason}. Fix: replace or delete the file, or "
            "run `bcnet-tf inspect` on the dataset to list every unreadable file."
        )


class SlideError(DatasetError):
    """One whole-slide image cannot be used.

    Attributes:
        path: the slide file.
        reason: what is wrong with it, without the advice.
    """

    def __init__(self, path: str, reason: str, fix: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"cannot use slide {path}: {reason}. Fix: {fix}")


class LeakageError(DatasetError):
    """A split puts one patient (or one duplicate group) into two parts."""


#: Top-level modules of each optional install, for the "pip install" hint.
_EXTRAS = {
    "train": ("tensorflow", "keras", "sklearn", "scipy", "matplotlib", "imagehash", "visualkeras"),
    "edge": ("ai_edge_litert",),
    "app": ("gradio",),
    "dicom": ("pydicom", "gdcm"),
    "slides": ("openslide",),
    "batch": ("apache_beam", "pyarrow"),
}


def missing_extra_hint(error: ModuleNotFoundError) -> str | None:
    """The install command that provides the module ``error`` found missing, if it
    belongs to one of bcnet_tf's extras.

    Example:
        >>> missing_extra_hint(ModuleNotFoundError(name="tensorflow"))
        "tensorflow is not installed. Fix: pip install 'bcnet_tf[train]'"
    """
    top = (error.name or "").split(".")[0]
    for extra, modules in _EXTRAS.items():
        if top in modules:
            return f"{top} is not installed. Fix: pip install 'bcnet_tf[{extra}]'"
    return None
