"""Rows of a history file → inference events and labels, as the live path builds them, or a reason per row.

Each row becomes what the model server would have logged for it: the spec's features (booleans as keywords, PII
hashed or dropped by the same ``EventBuilder``), the prediction (class and/or score, or the value of a
regression), the response kind, the model version, and the event time as the event's ``timestamp``
(``received_at`` stays empty: the server never saw it). A row that the live path would have refused — a
required feature missing, a value of the wrong type, no event time — is rejected with its reason and nothing of
it is written. The store validates the events once more (``normalize_event``) on the way in.

Prediction ids: the file's ``prediction_id`` column, else a hash of the row's content and time (model version,
event time, entity keys, features, prediction), so loading the same file twice stores each prediction once and
a later file with labels added upserts the labels of the same predictions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from mlmon.history import values
from mlmon.history.columns import PresentColumns
from mlmon.instrument.events import EventBuilder
from mlmon.spec import ModelSpec
from mlmon.store.base import InferenceEvent, LabelRecord, ResponseKind
from mlmon.store.normalize import RESPONSE_KINDS

FUTURE_SLACK = timedelta(minutes=5)
# A binary model's ground truth as 0/1 or false/true (as ``mlmon.registry.scoring.label_values`` reads it).
_BINARY = {"1": True, "1.0": True, "true": True, "0": False, "0.0": False, "false": False}


@dataclass
class Rejection:
    row: int  # 1-based data row of the file (header excluded)
    reason: str
    value: Any = None


@dataclass
class Converted:
    """One chunk of the file: the events to write, the labels of those events, the rows refused."""

    events: list[InferenceEvent] = field(default_factory=list)
    labels: list[LabelRecord] = field(default_factory=list)
    rows_of: dict[str, int] = field(default_factory=dict)  # prediction id → file row (for the store's rejections)
    rejected: list[Rejection] = field(default_factory=list)


class RowConverter:
    def __init__(self, spec: ModelSpec, builder: EventBuilder, columns: PresentColumns, default_version: str) -> None:
        self.spec = spec
        self.builder = builder
        self.columns = columns
        self.default_version = default_version
        self.regression = spec.prediction.kind == "regression"
        self.required = [f.name for f in spec.features if f.required]

    def convert(self, chunk: pd.DataFrame, first_row: int, now: datetime) -> Converted:
        """``chunk`` holds the file's rows ``first_row``.. (0-based); ``now`` bounds the event times."""
        n = len(chunk)
        problems: values.Problems = {}
        cols = self.columns
        stamps = values.times(chunk[cols.timestamp], cols.timestamp, problems, required=True)
        features = self._features(chunk, problems)
        labels, scores = self._predictions(chunk, problems)
        kinds = values.texts(chunk[cols.response_kind], "response_kind", problems) if cols.response_kind else None
        versions = values.texts(chunk[cols.model_version], "model_version", problems) if cols.model_version else None
        ids = values.texts(chunk[cols.prediction_id], "prediction_id", problems) if cols.prediction_id else None
        latencies = values.numbers(chunk[cols.latency_ms], "latency_ms", problems) if cols.latency_ms else None
        keys = [values.texts(chunk[k], k, problems) for k in cols.entity_keys]
        truths = self._truths(chunk, problems) if cols.label else None
        known = (
            values.times(chunk[cols.label_time], cols.label_time, problems, required=False) if cols.label_time else None
        )
        out = Converted()
        for i in range(n):
            problem = problems.get(i)
            when = stamps[i]
            row = {name: column[i] for name, column in features.items()}
            if problem is None and when is not None and when > now + FUTURE_SLACK:
                problem = (f"{cols.timestamp}: in the future (after the server's clock)", when.isoformat())
            if problem is None:
                absent = [name for name in self.required if row.get(name) is None]
                problem = (f"features.{absent[0]}: required feature is missing", None) if absent else None
            kind = kinds[i] if kinds is not None else None
            if problem is None and kind is not None and kind not in RESPONSE_KINDS:
                problem = (f"response_kind: not one of {', '.join(RESPONSE_KINDS)}", kind)
            if problem is not None or when is None:
                reason, value = problem or (f"{cols.timestamp}: missing", None)
                out.rejected.append(Rejection(first_row + i + 1, reason, value))
                continue
            at = when
            version = (versions[i] if versions is not None else None) or self.default_version
            answered = labels[i] is not None or scores[i] is not None
            response: ResponseKind = kind or ("ok" if answered else "empty")  # type: ignore[assignment]
            pid = (ids[i] if ids is not None else None) or self._derived_id(
                version, at, [k[i] for k in keys], row, labels[i], scores[i]
            )
            event = self.builder.event(
                row,
                label=labels[i],
                score=scores[i],
                kind=response,
                latency_ms=(latencies[i] if latencies is not None else None) or 0.0,
                received_at=None,
                prediction_id=pid,
                event_time=at,
            )
            out.events.append(event if version == self.builder.model_version else replace(event, model_version=version))
            out.rows_of[pid] = first_row + i + 1
            truth = truths[i] if truths is not None else None
            if truth is not None:
                seen = known[i] if known is not None else None
                out.labels.append(LabelRecord(pid, truth, seen if seen is not None else at))
        return out

    def _features(self, chunk: pd.DataFrame, problems: values.Problems) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        for feature in self.spec.features:
            name = feature.name
            if name not in chunk.columns:
                out[name] = [None] * len(chunk)
            elif feature.type == "numeric":
                out[name] = values.numbers(chunk[name], f"features.{name}", problems)
            elif feature.type == "boolean":
                out[name] = values.booleans(chunk[name], f"features.{name}", problems)
            else:
                out[name] = values.texts(chunk[name], f"features.{name}", problems)
        return out

    def _predictions(
        self, chunk: pd.DataFrame, problems: values.Problems
    ) -> tuple[Sequence[str | None], Sequence[float | None]]:
        cols = self.columns
        n = len(chunk)
        if self.regression:
            column = cols.prediction or cols.score
            assert column is not None  # IngestColumns.present checked that one exists
            return [None] * n, values.numbers(chunk[column], column, problems)
        labels: list[str | None] = (
            values.texts(chunk[cols.prediction], cols.prediction, problems) if cols.prediction else [None] * n
        )
        scores = values.numbers(chunk[cols.score], cols.score, problems) if cols.score else [None] * n
        prediction = self.spec.prediction
        if prediction.binary and cols.prediction is None:  # the class a binary score stands for
            threshold, positive, negative = prediction.threshold, prediction.positive, prediction.negative
            labels = [None if s is None else positive if s >= threshold else negative for s in scores]
        return labels, scores

    def _truths(self, chunk: pd.DataFrame, problems: values.Problems) -> list[str | float | None]:
        column = self.columns.label
        assert column is not None
        if self.regression:
            return list(values.numbers(chunk[column], "label", problems))
        prediction = self.spec.prediction
        classes = set(prediction.classes or [])
        out: list[str | float | None] = []
        for value in chunk[column].tolist():
            if values.missing(value):
                out.append(None)
            elif prediction.binary and str(value) not in classes and str(value).lower() in _BINARY:
                out.append(prediction.positive if _BINARY[str(value).lower()] else prediction.negative)
            else:
                out.append(str(value))
        return out

    def _derived_id(
        self,
        version: str,
        at: datetime,
        keys: list[str | None],
        row: dict[str, Any],
        label: str | None,
        score: float | None,
    ) -> str:
        # repr of str/float/bool/None is stable across Python versions (floats: the shortest round-trip text).
        content = (self.spec.model, version, at.isoformat(), keys, [row[n] for n in self.builder.names], label, score)
        return "h-" + hashlib.sha256(repr(content).encode()).hexdigest()[:32]
