"""Bootstrap intervals: patients are resampled, resamples that miss a class are skipped
and counted, too few patients per class get no interval; checked against values
worked out by hand and against scikit-learn on the same resamples."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score

from bcnet_tf.evaluation.bootstrap import bootstrap_intervals, bootstrap_text
from bcnet_tf.evaluation.metrics import SCALAR_METRICS
from bcnet_tf.export.card import model_card


def _perfect(patients_per_class: list[int], images: int = 2) -> tuple[np.ndarray, list[str]]:
    """Labels and patient ids: ``images`` images per patient, patients ``p00``, ``p01``..."""
    labels = np.repeat(np.arange(len(patients_per_class)), patients_per_class)
    y_true = np.repeat(labels, images)
    patients = [f"p{p:02d}" for p in np.repeat(np.arange(len(labels)), images)]
    return y_true, patients


def _summary(result, y_true: np.ndarray) -> dict:
    """A ``metrics.json``-like summary of a perfect model's bootstrap."""
    ones = dict.fromkeys(SCALAR_METRICS, 1.0)
    per_class = {"precision": 1.0, "recall": 1.0, "specificity": 1.0, "f1": 1.0, "support": 2}
    return {
        "split": "test",
        "metrics": {"n": len(y_true), **ones, "per_class": {"a": per_class, "b": per_class}},
        "intervals": result.intervals,
        "bootstrap": result.to_json(),
    }


def _card(summary: dict) -> str:
    spec = {
        "architecture": "resnet9",
        "class_names": ["a", "b"],
        "image_size": [32, 32],
        "input": {"pixels": "RGB 0-255", "resize": "bilinear", "normalisation": "none"},
        "bcnet_tf": "0",
        "tensorflow": "2",
        "created": "today",
        "recommended": "model.keras",
        "data": "data",
        "artifacts": {},
    }
    return model_card(spec, summary)


def test_perfect_predictions_give_one_and_resamples_missing_a_class_are_counted() -> None:
    """One patient in class a, three in b: a resample of 4 patients misses a with
    probability (3/4)**4 and b with (1/4)**4, together 82/256. Scoring the missing
    class as 0 would put macro F1's lower bound at 0.5."""
    y_true, patients = _perfect([1, 3])
    probabilities = np.eye(2)[y_true]
    result = bootstrap_intervals(
        y_true, probabilities, ["a", "b"], patients, resamples=1000, min_groups=1
    )
    assert result.intervals == {name: [1.0, 1.0] for name in SCALAR_METRICS}
    assert result.degenerate / 1000 == pytest.approx(82 / 256, abs=0.05)
    assert result.groups == 4 and result.groups_per_class == {"a": 1, "b": 3}
    card = _card(_summary(result, y_true))
    assert "| Macro F1 | 1.000 | 1.000\N{EN DASH}1.000 |" in card
    assert "| IBA | 1.000 | 1.000\N{EN DASH}1.000 |" in card
    assert f"over 1000 resamples of the 4 patients; {result.degenerate} resamples" in card


@pytest.mark.parametrize(
    ("patients_per_class", "reason"),
    [
        ([1, 1], "1 patient in class a, 1 patient in class b (need >= 5 per class)"),
        ([7, 2], "2 patients in class b (need >= 5 per class)"),
    ],
)
def test_too_few_patients_in_a_class_get_no_interval(
    patients_per_class: list[int], reason: str
) -> None:
    y_true, patients = _perfect(patients_per_class)
    result = bootstrap_intervals(y_true, np.eye(2)[y_true], ["a", "b"], patients, resamples=50)
    assert result.intervals == {} and result.degenerate is None
    assert result.refused == reason
    summary = _summary(result, y_true)
    assert bootstrap_text(summary) == f"No confidence intervals: {reason}."
    card = _card(summary)
    assert "| Macro F1 | 1.000 | no interval |" in card and reason in card
    assert "0.333" not in card and "nan" not in card


def test_intervals_match_scikit_learn_on_the_same_resamples() -> None:
    """Imperfect predictions, 2/3/4 patients in three classes: resamples missing a class
    are skipped; the others are scored by scikit-learn, and their percentiles are the
    interval."""
    rng = np.random.default_rng(3)
    patient_class = np.repeat([0, 1, 2], [2, 3, 4])
    images = rng.integers(1, 4, len(patient_class))
    patients = np.repeat([f"p{p}" for p in range(len(patient_class))], images)
    y_true = np.repeat(patient_class, images)
    scores = rng.random((len(y_true), 3)) + 1.5 * np.eye(3)[y_true]
    probabilities = scores / scores.sum(axis=1, keepdims=True)
    result = bootstrap_intervals(
        y_true, probabilities, ["a", "b", "c"], list(patients), resamples=200, seed=5, min_groups=2
    )

    ids = np.unique(patients)
    draws = np.random.default_rng(5).integers(0, len(ids), (200, len(ids)))
    labels = [0, 1, 2]
    reference: dict[str, list[float]] = {"accuracy": [], "bal": [], "f1": [], "auc": []}
    skipped = 0
    for draw in draws:
        rows = np.concatenate([np.flatnonzero(patients == ids[g]) for g in draw])
        truth, probs = y_true[rows], probabilities[rows]
        if set(truth) != set(labels):
            skipped += 1
            continue
        predicted = probs.argmax(1)
        reference["accuracy"].append(accuracy_score(truth, predicted))
        reference["bal"].append(balanced_accuracy_score(truth, predicted))
        reference["f1"].append(
            f1_score(truth, predicted, labels=labels, average="macro", zero_division=0)
        )
        reference["auc"].append(roc_auc_score(truth, probs, multi_class="ovr", labels=labels))
    assert skipped > 10 and result.degenerate == skipped
    for ours, theirs in [
        ("accuracy", "accuracy"),
        ("balanced_accuracy", "bal"),
        ("macro_f1", "f1"),
        ("roc_auc_macro", "auc"),
    ]:
        expected = np.percentile(reference[theirs], [2.5, 97.5])
        assert result.intervals[ours] == pytest.approx(expected), ours


def test_resampling_patients_not_images() -> None:
    """Four patients of ten images, one right and one wrong per class: resampling
    patients gives accuracies in quarters only, and the all-wrong and all-right
    resamples (1/16 each of those with both classes) are beyond the 2.5 % tails.
    Resampling images gives a narrow interval around 0.5."""
    y_true = np.repeat([0, 0, 1, 1], 10)
    right = np.repeat([True, False, True, False], 10)
    probabilities = np.eye(2)[np.where(right, y_true, 1 - y_true)]
    patients = list(np.repeat(["A", "B", "C", "D"], 10))
    by_patient = bootstrap_intervals(
        y_true, probabilities, ["x", "y"], patients, resamples=400, min_groups=2
    )
    assert by_patient.intervals["accuracy"] == [0.0, 1.0]
    by_image = bootstrap_intervals(y_true, probabilities, ["x", "y"], None, resamples=400)
    assert by_image.unit == "image" and by_image.groups == 40
    assert 0.2 < by_image.intervals["accuracy"][0] < 0.5 < by_image.intervals["accuracy"][1] < 0.8


def test_bootstrap_is_seeded_and_covers_the_estimate() -> None:
    rng = np.random.default_rng(1)
    y_true = rng.choice(2, 200)
    probabilities = np.where(rng.random((200, 1)) < 0.8, np.eye(2)[y_true], np.eye(2)[1 - y_true])
    first = bootstrap_intervals(y_true, probabilities * 0.9 + 0.05, ["a", "b"], resamples=300)
    second = bootstrap_intervals(y_true, probabilities * 0.9 + 0.05, ["a", "b"], resamples=300)
    assert first == second and first.degenerate == 0
    accuracy = np.mean(probabilities.argmax(1) == y_true)
    low, high = first.intervals["accuracy"]
    assert low < accuracy < high and high - low < 0.15
