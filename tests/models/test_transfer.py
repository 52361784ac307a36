"""Real transfer learning on real images: ImageNet SqueezeNet features beat random ones."""

from pathlib import Path

import keras

from bcnet_tf.data.layouts import discover
from bcnet_tf.data.pipeline import make_dataset
from bcnet_tf.data.splits import split_dataset
from bcnet_tf.models import build_model


def test_pretrained_squeezenet_beats_random_init_on_busi(shared: Path) -> None:
    index = discover(shared / "data" / "busi_256")
    split = split_dataset(index, val=0, test=0.25, seed=0, progress=False)  # duplicate-aware
    train = make_dataset(split.train, index.class_names, image_size=160, training=True)
    test = make_dataset(split.test, index.class_names, image_size=160)
    accuracy = {}
    for label, weights in (
        ("imagenet", shared / "weights" / "squeezenet_v1.1_imagenet_notop.h5"),
        ("random", None),
    ):
        keras.utils.set_random_seed(0)
        model = build_model("squeezenet", 3, image_size=160, weights=weights and str(weights))
        model.compile(keras.optimizers.Adam(1e-3), "categorical_crossentropy", metrics=["accuracy"])
        model.fit(train, epochs=10, verbose=0)
        accuracy[label] = model.evaluate(test, verbose=0)[1]
    print(f"frozen SqueezeNet + head on BUSI, held-out accuracy: {accuracy}")
    assert accuracy["imagenet"] > 0.7
    assert accuracy["imagenet"] > accuracy["random"] + 0.1
