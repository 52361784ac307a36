"""95 % confidence intervals by bootstrap, resampling patients (or images).

Images of one patient are correlated: resampling images would give intervals that
are too narrow. So whole groups (patients, or single images when there are no patient
ids) are drawn with replacement, and each metric's 2.5th and 97.5th percentiles over
the resamples form its interval (the percentile bootstrap).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from tqdm.auto import tqdm

from bcnet_tf.evaluation.metrics import SCALAR_METRICS, classification_metrics


def bootstrap_intervals(
    y_true: Sequence[int] | np.ndarray,
    probabilities: np.ndarray,
    class_names: Sequence[str],
    groups: Sequence[str] | None = None,
    *,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, list[float]]:
    """``{metric: [low, high]}`` for every scalar metric.

    Args:
        y_true, probabilities, class_names: as for ``classification_metrics``.
        groups: the group (patient id) of each image; ``None`` resamples images.
        resamples: bootstrap resamples.
        level: coverage of the interval.
        seed: random seed (the same seed gives the same intervals).

    Example:
        >>> ci = bootstrap_intervals(y, p, ["benign", "malignant"], patients)  # doctest: +SKIP
        >>> ci["accuracy"]                                                     # doctest: +SKIP
        [0.81, 0.93]
    """
    y_true = np.asarray(y_true, dtype=int)
    probabilities = np.asarray(probabilities, dtype=float)
    group_ids = (
        np.arange(len(y_true)) if groups is None else np.unique(groups, return_inverse=True)[1]
    )
    members = [np.flatnonzero(group_ids == g) for g in range(group_ids.max() + 1)]
    rng = np.random.default_rng(seed)
    samples = {name: [] for name in SCALAR_METRICS}
    for _ in tqdm(range(resamples), desc="bootstrap", leave=False, mininterval=1):
        drawn = rng.integers(0, len(members), len(members))
        rows = np.concatenate([members[g] for g in drawn])
        scores = classification_metrics(y_true[rows], probabilities[rows], class_names)
        for name in SCALAR_METRICS:
            samples[name].append(scores[name])
    tail = (1 - level) / 2 * 100
    intervals = {}
    for name, values in samples.items():
        values = np.asarray(values, dtype=float)
        finite = values[np.isfinite(values)]
        intervals[name] = (
            [float(np.percentile(finite, tail)), float(np.percentile(finite, 100 - tail))]
            if finite.size
            else [float("nan"), float("nan")]
        )
    return intervals
