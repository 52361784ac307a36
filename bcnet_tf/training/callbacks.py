"""Training behaviour as Keras callbacks: threshold stop, NaN guard, atomic checkpoints."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from bcnet_tf.errors import BcnetError
from bcnet_tf.io import atomic_write_json
from bcnet_tf.models.saving import ModelInfo, save_model
from bcnet_tf.training.run_dir import BEST_MODEL, LAST_MODEL


def metric_mode(monitor: str) -> str:
    """``"min"`` for losses and errors, ``"max"`` for accuracy, AUC, F1 and the like."""
    return "min" if "loss" in monitor or "error" in monitor else "max"


class ThresholdStop(keras.callbacks.Callback):
    """Stop training once ``monitor`` passes ``threshold`` (BCNet: val accuracy > 0.88).

    Works for any logged metric: accuracy, AUC, F1 (``"val_f1_score"``), or a loss with
    ``mode="min"``.

    Example:
        >>> stop = ThresholdStop("val_accuracy", 0.88)
    """

    def __init__(self, monitor: str, threshold: float, mode: str | None = None) -> None:
        super().__init__()
        self.monitor = monitor
        self.threshold = threshold
        self.mode = mode or metric_mode(monitor)
        self.stopped_epoch: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise BcnetError(
                f"ThresholdStop monitors {self.monitor!r}, which is not logged; logged: "
                f"{sorted(logs or {})}. Fix: monitor one of those (validation data needed "
                "for val_*)."
            )
        passed = value > self.threshold if self.mode == "max" else value < self.threshold
        if passed:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            print(f"\n{self.monitor} = {value:.4f} passed {self.threshold}: stopping.")


class EpochTime(keras.callbacks.Callback):
    """Add ``epoch_seconds`` (wall time of the epoch, validation included) to the logs,
    so history.csv shows it; list it before ``CSVLogger``."""

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self._start


class TrainingDivergedError(BcnetError):
    """The loss became NaN or infinite."""


class NaNGuard(keras.callbacks.Callback):
    """Stop at the first non-finite loss and remember where (``diverged_at``); the
    engine then raises :class:`TrainingDivergedError` with the likely causes."""

    def __init__(self) -> None:
        super().__init__()
        self.diverged_at: tuple[int, int] | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.diverged_at = (self._epoch, batch)
            self.model.stop_training = True

    def error(self, run_dir: Path, learning_rate: float, policy: str) -> TrainingDivergedError:
        epoch, batch = self.diverged_at or (0, 0)
        return TrainingDivergedError(
            f"the loss became NaN/inf at epoch {epoch + 1}, batch {batch + 1}; training "
            f"stopped. Likely causes: learning rate {learning_rate:g} too high (try it /10, "
            "or lr_find); float16 overflow (policy "
            f"{policy}: retry with precision='float32' to check); corrupt or unnormalised "
            "images (run `bcnet-tf inspect`). Checkpoints saved before it are kept in "
            f"{run_dir / 'checkpoints'}."
        )


class ModelCheckpoints(keras.callbacks.Callback):
    """Save ``model`` (the deployable model, whatever model is being fitted) as
    ``best.keras`` whenever ``monitor`` improves and as ``last.keras`` when training
    ends, atomically; weights that became NaN/inf are never saved. (Resuming uses
    BackupAndRestore's state, not these files.)

    ``best`` persists across resumed runs: pass the best value seen so far. ``info``
    (class names, input size) is saved inside each file.
    """

    def __init__(
        self,
        model: keras.Model,
        info: ModelInfo,
        directory: Path,
        monitor: str,
        best: float | None = None,
    ) -> None:
        super().__init__()
        self.deployable = model
        self.info = info
        self.directory = Path(directory)
        self.monitor = monitor
        self.mode = metric_mode(monitor)
        self.best = best

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is not None and math.isfinite(float(value)):
            better = self.best is None or (
                value > self.best if self.mode == "max" else value < self.best
            )
            if better:
                self.best = float(value)
                save_model(self.deployable, self.directory / BEST_MODEL, self.info)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if all(np.isfinite(weights).all() for weights in self.deployable.get_weights()):
            save_model(self.deployable, self.directory / LAST_MODEL, self.info)


def backup_epoch(backup_dir: Path) -> int | None:
    """The epoch Keras' ``BackupAndRestore`` in ``backup_dir`` resumes at, if any."""
    metadata = Path(backup_dir) / "training_metadata.json"
    return int(json.loads(metadata.read_text())["epoch"]) if metadata.exists() else None


class RandomStateBackup(keras.callbacks.Callback):
    """Checkpoint the random state of every layer (augmentation, dropout) next to Keras'
    ``BackupAndRestore``, which saves weights and optimizer but not seed-generator
    states. With it, a resumed deterministic run repeats an uninterrupted one exactly.

    The state after epoch ``k`` goes to ``backup_dir/rng-epoch<k>.json``; on resume the
    file matching the epoch Keras restores is loaded.
    """

    def __init__(self, backup_dir: Path) -> None:
        super().__init__()
        self.backup_dir = Path(backup_dir)

    def _states(self) -> list[Any]:
        return [v for v in self.model.variables if v.path.endswith("seed_generator_state")]

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        epoch = backup_epoch(self.backup_dir)
        saved = self.backup_dir / f"rng-epoch{epoch}.json"
        if epoch is not None and saved.exists():
            for variable, value in zip(self._states(), json.loads(saved.read_text()), strict=True):
                variable.assign(value)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        states = [np.asarray(v.numpy()).tolist() for v in self._states()]
        atomic_write_json(self.backup_dir / f"rng-epoch{epoch + 1}.json", states)
        (self.backup_dir / f"rng-epoch{epoch - 1}.json").unlink(missing_ok=True)
