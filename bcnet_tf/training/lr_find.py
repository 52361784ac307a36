"""Learning-rate range test (Smith 2015; fastai's ``lr_find``).

Train for a few steps while the learning rate grows exponentially, record the smoothed
loss, stop once it explodes, restore the weights, and suggest the rate where the loss
fell fastest, leaving out the first tenth of the steps, where the smoothed loss is still
mostly the noise of the first batches (fastai leaves out as many).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf


@dataclass
class LRFinderResult:
    """Rates tried, smoothed losses, and the suggested learning rate (steepest descent)."""

    learning_rates: list[float]
    losses: list[float]
    suggestion: float

    def to_json(self) -> dict[str, Any]:
        """``{"learning_rate": suggestion, "learning_rates": [...], "losses": [...]}``.

        Example:
            >>> LRFinderResult([1e-4, 1e-3], [0.7, 0.5], 1e-3).to_json()["learning_rate"]
            0.001
        """
        return {
            "learning_rate": self.suggestion,
            "learning_rates": self.learning_rates,
            "losses": self.losses,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LRFinderResult:
        """The result :meth:`to_json` wrote."""
        return cls(data["learning_rates"], data["losses"], data["learning_rate"])

    def plot(self, path: str | os.PathLike[str]) -> Path:
        """Save the loss-vs-rate curve (log x axis) with the suggestion marked, as PNG."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axis = plt.subplots(figsize=(6, 4))
        axis.plot(self.learning_rates, self.losses)
        axis.axvline(
            self.suggestion,
            color="tab:red",
            linestyle="--",
            label=f"suggested {self.suggestion:.1e}",
        )
        axis.set(
            xscale="log",
            xlabel="learning rate",
            ylabel="loss (smoothed)",
            title="Learning-rate range test",
        )
        axis.legend()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.tmp.png")
        figure.savefig(tmp, dpi=120, bbox_inches="tight")
        plt.close(figure)
        os.replace(tmp, path)
        return path


def lr_find(
    model: keras.Model,
    data: tf.data.Dataset,
    *,
    start: float = 1e-7,
    end: float = 10.0,
    steps: int = 100,
    loss: str | keras.losses.Loss = "categorical_crossentropy",
) -> LRFinderResult:
    """Run the range test on ``model`` with batches from ``data`` (repeated as needed).

    The model's weights are restored afterwards; it is compiled with Adam.

    Example:
        >>> result = lr_find(model, train_batches)  # doctest: +SKIP
        >>> result.plot("run/lr_find.png"); result.suggestion  # doctest: +SKIP
    """
    saved = [variable.numpy() for variable in model.variables]
    optimizer = keras.optimizers.Adam(start)
    model.compile(optimizer, loss)
    factor = (end / start) ** (1 / max(1, steps - 1))
    rates, losses, smoothed, best = [], [], 0.0, math.inf
    for step, (x, y) in enumerate(data.repeat().take(steps)):
        rate = start * factor**step
        optimizer.learning_rate.assign(rate)
        value = float(model.train_on_batch(x, y))
        smoothed = 0.98 * smoothed + 0.02 * value
        debiased = smoothed / (1 - 0.98 ** (step + 1))
        if not math.isfinite(debiased) or debiased > 4 * best:
            break
        best = min(best, debiased)
        rates.append(rate)
        losses.append(debiased)
    for variable, value in zip(model.variables, saved, strict=True):
        variable.assign(value)
    # The first tenth of the steps' smoothed loss is mostly the first batches' noise.
    skip = steps // 10 if len(losses) - steps // 10 >= 3 else 0
    if len(losses) < 3:
        suggestion = rates[0] if rates else start
    else:
        slope = np.gradient(np.array(losses[skip:]), np.log(np.array(rates[skip:])))
        suggestion = rates[skip + int(np.argmin(slope[1:-1])) + 1]
    return LRFinderResult(rates, losses, float(suggestion))
