"""Hard-swish spelled out before int8 conversion, so that XNNPACK runs every op.

The converter fuses ``x * relu6(x + 3) / 6`` into one ``HARD_SWISH`` op. XNNPACK runs
``HARD_SWISH`` in float only: in an int8 file each one falls back to LiteRT's own int8
kernel and cuts the graph into one more XNNPACK partition, so MobileNetV3's int8 file
runs slower than its float file. Spelled ``relu6(x + 3) * (x / 6)``, a form the
converter leaves alone, the same function becomes a multiply, an add with a fused ReLU6
and a multiply, which XNNPACK runs in int8.
"""

from __future__ import annotations

from typing import Any

import keras

from bcnet_tf.models.factory import copy_model

#: Names Keras serialises the hard-swish activation under.
HARD_SWISH = ("hard_silu", "hard_swish")


def spelled_hard_swish(x: Any) -> Any:
    """``hard_swish(x)`` written as ``relu6(x + 3) * (x / 6)``. In this operand order
    the int8 file is as close to Keras as with the fused op; in the other, the
    converter's quantiser gives ``x / 6`` a range as wide as the product's.

    Example:
        >>> float(spelled_hard_swish(keras.ops.convert_to_tensor(1.0)))
        0.6666666865348816
    """
    return keras.ops.multiply(keras.ops.relu6(x + 3.0), keras.ops.multiply(x, 1.0 / 6.0))


def _activation(layer: keras.layers.Layer) -> str | None:
    activation = getattr(layer, "activation", None)
    return keras.activations.serialize(activation) if callable(activation) else None


def spell_out_hard_swish(model: keras.Model) -> tuple[keras.Model, list[str]]:
    """A copy of ``model`` whose hard-swish activations (``Activation`` layers and
    layers with ``activation="hard_swish"``) compute :func:`spelled_hard_swish`, and
    those layers' names (``model`` itself and ``[]`` when it has none).

    The copy computes the same function and serves the int8 conversion only: it is
    never saved as a ``.keras`` file.

    Example:
        >>> inputs = keras.Input((4, 4, 3))
        >>> hidden = keras.layers.Conv2D(2, 1, activation="hard_swish", name="conv")(inputs)
        >>> spelled, layers = spell_out_hard_swish(keras.Model(inputs, hidden))
        >>> layers
        ['conv']
    """
    names = [layer.name for layer in model.layers if _activation(layer) in HARD_SWISH]
    if not names:
        return model, []
    copy = copy_model(model)
    for name in names:
        copy.get_layer(name).activation = spelled_hard_swish
    return copy, names
