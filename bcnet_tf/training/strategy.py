"""Scale-out with tf.distribute: one name per strategy.

* ``default``     — one device (the GPU if there is one).
* ``mirrored``    — every local GPU (or every logical CPU device) in sync; batches are
  split across replicas, so the global batch size is ``batch_size``.
* ``multiworker`` — synchronous training on several machines. Each worker runs the
  same command with ``TF_CONFIG`` describing the cluster and its own index, e.g.
  ``TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]},
  "task": {"type": "worker", "index": 0}}'``; use a run directory on storage every
  worker can reach. The engine trains it with its own loop
  (:mod:`bcnet_tf.training.distributed`), as Keras' ``fit`` does not run under it.
"""

from __future__ import annotations

import tensorflow as tf

from bcnet_tf.errors import BcnetError

STRATEGIES = ("default", "mirrored", "multiworker")


def get_strategy(name: str = "default") -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy called ``name``.

    Example:
        >>> get_strategy("default").num_replicas_in_sync
        1
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or [
            d.name for d in tf.config.list_logical_devices("CPU")
        ]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise BcnetError(f"strategy must be one of {STRATEGIES}, not {name!r}")
