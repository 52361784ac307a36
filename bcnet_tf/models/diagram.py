"""Model diagrams with visualkeras' ``layered_view`` (the 3-D block picture).

visualkeras 0.2.0 reads ``layer.output_shape``, which Keras 3 layers no longer have.
:func:`model_diagram` sets that attribute on the model's own layer instances only while
the picture is drawn and removes it afterwards: no class is patched, nothing outlives
the call.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import keras

from bcnet_tf.io import atomic_write_bytes

#: Layers that carry no shape change worth a block in the picture.
_IGNORED = (
    keras.layers.Dropout,
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.BatchNormalization,
    keras.layers.ZeroPadding2D,
)


@contextmanager
def layer_output_shapes(model: keras.Model) -> Iterator[keras.Model]:
    """Give each layer of ``model`` a Keras-2-style ``output_shape`` attribute (on the
    layer instances, not the classes) for the duration of the block.

    Example:
        >>> with layer_output_shapes(model):                 # doctest: +SKIP
        ...     model.get_layer("predictions").output_shape
        (None, 3)
    """
    patched = []
    try:
        for layer in model.layers:
            if not hasattr(layer, "output_shape"):  # nested models have the real property
                object.__setattr__(layer, "output_shape", tuple(layer.output.shape))
                patched.append(layer)
        yield model
    finally:
        for layer in patched:
            layer.__dict__.pop("output_shape", None)


def model_diagram(model: keras.Model, path: str | os.PathLike[str]) -> Path:
    """Draw ``model`` with ``visualkeras.layered_view`` (with a legend) to a PNG file.

    Example:
        >>> model_diagram(build_model("resnet9", 3), "resnet9.png")  # doctest: +SKIP
    """
    import visualkeras  # imported here: it pulls in its drawing stack

    with layer_output_shapes(model):
        image = visualkeras.layered_view(
            model,
            legend_text_spacing_offset=0,  # the default triggers a deprecation warning
            legend=True,
            type_ignore=list(_IGNORED),
            sizing_mode="logarithmic",
            scale_z=0.05,
            min_z=2,
            max_z=24,
            spacing=2,
            max_xy=160,
        )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return atomic_write_bytes(path, buffer.getvalue())
