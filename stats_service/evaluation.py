"""Evaluation metrics in production, from predictions joined with their delayed labels.

Pure: a joined frame in, metrics out (``mlmon.metrics``: binary, multi-class, regression). A window is *mature*
once its end is older than the label delay; before that its labels are still arriving and its metrics would be
biased, so it is reported as immature, not as zeros. With fewer than ``min_labels`` labels it is reported as
insufficient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from mlmon.metrics import binary_metrics, multiclass_metrics, regression_metrics
from mlmon.spec import ModelSpec
from mlmon.store.fields import LABEL, LABEL_OBSERVED_AT, TIMESTAMP, DocField

EvalStatus = Literal["ok", "immature", "insufficient_labels", "no_traffic"]
ALL = "all"  # the segment of every prediction


@dataclass
class EvalResult:
    model_version: str | None  # None: no predictions in the window, so no version either
    segment: str  # ALL or "<feature>=<value>"
    status: EvalStatus
    predictions: int
    labelled: int
    metrics: dict[str, float] = field(default_factory=dict)
    label_lag_s: float | None = None  # median seconds from prediction to label
    invalid_labels: int = 0  # labels that are not a class (classification) or not a number (regression)

    @property
    def coverage(self) -> float:
        return self.labelled / self.predictions if self.predictions else 0.0


def valid_labels(spec: ModelSpec, labels: pd.Series) -> np.ndarray:
    """Which labels can be scored: a class name (classification) or a finite number (regression).

    A label of the wrong type (``1.0`` or ``"maybe"`` for a classifier) would otherwise count as a negative
    and bias every metric without a trace; it is excluded and counted instead."""
    if spec.prediction.kind == "classification":
        classes = set(spec.prediction.classes or [])
        return np.array([isinstance(v, str) and v in classes for v in labels], dtype=bool)
    values = []
    for v in labels:
        ok = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        values.append(ok and math.isfinite(float(v)))
    return np.array(values, dtype=bool)


def evaluate(spec: ModelSpec, joined: pd.DataFrame, *, mature: bool, min_labels: int) -> list[EvalResult]:
    """Metrics per model version and per declared segment value, plus coverage and label lag."""
    if joined.empty:
        return [EvalResult(None, ALL, "no_traffic", 0, 0)]
    results: list[EvalResult] = []
    for version, rows in joined.groupby(DocField.MODEL_VERSION, sort=True):
        groups: list[tuple[str, pd.DataFrame]] = [(ALL, rows)]
        for segment in spec.segments:
            if segment in rows.columns:
                for value, part in rows.groupby(rows[segment].fillna("__missing__"), sort=True):
                    groups.append((f"{segment}={value}", part))
        for name, part in groups:
            results.append(_evaluate_group(spec, str(version), name, part, mature=mature, min_labels=min_labels))
    return results


def _evaluate_group(
    spec: ModelSpec, version: str, segment: str, rows: pd.DataFrame, *, mature: bool, min_labels: int
) -> EvalResult:
    labelled = rows[rows[LABEL].notna() & rows[DocField.SCORE].notna()]
    valid = valid_labels(spec, labelled[LABEL])
    invalid = int((~valid).sum())
    labelled = labelled[valid]
    lag = None
    if len(labelled) and LABEL_OBSERVED_AT in labelled.columns:
        observed = pd.to_datetime(labelled[LABEL_OBSERVED_AT], utc=True)
        delta = observed - pd.to_datetime(labelled[TIMESTAMP], utc=True)
        lag = float(delta.dt.total_seconds().median())
    result = EvalResult(version, segment, "ok", len(rows), len(labelled), label_lag_s=lag, invalid_labels=invalid)
    if not mature:
        result.status = "immature"
        return result
    if len(labelled) < min_labels:
        result.status = "insufficient_labels"
        return result
    scores = labelled[DocField.SCORE].to_numpy(dtype=float)
    prediction = spec.prediction
    if prediction.binary:
        truth = labelled[LABEL].astype(str).to_numpy()
        result.metrics = binary_metrics(truth, scores, str(prediction.positive), prediction.threshold)
    elif prediction.kind == "classification":
        truth = labelled[LABEL].astype(str).to_numpy()
        result.metrics = multiclass_metrics(truth, labelled[DocField.PREDICTED_LABEL].astype(str).to_numpy())
    else:
        result.metrics = regression_metrics(labelled[LABEL].to_numpy(dtype=float), scores)
    return result
