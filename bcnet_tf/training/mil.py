"""Attention-MIL head: slide labels learned from the slides' tile features.

A slide is a bag of tissue tiles with one label. After a whole-slide run's tile phases,
each slide's tiles (up to ``BAG_TILES``, chosen at random once) go through the best
checkpoint's backbone once; their pooled features are cached in the run directory; a
small head, gated attention pooling (:class:`~bcnet_tf.models.layers.GatedAttentionPooling`,
Ilse et al. 2018) then a softmax layer, learns the slide labels from them in seconds.
The attention weights say which tiles the slide's prediction rests on.

Example:
    >>> head = train_attention_mil(files, split, names, config, stain)  # doctest: +SKIP
    >>> probabilities, attention = mil_predict(head, tile_features)      # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from bcnet_tf.console import fit_verbosity, progress_bar
from bcnet_tf.data.records import ImageRecord
from bcnet_tf.data.slides import tile_reader
from bcnet_tf.models.factory import FEATURE_LAYER
from bcnet_tf.models.layers import GatedAttentionPooling
from bcnet_tf.models.saving import ModelInfo, load_model, save_model
from bcnet_tf.pathology.settings import model_extra
from bcnet_tf.pathology.slide_index import slide_tiles
from bcnet_tf.pathology.stain import StainNormalizer
from bcnet_tf.pathology.tiles import TileSpec
from bcnet_tf.training.config import TrainConfig
from bcnet_tf.training.run_dir import RunDir

#: Most tiles of one slide in a training bag.
BAG_TILES = 256


def build_mil_head(features: int, classes: int, units: int = 64) -> keras.Model:
    """Bags of ``(tiles, features)`` and their ``(tiles,)`` padding masks -> slide
    class probabilities.

    Example:
        >>> build_mil_head(512, 2).output_shape
        (None, 2)
    """
    bag = keras.Input((None, features), name="tiles")
    mask = keras.Input((None,), dtype="bool", name="mask")
    pooled, _ = GatedAttentionPooling(units, name="attention")(bag, mask=mask)
    hidden = keras.layers.Dropout(0.25)(pooled)
    output = keras.layers.Dense(classes, activation="softmax", name="slide")(hidden)
    return keras.Model([bag, mask], output, name="attention_mil")


def mil_predict(head: keras.Model, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One slide's class probabilities and its tiles' attention weights from the
    ``(tiles, features)`` of all its tiles."""
    attention = keras.Model(head.inputs, [head.outputs[0], head.get_layer("attention").output[1]])
    inputs = [features[None].astype("float32"), np.ones((1, len(features)), bool)]
    probabilities, weights = attention.predict_on_batch(inputs)
    return np.asarray(probabilities[0], np.float64), np.asarray(weights[0], np.float64)


def tile_features(
    model: keras.Model,
    records: Sequence[ImageRecord],
    tiles: TileSpec,
    stain: StainNormalizer | None,
    seed: int,
    batch_size: int = 32,
) -> tuple[np.ndarray, np.ndarray]:
    """Each slide's bag: pooled features of up to ``BAG_TILES`` of its tissue tiles,
    zero-padded to one length, ``(slides, tiles, features)``, and the padding mask."""
    extractor = keras.Model(model.input, model.get_layer(FEATURE_LAYER).output)
    rng = np.random.default_rng(seed)
    bags = []
    for record in progress_bar(records, desc="tile features", unit="slide"):
        found = slide_tiles(record.path, tiles)
        corners = found.corners[rng.permutation(len(found.corners))[:BAG_TILES]]
        read = tile_reader([found], tiles, stain)
        chunks = [
            extractor.predict_on_batch(
                np.stack([read(0, y, x) for y, x in corners[i : i + batch_size]]).astype("float32")
            )
            for i in range(0, len(corners), batch_size)
        ]
        bags.append(np.concatenate(chunks).astype(np.float32))
    longest = max(len(bag) for bag in bags)
    padded = np.zeros((len(bags), longest, bags[0].shape[1]), np.float32)
    mask = np.zeros((len(bags), longest), bool)
    for i, bag in enumerate(bags):
        padded[i, : len(bag)], mask[i, : len(bag)] = bag, True
    return padded, mask


def _cached_bags(
    model: keras.Model,
    files: RunDir,
    split_parts: dict[str, list[ImageRecord]],
    config: TrainConfig,
    stain: StainNormalizer | None,
) -> dict[str, np.ndarray]:
    cache = files.features("attention_mil")
    if cache.exists():
        with np.load(cache) as saved:
            return dict(saved)
    assert config.tiles is not None
    bags: dict[str, np.ndarray] = {}
    for part, records in split_parts.items():
        bags[part], bags[f"{part}_mask"] = tile_features(
            model, records, config.tiles, stain, config.seed, config.batch_size
        )
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f".{cache.stem}.tmp.npz")
    np.savez(tmp, **bags)
    os.replace(tmp, cache)
    return bags


def train_attention_mil(
    files: RunDir,
    split_parts: dict[str, list[ImageRecord]],
    names: Sequence[str],
    config: TrainConfig,
    stain: StainNormalizer | None,
) -> Path:
    """Train the attention-MIL head on the best checkpoint's tile features of the
    ``train`` and ``val`` slides; save it beside the checkpoint (``files.mil``)."""
    assert config.tiles is not None
    model, _ = load_model(files.best)
    bags = _cached_bags(model, files, split_parts, config, stain)
    keras.utils.set_random_seed(config.seed)

    def targets(part: str) -> np.ndarray:
        labels = [names.index(r.label) for r in split_parts[part]]
        return keras.utils.to_categorical(labels, len(names))

    head = build_mil_head(bags["train"].shape[-1], len(names))
    head.compile(
        keras.optimizers.Adam(config.learning_rate),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    print(f"attention-MIL head: {len(bags['train'])} training slides, {config.epochs} epochs")
    head.fit(
        [bags["train"], bags["train_mask"]],
        targets("train"),
        batch_size=min(config.batch_size, len(bags["train"])),
        epochs=config.epochs,
        validation_data=([bags["val"], bags["val_mask"]], targets("val")),
        verbose=fit_verbosity(),
    )
    size = (config.tiles.size, config.tiles.size)
    info = ModelInfo(tuple(names), "attention_mil", size, model_extra(stain, config.tiles))
    return save_model(head, files.mil, info)
