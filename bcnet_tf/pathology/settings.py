"""The histology settings a model carries: its stain normaliser and tile spec.

They live in the model file's :class:`~bcnet_tf.models.saving.ModelInfo` ``extra``
(and so in an export bundle's ``spec.json``), so evaluation, explanation, export and the
edge predictor repeat exactly what training did.

Example:
    >>> extra = model_extra(None, TileSpec(size=224))
    >>> from_model_extra(extra)[1].size
    224
"""

from __future__ import annotations

from typing import Any

from bcnet_tf.pathology.stain import StainNormalizer
from bcnet_tf.pathology.tiles import TileSpec


def model_extra(stain: StainNormalizer | None, tiles: TileSpec | None) -> dict[str, Any]:
    """The ``ModelInfo.extra`` entries for these settings (none when both are off)."""
    extra: dict[str, Any] = {}
    if stain is not None:
        extra["stain"] = stain.to_json()
    if tiles is not None:
        extra["tiles"] = tiles.to_json()
    return extra


def from_model_extra(extra: dict[str, Any]) -> tuple[StainNormalizer | None, TileSpec | None]:
    """The stain normaliser and tile spec stored by :func:`model_extra`, or ``None``."""
    stain = StainNormalizer.from_json(extra["stain"]) if "stain" in extra else None
    tiles = TileSpec.from_json(extra["tiles"]) if "tiles" in extra else None
    return stain, tiles
