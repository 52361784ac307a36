"""Training engine: resumable, reproducible runs with the studies' schedules.

====================  ==============================================================
module                concept
====================  ==============================================================
``config``            ``TrainConfig``: every setting of a run, saved as JSON
``run_dir``           the run directory's files: paths, reading and writing; what a
                      command works on (``resolve_source``)
``run_setup``         what a run starts from, made once: settings, split, stain
``engine``            ``train``: set up or resume the run, then its phases in turn
``cross_validation``  ``cross_validate``: a resumable run per grouped, stratified fold
``phase``             one phase: freeze, images or cached features, compile, fit
``plans``             the schedules as phases (constant, one-cycle, switch, fine-tune)
``optimizers``        one-cycle, schedule offsets, discriminative learning rates
``resizing``          progressive resizing: smaller input first, weights carried over
``callbacks``         threshold stop, NaN guard, atomic checkpoints
``fast_path``         frozen backbone: cached features, head-only training
``lr_find``           learning-rate range test with plot and suggestion
``precision``         ``precision="auto"``
``strategy``          tf.distribute strategies
====================  ==============================================================
"""

from typing import Any

from bcnet_tf.training.config import TrainConfig

__all__ = ["CrossValidation", "TrainConfig", "TrainResult", "cross_validate", "train"]


def __getattr__(name: str) -> Any:
    """``train``, ``cross_validate`` and their results import TensorFlow, so only when
    first used: the CLI reads ``TrainConfig`` to build its flags on devices without
    TensorFlow."""
    if name in ("train", "TrainResult"):
        from bcnet_tf.training import engine

        return getattr(engine, name)
    if name in ("cross_validate", "CrossValidation"):
        from bcnet_tf.training import cross_validation

        return getattr(cross_validation, name)
    raise AttributeError(f"module 'bcnet_tf.training' has no attribute {name!r}")
