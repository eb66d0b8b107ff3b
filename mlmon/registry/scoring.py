"""Scoring a registered model object, whatever trained it.

Accepted objects (loaded from a joblib or pickle file): anything with

- ``predict(frame)`` returning one number per row, for ``prediction.kind: regression``;
- ``predict_proba(frame)`` returning one row of class probabilities per row and ``classes_`` naming the
  columns, for ``prediction.kind: classification``. ``classes_`` must be the spec's class names, or, for a
  binary model, ``[0, 1]`` / ``[False, True]`` (1 / True is then the spec's positive class).

The frame has one column per spec feature, in spec order: numeric ``float64`` (NaN = missing), categorical
``object`` holding ``str`` (``None`` = missing), boolean ``object`` holding ``True``/``False`` (``None`` =
missing) — the types ``get_historical_features`` gives a model trained on Feast data.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlmon.errors import ConfigError
from mlmon.spec import ModelSpec

# The frame ``rows_frame`` built last in each thread (weakly held): already typed, ``model_frame`` passes it on.
# (Not ``DataFrame.attrs``: pandas deep-copies those on every derived object, a model's own calls included.)
_built = threading.local()


def model_frame(spec: ModelSpec, rows: pd.DataFrame) -> pd.DataFrame:
    """Spec features in spec order, typed as described in the module docstring (the frame ``rows_frame`` just
    built in this thread is returned as it is)."""
    built = getattr(_built, "frame", None)
    if built is not None and built() is rows and list(rows.columns) == spec.feature_names:
        return rows
    out = pd.DataFrame(index=rows.index)
    for feature in spec.features:
        column = rows[feature.name] if feature.name in rows.columns else pd.Series(None, index=rows.index)
        if feature.type == "numeric":
            out[feature.name] = pd.to_numeric(column, errors="coerce").astype("float64")
        elif feature.type == "boolean":
            out[feature.name] = column.map(_as_bool).astype(object)
        else:
            out[feature.name] = column.map(lambda v: None if _missing(v) else str(v)).astype(object)
    return out


def rows_frame(spec: ModelSpec, rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Validated rows — numbers as float (or int) or None, categories as str or None, booleans as bool or None,
    as the request parsers give them — as the frame ``model_frame`` would build, in one pass per column and one
    DataFrame construction (a single float block when every feature is numeric): the serving path's frame."""
    names, columns, numeric = _layout(spec)
    nan = math.nan
    if all(numeric):
        matrix = np.array([[nan if (v := row.get(n)) is None else v for n in names] for row in rows], dtype=np.float64)
        frame = pd.DataFrame(matrix.reshape(len(rows), len(names)), columns=columns, copy=False)
    else:
        data: dict[str, np.ndarray] = {}
        for name, is_numeric in zip(names, numeric, strict=True):
            if is_numeric:
                data[name] = np.array([nan if (v := row.get(name)) is None else v for row in rows], dtype=np.float64)
            else:
                column = np.empty(len(rows), dtype=object)
                column[:] = [row.get(name) for row in rows]
                data[name] = column
        frame = pd.DataFrame(data, columns=columns, copy=False)
    _built.frame = weakref.ref(frame)
    return frame


_LAYOUTS: dict[int, tuple[ModelSpec, list[str], pd.Index, list[bool]]] = {}


def _layout(spec: ModelSpec) -> tuple[list[str], pd.Index, list[bool]]:
    """Feature names, their (immutable, shared) column index and which are numeric, built once per spec."""
    cached = _LAYOUTS.get(id(spec))
    if cached is None or cached[0] is not spec:
        if len(_LAYOUTS) > 64:
            _LAYOUTS.clear()
        names = spec.feature_names
        cached = _LAYOUTS[id(spec)] = (spec, names, pd.Index(names), [f.type == "numeric" for f in spec.features])
    return cached[1], cached[2], cached[3]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _as_bool(value: Any) -> bool | None:
    if _missing(value):
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


@dataclass(frozen=True)
class Scored:
    """Per row: the score (positive-class probability, predicted-class probability, or value) and the label
    (class name; None for regression)."""

    scores: np.ndarray
    labels: list[str | None]


class ModelScorer:
    """Wraps a user's model object for its spec; built once, checked at construction."""

    def __init__(self, spec: ModelSpec, model: Any, source: str = "the model") -> None:
        self.spec = spec
        self.model = model
        prediction = spec.prediction
        self._class_of_column: list[str] = []
        if prediction.kind == "regression":
            if not callable(getattr(model, "predict", None)):
                raise ConfigError(f"{source}: has no predict() method", hint="register a fitted regressor")
            if callable(getattr(model, "predict_proba", None)) and hasattr(model, "classes_"):
                raise ConfigError(
                    f"{source}: is a classifier (it has predict_proba and classes_) but the spec says "
                    "prediction.kind: regression",
                    hint="set prediction.kind: classification with its classes, or register the regressor",
                )
            return
        if not callable(getattr(model, "predict_proba", None)) or not hasattr(model, "classes_"):
            raise ConfigError(
                f"{source}: has no predict_proba() and classes_, so it cannot serve prediction.kind: classification",
                hint="register a fitted classifier, or set prediction.kind: regression",
            )
        self._class_of_column = self._map_classes(list(model.classes_), source)

    def _map_classes(self, model_classes: list[Any], source: str) -> list[str]:
        classes = list(self.spec.prediction.classes or [])
        as_text = [str(c) for c in model_classes]
        if sorted(as_text) == sorted(classes):
            return as_text
        positive, negative = self.spec.prediction.positive, self.spec.prediction.negative
        if positive and negative and len(model_classes) == 2:
            numeric = [int(c) if isinstance(c, (bool, np.bool_)) else c for c in model_classes]
            if sorted(numeric) == [0, 1]:
                return [positive if c == 1 else negative for c in numeric]
        raise ConfigError(
            f"{source}: predicts classes {as_text}, the spec's classes are {classes}",
            hint="make prediction.classes the model's classes_ (for a 0/1 model: two classes, positive_class = 1's)",
        )

    def score(self, frame: pd.DataFrame) -> Scored:
        """Score a frame from :func:`model_frame`."""
        if self.spec.prediction.kind == "regression":
            values = np.asarray(self.model.predict(frame), dtype=float).reshape(-1)
            return Scored(values, [None] * len(values))
        proba = np.asarray(self.model.predict_proba(frame), dtype=float)
        if proba.ndim != 2 or proba.shape[1] != len(self._class_of_column):
            raise ValueError(f"predict_proba returned shape {proba.shape}, expected (n, {len(self._class_of_column)})")
        prediction = self.spec.prediction
        if prediction.binary:
            column = self._class_of_column.index(str(prediction.positive))
            scores = proba[:, column]
            positive, negative = prediction.positive, prediction.negative
            above = (scores >= prediction.threshold).tolist()
            finite = np.isfinite(scores).tolist()
            labels: list[str | None] = [
                (positive if up else negative) if ok else None for up, ok in zip(above, finite, strict=True)
            ]
            return Scored(scores, labels)
        best = np.argmax(proba, axis=1)
        scores = proba[np.arange(len(best)), best]
        labels = [self._class_of_column[i] if math.isfinite(s) else None for i, s in zip(best, scores, strict=True)]
        return Scored(scores, labels)

    def label_for(self, score: float) -> str | None:
        """Binary: the label a score stands for (threshold); multi-class and regression have no such rule."""
        prediction = self.spec.prediction
        if not prediction.binary or not math.isfinite(score):
            return None
        return prediction.positive if score >= prediction.threshold else prediction.negative


def check_scores(spec: ModelSpec, scored: Scored, rows: int, source: str) -> None:
    """A model must give one finite output per row for the rows mlmon builds from the spec."""
    if len(scored.scores) != rows:
        raise ConfigError(f"{source}: returned {len(scored.scores)} outputs for {rows} rows")
    finite = np.isfinite(scored.scores)
    if not finite.any():
        raise ConfigError(f"{source}: returned no finite output for rows of the spec's features")


def labels_of(spec: ModelSpec, values: Sequence[Any]) -> list[str | None]:
    """Precomputed predictions as labels (classification) — or None per row for regression."""
    if spec.prediction.kind == "regression":
        return [None] * len(values)
    return [None if _missing(v) else str(v) for v in values]


def label_values(spec: ModelSpec, labels: pd.Series) -> list[Any]:
    """Ground truth as mlmon compares it: a class name (classification; 0/1 and False/True also name the
    negative/positive class of a binary model) or a finite number (regression); None when unusable."""
    prediction = spec.prediction
    out: list[Any] = []
    classes = set(prediction.classes or [])
    for value in labels:
        if _missing(value):
            out.append(None)
        elif prediction.kind == "regression":
            try:
                number = float(value)
            except (TypeError, ValueError):
                out.append(None)
                continue
            out.append(number if math.isfinite(number) and not isinstance(value, (bool, str)) else None)
        elif str(value) in classes:
            out.append(str(value))
        elif prediction.binary and isinstance(value, (bool, int, float, np.integer, np.floating, np.bool_)):
            out.append(prediction.positive if value == 1 else prediction.negative if value == 0 else None)
        else:
            out.append(None)
    return out
