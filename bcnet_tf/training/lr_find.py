"""Learning-rate range test (Smith 2015; fastai's ``lr_find``).

Train for a few steps while the learning rate grows exponentially, record the smoothed
loss, stop once it explodes, restore the weights, and suggest a rate with fastai's
"valley" rule (:func:`valley`): inside the longest stretch over which the loss keeps
falling, part-way down. The steepest point of the curve, the older rule, is easily a
blip of the first batches' noise at a tiny rate.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf


def valley(losses: Sequence[float]) -> int:
    """Index of fastai's "valley" suggestion (``fastai.callback.schedule.valley``): the
    longest run of steps (not necessarily adjacent) over which the loss keeps falling
    ends at step ``end`` and has ``n`` steps; go 1/3 + 1/6 of the way from ``end - n``
    to ``end``.

    Example:
        >>> valley([5.0, 9.0, 8.0, 9.5, 7.0, 6.0, 5.0, 4.0, 3.0, 20.0])  # 9, 8, 7, ..., 3
        4
    """
    longest = [1] * len(losses)  # the longest falling run ending at each step
    end = 0
    for i in range(1, len(losses)):
        for j in range(i):
            if losses[i] < losses[j]:
                longest[i] = max(longest[i], longest[j] + 1)
        if longest[i] > longest[end]:
            end = i
    start = max(0, end - longest[end])
    third = (end - start) / 3
    return start + int(third) + int(third / 2)


@dataclass
class LRFinderResult:
    """Rates tried, smoothed losses, and the suggested learning rate (:func:`valley`)."""

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
    suggestion = rates[valley(losses)] if rates else start
    return LRFinderResult(rates, losses, float(suggestion))
