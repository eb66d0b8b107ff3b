"""Evaluation metrics in NumPy and pandas (no scikit-learn needed to monitor; tests pin them against it).

- binary classification: accuracy, precision, recall, f1 (of the positive class), positive_rate, roc_auc
  (undefined with one class among the labels: left out);
- multi-class: accuracy and macro-averaged precision, recall, f1 (classes absent from both truth and
  prediction are left out of the average);
- regression: mae, rmse, mape (over non-zero targets).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def _safe_div(num: float, den: float) -> float:
    return num / den if den else 0.0


def roc_auc(truth: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann–Whitney U with mid-ranks for ties); None with a single class."""
    positives = truth.astype(bool)
    n_pos = int(positives.sum())
    n_neg = len(positives) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = pd.Series(scores).rank(method="average").to_numpy()  # mid-ranks for ties
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def binary_metrics(truth: np.ndarray, scores: np.ndarray, positive: str, threshold: float) -> dict[str, float]:
    y = truth == positive
    predicted = scores >= threshold
    tp = float(np.sum(y & predicted))
    fp = float(np.sum(~y & predicted))
    fn = float(np.sum(y & ~predicted))
    precision, recall = _safe_div(tp, tp + fp), _safe_div(tp, tp + fn)
    metrics = {
        "accuracy": float(np.mean(y == predicted)) if len(y) else 0.0,
        "precision": precision,
        "recall": recall,
        "f1": _safe_div(2 * precision * recall, precision + recall),
        "positive_rate": float(predicted.mean()) if len(y) else 0.0,
    }
    auc = roc_auc(y, scores)
    if auc is not None:
        metrics["roc_auc"] = auc
    return metrics


def multiclass_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    classes = sorted(set(truth.tolist()) | set(predicted.tolist()))
    precisions, recalls, f1s = [], [], []
    for cls in classes:
        tp = float(np.sum((truth == cls) & (predicted == cls)))
        p = _safe_div(tp, float(np.sum(predicted == cls)))
        r = _safe_div(tp, float(np.sum(truth == cls)))
        precisions.append(p)
        recalls.append(r)
        f1s.append(_safe_div(2 * p * r, p + r))
    return {
        "accuracy": float(np.mean(truth == predicted)) if len(truth) else 0.0,
        "precision": float(np.mean(precisions)) if classes else 0.0,
        "recall": float(np.mean(recalls)) if classes else 0.0,
        "f1": float(np.mean(f1s)) if classes else 0.0,
    }


def regression_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    error = predicted - truth
    metrics = {"mae": float(np.mean(np.abs(error))), "rmse": float(math.sqrt(np.mean(error**2)))}
    nonzero = truth != 0
    if nonzero.any():
        metrics["mape"] = float(np.mean(np.abs(error[nonzero] / truth[nonzero])))
    return metrics
