"""Evaluation: the numbers and pictures a clinician and a reviewer need.

===============  ==================================================================
module           concept
===============  ==================================================================
``metrics``      accuracy, balanced accuracy, per-class and macro scores, G-mean,
                 IBA, ROC-AUC, confusion matrix; patient-level scores
``bootstrap``    95 % confidence intervals resampling patients (or images)
``calibration``  ECE, reliability bins, temperature scaling
``predict``      prediction over a dataset (per batch: :mod:`bcnet_tf.models.predict`)
``plots``        the PNG figures
``report``       the self-contained HTML report
``evaluate``     ``evaluate``: run or model -> metrics.json, figures, report
===============  ==================================================================

Example:
    >>> from bcnet_tf.evaluation import evaluate
    >>> result = evaluate("saved_models/resnet9-busi_256", temperature=True)  # doctest: +SKIP
"""

from bcnet_tf.evaluation.evaluate import Evaluation, evaluate
from bcnet_tf.evaluation.metrics import classification_metrics, group_metrics

__all__ = ["Evaluation", "classification_metrics", "evaluate", "group_metrics"]
