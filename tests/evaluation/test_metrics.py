"""Metrics against scikit-learn and imbalanced-learn on hand-made and random cases."""

import numpy as np
import pytest
from imblearn.metrics import (
    geometric_mean_score,
    make_index_balanced_accuracy,
    sensitivity_specificity_support,
)
from sklearn.metrics import (
    balanced_accuracy_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from bcnet_tf.evaluation.metrics import classification_metrics, group_metrics

IBA = make_index_balanced_accuracy(alpha=0.1, squared=True)(geometric_mean_score)


def _probabilities(y_pred: np.ndarray, classes: int, seed: int = 0) -> np.ndarray:
    """Random probabilities whose arg-max is ``y_pred``."""
    rng = np.random.default_rng(seed)
    scores = rng.random((len(y_pred), classes))
    scores[np.arange(len(y_pred)), y_pred] += classes
    return scores / scores.sum(axis=1, keepdims=True)


def _case(seed: int, classes: int, n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    prior = np.linspace(1, 0.15, classes)  # imbalanced
    y_true = rng.choice(classes, n, p=prior / prior.sum())
    y_pred = np.where(rng.random(n) < 0.65, y_true, rng.choice(classes, n))
    return y_true, y_pred


@pytest.mark.parametrize(("seed", "classes"), [(0, 2), (1, 2), (2, 3), (3, 4), (4, 8)])
def test_against_scikit_learn_and_imbalanced_learn(seed: int, classes: int) -> None:
    y_true, y_pred = _case(seed, classes)
    probabilities = _probabilities(y_pred, classes, seed)
    m = classification_metrics(y_true, probabilities, [f"c{k}" for k in range(classes)])
    labels = list(range(classes))
    assert m["accuracy"] == pytest.approx(np.mean(y_true == y_pred))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    for average in ("macro", "weighted"):
        kwargs = dict(labels=labels, average=average, zero_division=0)
        assert m[f"{average}_f1"] == pytest.approx(f1_score(y_true, y_pred, **kwargs))
        assert m[f"{average}_precision"] == pytest.approx(precision_score(y_true, y_pred, **kwargs))
        assert m[f"{average}_recall"] == pytest.approx(recall_score(y_true, y_pred, **kwargs))
    sensitivity, specificity, _ = sensitivity_specificity_support(
        y_true, y_pred, labels=labels, average=None
    )
    per_class = list(m["per_class"].values())
    assert [c["specificity"] for c in per_class] == pytest.approx(specificity)
    assert [c["recall"] for c in per_class] == pytest.approx(sensitivity)
    assert m["gmean"] == pytest.approx(geometric_mean_score(y_true, y_pred))
    if classes == 2:
        assert m["iba"] == pytest.approx(IBA(y_true, y_pred, average="binary"))
    else:  # the mean of imbalanced-learn's one-vs-rest IBAs
        assert m["iba"] == pytest.approx(np.mean(IBA(y_true, y_pred, average=None)))
    auc = (
        roc_auc_score(y_true, probabilities[:, 1])
        if classes == 2
        else roc_auc_score(y_true, probabilities, multi_class="ovr", labels=labels)
    )
    assert m["roc_auc_macro"] == pytest.approx(auc)


def test_roc_auc_with_tied_scores_matches_scikit_learn() -> None:
    """Scores on a coarse grid tie often; a tie counts half, as in scikit-learn."""
    rng = np.random.default_rng(7)
    y_true = rng.choice(3, 80)
    probabilities = np.round(rng.random((80, 3)) + 0.3 * np.eye(3)[y_true], 1)
    m = classification_metrics(y_true, probabilities, ["a", "b", "c"])
    for k, scores in enumerate(m["per_class"].values()):
        assert scores["roc_auc"] == pytest.approx(roc_auc_score(y_true == k, probabilities[:, k]))


def test_iba_is_not_symmetric_in_truth_and_prediction() -> None:
    """The asymmetric case that caught imbalanced-learn's old y_true/y_pred swap."""
    y_true = np.array([0, 0, 0, 0, 1, 1])
    y_pred = np.array([0, 0, 0, 1, 1, 1])  # sensitivity 1, specificity 0.75
    m = classification_metrics(y_true, _probabilities(y_pred, 2), ["benign", "malignant"])
    assert m["iba"] == pytest.approx(IBA(y_true, y_pred, average="binary"))
    assert m["iba"] == pytest.approx((1 + 0.1 * (1 - 0.75)) * 1 * 0.75)  # by hand
    assert m["iba"] != pytest.approx(IBA(y_pred, y_true, average="binary"))
    assert m["per_class"]["malignant"]["specificity"] == pytest.approx(0.75)


def test_confusion_matrix_rows_are_truth_and_absent_classes_are_safe() -> None:
    y_true = np.array([0, 0, 1, 1, 1])
    y_pred = np.array([0, 1, 1, 1, 0])
    m = classification_metrics(y_true, _probabilities(y_pred, 3), ["a", "b", "c"])
    assert m["confusion_matrix"] == [[1, 1, 0], [1, 2, 0], [0, 0, 0]]
    assert np.isnan(m["per_class"]["c"]["roc_auc"])
    assert m["per_class"]["c"]["support"] == 0
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 2 / 3) / 2)  # absent class ignored


def test_patient_level_scores_by_hand() -> None:
    # patient p1: 3 images, 2 right; p2: 2 images, 0 right; p3: 1 image, right.
    y_true = np.array([1, 1, 1, 0, 0, 1])
    y_pred = np.array([1, 1, 0, 1, 1, 1])
    probabilities = _probabilities(y_pred, 2)
    scores = group_metrics(y_true, probabilities, ["p1", "p1", "p1", "p2", "p2", "p3"])
    assert scores["patients"] == 3
    assert scores["patient_recognition_rate"] == pytest.approx((2 / 3 + 0 + 1) / 3)
    assert scores["patient_accuracy"] == pytest.approx(2 / 3)  # p1 and p3 right on average
