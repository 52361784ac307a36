"""Evaluation: the numbers and pictures a clinician and a reviewer need.

====================  ==================================================================
module                concept
====================  ==================================================================
``metrics``           accuracy, balanced accuracy, per-class and macro scores, G-mean,
                      IBA, ROC-AUC, confusion matrix; patient-level scores
``bootstrap``         95 % confidence intervals resampling patients (or images)
``calibration``       ECE, reliability bins, temperature scaling
``predict``           prediction over a dataset (per batch: :mod:`bcnet_tf.models.predict`)
``plots``             the PNG figures
``report``            the self-contained HTML report
``evaluate``          ``evaluate``: run or model -> metrics.json, figures, report
``cross_validation``  ``cross_validation_report``: a cross-validation's folds ->
                      per-fold metrics, mean ± sd, pooled out-of-fold evaluation, report
====================  ==================================================================

Example:
    >>> from bcnet_tf.evaluation import evaluate
    >>> result = evaluate("saved_models/resnet9-busi_256", temperature=True)  # doctest: +SKIP
"""

from bcnet_tf.evaluation.cross_validation import CrossValidationReport, cross_validation_report
from bcnet_tf.evaluation.evaluate import Evaluation, evaluate
from bcnet_tf.evaluation.metrics import classification_metrics, group_metrics

__all__ = [
    "CrossValidationReport",
    "Evaluation",
    "classification_metrics",
    "cross_validation_report",
    "evaluate",
    "group_metrics",
]
