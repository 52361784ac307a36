"""95 % confidence intervals by bootstrap, resampling patients (or images).

Images of one patient are correlated: resampling images would give intervals that
are too narrow. So whole groups (patients, duplicate groups, or single images when
there are no patient ids) are drawn with replacement, and each metric's 2.5th and
97.5th percentiles over the resamples form its interval (the percentile bootstrap).

Resamples that miss a class. The point estimate averages the macro metrics over every
class; a resample without some class cannot measure that quantity. Scoring the absent
class as 0 would drag the interval down (a perfect model's macro-F1 interval would
reach 1/3 with three classes), and averaging over the classes present instead
(TorchMetrics' and torcheval's macro rule) would mix another quantity into the
interval. So such a resample is *degenerate*: it is skipped and counted, as tidymodels'
``rsample::int_pctl`` drops resamples whose statistic is missing, and the interval is
taken over the remaining resamples.

Too few groups. When a class has fewer than ``min_groups`` groups, resamples often
miss it and the few distinct resamples make no meaningful interval: none is computed
and ``refused`` says why. With enough groups per class, degenerate resamples are rare.

Resample ``i`` draws the groups ``numpy.random.default_rng(seed).integers(0, G, (R,
G))[i]`` (``G`` groups in sorted id order, ``R`` resamples), so the same seed gives the
same intervals.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bcnet_tf.console import progress_bar
from bcnet_tf.evaluation.metrics import SCALAR_METRICS, classification_metrics

#: Fewest groups (patients) per class for which intervals are computed.
MIN_GROUPS_PER_CLASS = 5


@dataclass(frozen=True)
class BootstrapResult:
    """Percentile-bootstrap intervals and what they rest on.

    Attributes:
        intervals: ``{metric: [low, high]}`` for every scalar metric; empty when refused
            or when no resample was asked for.
        resamples: resamples asked for.
        level: coverage of the intervals.
        unit: what was resampled (``"patient"``, ``"duplicate group"``, ``"image"``).
        groups: how many groups the intervals rest on.
        groups_per_class: groups holding images of each class.
        min_groups: fewest groups per class for intervals.
        degenerate: resamples skipped because they missed a class (``None`` when no
            resample was drawn).
        refused: why there are no intervals, e.g. ``"2 patients in class grade_1 (need
            >= 5 per class)"``; ``None`` otherwise.
    """

    intervals: dict[str, list[float]]
    resamples: int
    level: float
    unit: str
    groups: int
    groups_per_class: dict[str, int]
    min_groups: int
    degenerate: int | None
    refused: str | None

    def to_json(self) -> dict[str, Any]:
        """What ``metrics.json`` holds under ``bootstrap``: all but the intervals, which
        it holds under ``intervals``."""
        facts = dataclasses.asdict(self)
        del facts["intervals"]
        return facts


def _count(number: int, unit: str) -> str:
    """``"1 patient"``, ``"2 patients"``."""
    return f"{number} {unit}{'' if number == 1 else 's'}"


def _percentile_interval(values: list[float], level: float) -> list[float]:
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return [float("nan"), float("nan")]
    tail = (1 - level) / 2 * 100
    return [float(np.percentile(finite, tail)), float(np.percentile(finite, 100 - tail))]


def bootstrap_intervals(
    y_true: Sequence[int] | np.ndarray,
    probabilities: np.ndarray,
    class_names: Sequence[str],
    groups: Sequence[str] | None = None,
    *,
    unit: str | None = None,
    resamples: int = 1000,
    level: float = 0.95,
    min_groups: int = MIN_GROUPS_PER_CLASS,
    seed: int = 0,
) -> BootstrapResult:
    """Percentile-bootstrap intervals of every scalar metric, resampling groups.

    Args:
        y_true, probabilities, class_names: as for ``classification_metrics``.
        groups: the group (patient id) of each image; ``None`` resamples images.
        unit: a group's name in messages (default ``"patient"``, or ``"image"``
            without groups).
        resamples: bootstrap resamples (0: none).
        level: coverage of the intervals.
        min_groups: fewest groups per class for intervals.
        seed: random seed (the same seed gives the same intervals).

    Example:
        >>> result = bootstrap_intervals(y, p, ["benign", "malignant"], patients)  # doctest: +SKIP
        >>> result.intervals["accuracy"], result.degenerate                      # doctest: +SKIP
        ([0.81, 0.93], 0)
    """
    y_true = np.asarray(y_true, dtype=int)
    probabilities = np.asarray(probabilities, dtype=float)
    unit = unit or ("image" if groups is None else "patient")
    group_ids = (
        np.arange(len(y_true)) if groups is None else np.unique(groups, return_inverse=True)[1]
    )
    members = [np.flatnonzero(group_ids == g) for g in range(group_ids.max() + 1)]
    has_class = np.zeros((len(members), len(class_names)), dtype=bool)
    has_class[group_ids, y_true] = True
    per_class = {name: int(n) for name, n in zip(class_names, has_class.sum(0), strict=True)}
    short = [
        f"{_count(n, unit)} in class {name}" for name, n in per_class.items() if n < min_groups
    ]
    refused = f"{', '.join(short)} (need >= {min_groups} per class)" if short else None
    facts = dict(
        resamples=resamples,
        level=level,
        unit=unit,
        groups=len(members),
        groups_per_class=per_class,
        min_groups=min_groups,
        refused=refused,
    )
    if refused or not resamples:
        return BootstrapResult(intervals={}, degenerate=None, **facts)
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {name: [] for name in SCALAR_METRICS}
    degenerate = 0
    for _ in progress_bar(range(resamples), desc="bootstrap", leave=False, mininterval=1):
        drawn = rng.integers(0, len(members), len(members))
        if not has_class[drawn].any(axis=0).all():
            degenerate += 1
            continue
        rows = np.concatenate([members[g] for g in drawn])
        scores = classification_metrics(y_true[rows], probabilities[rows], class_names)
        for name in SCALAR_METRICS:
            samples[name].append(scores[name])
    intervals = {name: _percentile_interval(values, level) for name, values in samples.items()}
    return BootstrapResult(intervals=intervals, degenerate=degenerate, **facts)


def _number(value: float, digits: int) -> str:
    return "n/a" if value != value else f"{value:.{digits}f}"  # NaN != NaN


def interval_text(summary: Mapping[str, Any], key: str, digits: int = 3) -> str:
    """A metric's interval in an evaluation summary (``metrics.json``) as a person reads
    it: low and high joined by an en dash, ``"no interval"`` (too few groups) or ``""``
    (none computed).

    Example:
        >>> text = interval_text({"intervals": {"accuracy": [0.8123, 0.9341]}}, "accuracy")
        >>> text == "0.812\\N{EN DASH}0.934"
        True
    """
    interval = summary.get("intervals", {}).get(key)
    if interval:
        return f"{_number(interval[0], digits)}\N{EN DASH}{_number(interval[1], digits)}"
    return "no interval" if summary.get("bootstrap", {}).get("refused") else ""


def bootstrap_text(summary: Mapping[str, Any]) -> str:
    """One sentence on an evaluation summary's intervals: how they were made and what
    they rest on, or why there are none; ``""`` when none were asked for.

    Example:
        >>> bootstrap_text({"intervals": {}, "bootstrap": {
        ...     "refused": "2 patients in class grade_1 (need >= 5 per class)"}})
        'No confidence intervals: 2 patients in class grade_1 (need >= 5 per class).'
    """
    facts = summary.get("bootstrap", {})
    if facts.get("refused"):
        return f"No confidence intervals: {facts['refused']}."
    if not summary.get("intervals"):
        return ""
    unit = facts["unit"]
    rest_on = _count(facts["groups"], unit) if "groups" in facts else f"{unit}s"
    text = (
        f"Intervals are {facts['level'] * 100:g} % percentile-bootstrap intervals over "
        f"{facts['resamples']} resamples of the {rest_on}"
    )
    if facts.get("degenerate"):
        text += (
            f"; {_count(facts['degenerate'], 'resample')} that missed a class "
            f"{'was' if facts['degenerate'] == 1 else 'were'} skipped"
        )
    return text + "."
