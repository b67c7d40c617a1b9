"""Classification metrics shared by the fine-tuned model and its bag-of-events baseline.

Both are scored by this one function on the same held-out users, so their numbers compare.
Two classes: ROC-AUC and PR-AUC (average precision) of the positive class (index 1), F1 of the
positive class. More classes: one-vs-rest macro averages. AUCs are None when the held-out part
holds a single class (undefined), never a made-up 0.5.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    roc_auc_score,
)


def classification_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
    """Metrics of class probabilities `proba` (n, C) against labels `y_true` (n,) in 0..C-1."""
    y_true = np.asarray(y_true, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    C = proba.shape[1]
    pred = proba.argmax(axis=1)  # (n,)
    binary = C == 2
    result: dict[str, Any] = {
        "examples": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, pred)),
        "f1": float(
            f1_score(
                y_true,
                pred,
                average="binary" if binary else "macro",
                labels=None if binary else list(range(C)),
                zero_division=0,
            )
        ),
        "roc_auc": _roc_auc(y_true, proba),
        "pr_auc": _pr_auc(y_true, proba),
        "confusion_matrix": confusion_matrix(y_true, pred, labels=list(range(C))).tolist(),
    }
    if binary:
        result["positive_rate"] = float(np.mean(y_true == 1))
    return result


def _roc_auc(y_true: np.ndarray, proba: np.ndarray) -> float | None:
    present = np.unique(y_true)
    if len(present) < 2:
        return None
    if proba.shape[1] == 2:
        return float(roc_auc_score(y_true, proba[:, 1]))
    if len(present) < proba.shape[1]:
        return None  # one-vs-rest needs every class among the held-out labels
    return float(roc_auc_score(y_true, proba, multi_class="ovr", average="macro"))


def _pr_auc(y_true: np.ndarray, proba: np.ndarray) -> float | None:
    if len(np.unique(y_true)) < 2:
        return None
    if proba.shape[1] == 2:
        return float(average_precision_score(y_true, proba[:, 1]))
    onehot = np.eye(proba.shape[1])[y_true]  # (n, C)
    has = onehot.sum(axis=0) > 0  # classes present; AP is undefined for absent ones
    return float(average_precision_score(onehot[:, has], proba[:, has], average="macro"))


def selection_score(metrics: dict[str, Any]) -> float:
    """The number early stopping maximises: ROC-AUC when defined, else accuracy."""
    auc = metrics.get("roc_auc")
    return float(auc) if auc is not None else float(metrics["accuracy"])
