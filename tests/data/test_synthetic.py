"""The embedded synthetic dataset: deterministic, patient-structured, learnable."""

import hashlib
from pathlib import Path

import keras

from bcnet_tf.data.layouts import discover
from bcnet_tf.data.pipeline import make_dataset
from bcnet_tf.data.splits import split_dataset
from bcnet_tf.data.synthetic import synthetic_dataset


def _digest(folder: Path) -> str:
    files = sorted(folder.rglob("*.png"))
    return hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()


def _small(seed: int, root: Path) -> Path:
    return synthetic_dataset(
        seed, patients_per_grade=2, tiles_per_patient=2, size=48, root=root, progress=False
    )


def test_deterministic_and_cached(tmp_path: Path) -> None:
    first = _small(5, tmp_path / "a")
    again = _small(5, tmp_path / "b")
    other = _small(6, tmp_path / "a")
    assert _digest(first) == _digest(again) != _digest(other)
    mtime = first.stat().st_mtime_ns
    assert _small(5, tmp_path / "a") == first
    assert first.stat().st_mtime_ns == mtime  # reused, not redrawn
    assert not [p for p in (tmp_path / "a").iterdir() if p.name.startswith(".")]  # no temp left


def test_discovered_as_databiox_with_patients() -> None:
    index = discover(synthetic_dataset(progress=False))  # default: in the (test) cache
    assert index.layout == "databiox"
    assert index.class_counts() == {"grade_1": 48, "grade_2": 48, "grade_3": 48}
    assert len({r.patient for r in index.records}) == 24
    assert [s.reason for s in index.skipped] == ["not an image file (extension '.txt')"]


def test_small_cnn_learns_it_well_above_chance() -> None:
    keras.utils.set_random_seed(0)
    index = discover(synthetic_dataset(progress=False))
    split = split_dataset(index, val=0, test=0.25, seed=0)
    train = make_dataset(
        split.train,
        index.class_names,
        image_size=64,
        batch_size=16,
        training=True,
        augment="histology",
    )
    test = make_dataset(split.test, index.class_names, image_size=64, batch_size=64)
    model = keras.Sequential(
        [
            keras.Input((64, 64, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
            keras.layers.Conv2D(32, 3, strides=2, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.Adam(3e-3), "categorical_crossentropy", metrics=["accuracy"])
    model.fit(train, epochs=25, verbose=0)
    _, accuracy = model.evaluate(test, verbose=0)
    print(f"synthetic held-out accuracy {accuracy:.3f}")
    assert accuracy > 0.8, accuracy  # chance is 1/3; held-out patients only
