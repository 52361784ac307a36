"""Training engine: resumable, reproducible runs with the studies' schedules.

==================  ==============================================================
module              concept
==================  ==============================================================
``config``          ``TrainConfig``: every setting of a run, saved as JSON
``engine``          ``train``: run directory, split, phases, resume
``plans``           the schedules as phases (constant, one-cycle, switch, fine-tune)
``optimizers``      one-cycle, schedule offsets, discriminative learning rates
``callbacks``       threshold stop, NaN guard, atomic checkpoints
``fast_path``       frozen backbone: cached features, head-only training
``lr_find``         learning-rate range test with plot and suggestion
``precision``       ``precision="auto"``
``strategy``        tf.distribute strategies
==================  ==============================================================
"""

from bcnet_tf.training.config import TrainConfig
from bcnet_tf.training.engine import TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "train"]
