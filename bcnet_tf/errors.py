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


class LeakageError(DatasetError):
    """A split puts one patient (or one duplicate group) into two parts."""
