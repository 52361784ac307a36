"""Training under ``MultiWorkerMirroredStrategy``, where Keras' ``fit`` does not run.

:func:`fit_distributed` trains with a ``strategy.run`` step of its own and drives the
same Keras callbacks as ``fit`` (checkpoints, history, NaN guard, stoppers): the loss
is averaged over the global batch, gradients are all-reduced by the optimizer, and the
metrics are computed on the gathered global batch, so every worker logs the same
values and takes the same decision to stop. :class:`WorkerBackup` replaces Keras'
``BackupAndRestore``, which is not multi-worker aware: only the chief writes the run
directory.

Example:
    >>> is_chief(tf.distribute.get_strategy())
    True
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from bcnet_tf.io import atomic_write_json


def is_multiworker(strategy: tf.distribute.Strategy) -> bool:
    """Whether ``strategy`` spans several processes (``fit`` does not work under it)."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run directory: the only process, or the chief
    of a multi-worker cluster (worker 0 unless ``TF_CONFIG`` names a chief)."""
    return bool(strategy.extended.should_checkpoint)


def synchronize_batch_norm(layer: keras.layers.Layer) -> None:
    """Make every ``BatchNormalization`` in ``layer`` use the statistics of the global
    batch, so the workers keep the same moving statistics and train as one process
    would on the whole batch.

    Example:
        >>> norm = keras.layers.BatchNormalization()
        >>> synchronize_batch_norm(keras.Sequential([keras.Input((4,)), norm]))
        >>> norm.synchronized
        True
    """
    if isinstance(layer, keras.layers.BatchNormalization):
        layer.synchronized = True
    for inner in getattr(layer, "layers", []):
        synchronize_batch_norm(inner)


class WorkerBackup:
    """The trainer's and optimizer's state after each epoch, for resuming after any
    worker dies. Every worker takes part in a save (a collective operation); the
    chief saves into ``directory``, the others into a temporary folder they delete.
    On resume every worker restores the chief's checkpoint. The finished epoch is
    written where :func:`~bcnet_tf.training.callbacks.backup_epoch` reads it."""

    def __init__(
        self,
        directory: Path,
        trainer: keras.Model,
        optimizer: keras.optimizers.Optimizer,
        chief: bool,
    ) -> None:
        self.directory = Path(directory)
        self.chief = chief
        self.checkpoint = tf.train.Checkpoint(model=trainer, optimizer=optimizer)

    def restore(self) -> None:
        latest = tf.train.latest_checkpoint(str(self.directory))
        if latest is not None:
            self.checkpoint.restore(latest).assert_existing_objects_matched()

    def save(self, epoch: int) -> None:
        target = self.directory if self.chief else Path(tempfile.mkdtemp())
        tf.train.CheckpointManager(self.checkpoint, str(target), max_to_keep=1).save()
        if self.chief:
            atomic_write_json(self.directory / "training_metadata.json", {"epoch": epoch + 1})
        else:
            shutil.rmtree(target)

    def remove(self) -> None:
        if self.chief:
            shutil.rmtree(self.directory, ignore_errors=True)


def _sharded_by_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


class _Steps:
    """The compiled train and evaluation steps of one trainer."""

    def __init__(
        self,
        strategy: tf.distribute.Strategy,
        trainer: keras.Model,
        loss: keras.losses.Loss,
        class_weight: dict[int, float] | None,
    ) -> None:
        self.strategy = strategy
        self.trainer = trainer
        self.loss = loss
        self.weights = (
            None
            if class_weight is None
            else tf.constant([class_weight[i] for i in range(len(class_weight))], tf.float32)
        )

    def _average_loss(self, y: tf.Tensor, p: tf.Tensor) -> tf.Tensor:
        """This replica's share of the mean loss over the global batch (exact for an
        uneven last batch too)."""
        per_example = self.loss.call(y, p)
        if self.weights is not None:
            per_example *= tf.gather(self.weights, tf.argmax(y, axis=-1))
        replica = tf.distribute.get_replica_context()
        count = replica.all_reduce("sum", tf.cast(tf.shape(y)[0], tf.float32))
        return tf.reduce_sum(per_example) / tf.maximum(count, 1.0)

    def _train_replica(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        trainer, optimizer = self.trainer, self.trainer.optimizer
        with tf.GradientTape() as tape:
            p = tf.cast(trainer(x, training=True), tf.float32)
            loss = self._average_loss(y, p)
            if trainer.losses:
                loss += tf.add_n(trainer.losses) / self.strategy.num_replicas_in_sync
            scaled = optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled, trainer.trainable_variables)
        optimizer.apply_gradients(zip(gradients, trainer.trainable_variables, strict=True))
        return loss, p

    def _eval_replica(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        p = tf.cast(self.trainer(x, training=False), tf.float32)
        return self._average_loss(y, p), p

    def _global(self, per_replica: Any, batch: tuple[Any, Any]) -> tuple[tf.Tensor, ...]:
        loss, p = per_replica
        total = self.strategy.reduce("sum", loss, axis=None)
        return total, self.strategy.gather(batch[1], axis=0), self.strategy.gather(p, axis=0)

    @tf.function
    def train(self, iterator: Any) -> tuple[tf.Tensor, ...]:
        batch = next(iterator)
        return self._global(self.strategy.run(self._train_replica, args=batch), batch)

    @tf.function
    def evaluate(self, batch: Any) -> tuple[tf.Tensor, ...]:
        return self._global(self.strategy.run(self._eval_replica, args=batch), batch)


def _results(metrics: Sequence[keras.metrics.Metric], prefix: str = "") -> dict[str, float]:
    return {f"{prefix}{m.name}": float(m.result()) for m in metrics}


def _update(metrics: Sequence[keras.metrics.Metric], y: tf.Tensor, p: tf.Tensor) -> None:
    for metric in metrics:
        metric.update_state(y, p)


def fit_distributed(
    strategy: tf.distribute.Strategy,
    trainer: keras.Model,
    train_data: tf.data.Dataset,
    val_data: tf.data.Dataset,
    *,
    loss: keras.losses.Loss,
    metrics: Sequence[keras.metrics.Metric],
    start: int,
    epochs: int,
    steps_per_epoch: int,
    callbacks: Sequence[keras.callbacks.Callback],
    backup_dir: Path,
    class_weight: dict[int, float] | None = None,
) -> None:
    """Train ``trainer`` (compiled with its optimizer in ``strategy``'s scope) as
    ``fit`` would, from epoch ``start`` (the one its backup in ``backup_dir``
    finished, if any) to ``epochs``.

    ``train_data`` yields global batches for those epochs, as one stream;
    ``metrics`` are plain Keras metrics made outside the strategy's scope.

    Example:
        >>> fit_distributed(strategy, trainer, stream, val, loss=loss, metrics=metrics,
        ...                 start=0, epochs=10, steps_per_epoch=25, callbacks=callbacks,
        ...                 backup_dir=run_dir / "backup")  # doctest: +SKIP
    """
    steps = _Steps(strategy, trainer, loss, class_weight)
    with strategy.scope():
        trainer.optimizer.build(trainer.trainable_variables)
    backup = WorkerBackup(backup_dir, trainer, trainer.optimizer, is_chief(strategy))
    backup.restore()
    batches = iter(strategy.experimental_distribute_dataset(_sharded_by_data(train_data)))
    val = strategy.experimental_distribute_dataset(_sharded_by_data(val_data))
    hooks = keras.callbacks.CallbackList(list(callbacks), model=trainer)
    trainer.stop_training = False
    hooks.on_train_begin()
    logs: dict[str, float] = {}
    for epoch in range(start, epochs):
        hooks.on_epoch_begin(epoch)
        for metric in metrics:
            metric.reset_state()
        train_loss = keras.metrics.Mean()
        for step in range(steps_per_epoch):
            batch_loss, y, p = steps.train(batches)
            train_loss.update_state(batch_loss, sample_weight=tf.shape(y)[0])
            _update(metrics, y, p)
            logs = {"loss": float(train_loss.result())}
            hooks.on_train_batch_end(step, logs)
            if trainer.stop_training:
                break
        logs.update(_results(metrics))
        for metric in metrics:
            metric.reset_state()
        val_loss = keras.metrics.Mean()
        for batch in val:
            batch_loss, y, p = steps.evaluate(batch)
            val_loss.update_state(batch_loss, sample_weight=tf.shape(y)[0])
            _update(metrics, y, p)
        logs.update({"val_loss": float(val_loss.result()), **_results(metrics, "val_")})
        hooks.on_epoch_end(epoch, logs)
        backup.save(epoch)
        if trainer.stop_training:
            break
    hooks.on_train_end(logs)
    backup.remove()
