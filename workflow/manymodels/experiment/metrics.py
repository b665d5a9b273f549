"""Built-in metrics by name, and the few metric functions scikit-learn lacks in this form.

A config may name a metric instead of spelling it out: ``metrics: {acc: accuracy, auc: roc_auc}``.
Each built-in knows which estimator output it compares to the label (``response``: the first
of the listed methods the estimator has) and whether greater is better.
"""

from __future__ import annotations

import math

PROBA_OR_DECISION = ["predict_proba", "decision_function"]

BUILTIN_METRICS = {
    # classification
    "accuracy": {"function": "sklearn.metrics.accuracy_score", "greater_is_better": True},
    "balanced_accuracy": {"function": "sklearn.metrics.balanced_accuracy_score", "greater_is_better": True},
    "f1_macro": {"function": "manymodels.experiment.metrics.f1_macro", "greater_is_better": True},
    "roc_auc": {"function": "manymodels.experiment.metrics.roc_auc", "response": PROBA_OR_DECISION, "labels": True,
                "greater_is_better": True},
    "log_loss": {"function": "sklearn.metrics.log_loss", "response": ["predict_proba"], "labels": True,
                 "greater_is_better": False},
    # regression
    "r2": {"function": "sklearn.metrics.r2_score", "greater_is_better": True},
    "rmse": {"function": "manymodels.experiment.metrics.rmse", "greater_is_better": False},
    "mae": {"function": "sklearn.metrics.mean_absolute_error", "greater_is_better": False},
    # streaming (progressive validation, computed while learning; see manymodels.streaming)
    "progressive_loss": {"progressive": "model", "greater_is_better": False},
    "null_loss": {"progressive": "null", "greater_is_better": False},
    "relative_score": {"progressive": "relative", "greater_is_better": True},
    # clustering against reference labels
    "ars": {"function": "sklearn.metrics.adjusted_rand_score", "greater_is_better": True},
    # clustering against the data: f(X, labels), X as the final step sees it
    "silhouette": {"function": "sklearn.metrics.silhouette_score", "against": "features", "greater_is_better": True},
    "calinski_harabasz": {"function": "sklearn.metrics.calinski_harabasz_score", "against": "features",
                          "greater_is_better": True},
    "davies_bouldin": {"function": "sklearn.metrics.davies_bouldin_score", "against": "features",
                       "greater_is_better": False},
}


def f1_macro(y_true, y_pred) -> float:
    from sklearn.metrics import f1_score

    return f1_score(y_true, y_pred, average="macro")


def rmse(y_true, y_pred) -> float:
    from sklearn.metrics import mean_squared_error

    return math.sqrt(mean_squared_error(y_true, y_pred))


def roc_auc(y_true, scores, *, labels=None) -> float:
    """ROC AUC from probabilities or decision scores; one-vs-rest for more than two classes."""
    from sklearn.metrics import roc_auc_score

    if scores.ndim == 2 and scores.shape[1] == 2:
        scores = scores[:, 1]
    if scores.ndim == 2:
        return roc_auc_score(y_true, scores, multi_class="ovr", labels=labels)
    return roc_auc_score(y_true, scores)
