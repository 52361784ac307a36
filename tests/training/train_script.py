"""A training run in its own process, for the resume and strategy tests.

    python tests/training/train_script.py RUN_DIR [--kill-at EPOCH,BATCH]
        [--logical-cpus N] [--strategy mirrored|multiworker] [--model NAME]
        [--epochs N]
        [--augment POLICY] [--learning-rate LR] [--save-weights FILE.npz]

--kill-at sends SIGKILL to this very process after that batch (0-based), as a crash
would; --logical-cpus splits the CPU into N logical devices before TensorFlow starts.
Prints the SHA-256 of the final weights on success.
"""

import argparse
import hashlib
import os
import signal

import keras
import numpy as np
import tensorflow as tf

from bcnet_tf.training import phase, train

SETTINGS = dict(
    model="resnet9",
    weights=None,
    image_size=32,
    batch_size=16,
    epochs=3,
    augment="histology",
    deterministic=True,
    seed=3,
    learning_rate=1e-3,
    precision="float32",
)


class KillAt(keras.callbacks.Callback):
    def __init__(self, epoch: int, batch: int) -> None:
        super().__init__()
        self.target, self.epoch = (epoch, batch), -1

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.target:
            os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("--kill-at")
    parser.add_argument("--logical-cpus", type=int, default=0)
    parser.add_argument("--strategy", default="default")
    parser.add_argument("--model", default=SETTINGS["model"])
    parser.add_argument("--epochs", type=int, default=SETTINGS["epochs"])
    parser.add_argument("--augment", default=SETTINGS["augment"])
    parser.add_argument("--learning-rate", type=float, default=SETTINGS["learning_rate"])
    parser.add_argument("--save-weights", help="also save the final weights (.npz)")
    args = parser.parse_args()
    if args.logical_cpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * args.logical_cpus
        )
    if args.kill_at:
        epoch, batch = map(int, args.kill_at.split(","))
        make_callbacks = phase._callbacks

        def with_killer(*a, **k):
            callbacks = make_callbacks(*a, **k)
            callbacks.all.append(KillAt(epoch, batch))
            return callbacks

        phase._callbacks = with_killer
    settings = {
        **SETTINGS,
        "strategy": args.strategy,
        "model": args.model,
        "epochs": args.epochs,
        "augment": args.augment,
        "learning_rate": args.learning_rate,
    }
    if args.strategy != "default":
        settings.update(deterministic=False)
    result = train(run_dir=args.run_dir, **settings)
    if args.save_weights:
        np.savez(args.save_weights, *[v.numpy() for v in result.model.weights])
    digest = hashlib.sha256(b"".join(v.numpy().tobytes() for v in result.model.weights))
    print("WEIGHTS", digest.hexdigest(), "EPOCHS", len(result.history))


if __name__ == "__main__":
    main()
