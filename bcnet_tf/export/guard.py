"""Fitting the input guard a bundle carries (:mod:`bcnet_tf.edge.guard` scores it).

Why this method: the features are those of the model's own penultimate layer (the
pooled backbone output), which a frozen ImageNet backbone already separates well by
image type. A Gaussian per class with one shared covariance (Lee et al. 2018) needs
only the class means and one covariance, is fitted in closed form, and is scored with
a few matrix products, so it costs nothing next to the network on a device. With a few
hundred training images and 512+ feature dimensions the sample covariance is singular,
so it is shrunk towards a multiple of the identity by the Ledoit-Wolf rule, which picks
the amount of shrinkage from the data. k-NN on normalised features (Sun et al. 2022)
would have to carry the training features themselves in every bundle.

The threshold is a split-conformal quantile of held-out in-distribution scores: with
``n`` scores, the ``ceil((n + 1) * acceptance)``-th smallest, so a new image from the
same distribution is accepted with probability at least ``acceptance``.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> guard = fit_feature_guard(rng.normal(size=(200, 8)), np.arange(200) % 2)
    >>> bool(guard.score(np.full((1, 8), 20.0))[0] > guard.score(np.zeros((1, 8)))[0])
    True
    >>> acceptance_threshold(np.arange(1.0, 20.0), 0.95)
    19.0
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.covariance import LedoitWolf

from bcnet_tf.edge.guard import FeatureGuard

#: Most covariance directions kept (exact for features of up to this many dimensions).
MAX_COMPONENTS = 512


def fit_feature_guard(
    features: np.ndarray, labels: np.ndarray, max_components: int = MAX_COMPONENTS
) -> FeatureGuard:
    """Class means and the Ledoit-Wolf shrunk covariance of the class-centred
    ``features`` ``(n, d)``, as a :class:`~bcnet_tf.edge.guard.FeatureGuard`.

    Directions past ``max_components`` get the shrinkage floor as their variance
    (exact when the training part spans no more directions).
    """
    features = np.asarray(features, np.float64)
    labels = np.asarray(labels)
    classes = np.unique(labels)
    means = np.stack([features[labels == c].mean(axis=0) for c in classes])
    centred = features - means[np.searchsorted(classes, labels)]
    shrinkage = float(LedoitWolf(assume_centered=True).fit(centred).shrinkage_)
    _, singular, directions = np.linalg.svd(centred / math.sqrt(len(centred)), full_matrices=False)
    variances = singular**2  # eigenvalues of the sample covariance, largest first
    average = float(variances.sum()) / features.shape[1]
    floor = max(shrinkage * average, 1e-6 * average)
    kept = min(max_components, int(np.sum(variances > 1e-12 * variances[0])))
    eigenvalues = (1 - shrinkage) * variances[:kept] + floor
    return FeatureGuard(means, directions[:kept].T, eigenvalues, floor)


def acceptance_threshold(scores: np.ndarray, acceptance: float) -> float:
    """The score at or under which a share ``acceptance`` of new in-distribution images
    fall (split-conformal quantile of held-out ``scores``; their maximum when there are
    too few for the requested share)."""
    if not 0 < acceptance < 1:
        raise ValueError(f"acceptance must be between 0 and 1, not {acceptance}")
    ordered = np.sort(np.asarray(scores, np.float64))
    rank = min(math.ceil((len(ordered) + 1) * acceptance), len(ordered))
    return float(ordered[rank - 1])
