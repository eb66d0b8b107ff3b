"""From validated rows to responses, metrics and inference events.

Response kinds, with the post-processing the spec declares (``serving`` section), not code keyed on names:
- ``ok``: the model's answer.
- ``fallback``: every feature of ``serving.fallback.when_all_missing`` is missing, so the model is not asked
  and the declared default is served (a number, or the reference predictions' mean; for classification the
  label of that score, or the most frequent reference class for multi-class).
- ``empty``: no answer for the client. Either the model returned nothing usable (NaN/inf, or fewer outputs
  than rows: the non-finite counter goes up), or a feature of ``serving.empty_when_missing`` is missing
  (post-processing withholds the answer). A withheld answer keeps the model's score in the metrics and the
  inference log — the model worked, the service did not answer — which is the difference between the model's
  prediction and the service's response.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd

from mlmon.baseline.profile import BaselineProfile
from mlmon.inference_log.pii import PiiProtector
from mlmon.instrument import Instrumentation
from mlmon.instrument.events import EventBuilder, prediction_ids
from mlmon.registry.scoring import Scored, rows_frame
from mlmon.spec import ModelSpec
from mlmon.store.base import InferenceEvent, ResponseKind


class ServingModel(Protocol):
    """What the server needs of ``mlmon.registry.serving.LoadedModel``."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def spec(self) -> ModelSpec: ...

    @property
    def profile(self) -> BaselineProfile: ...

    def score(self, rows: pd.DataFrame) -> Scored: ...

    def label_for(self, score: float) -> str | None: ...


@dataclass(frozen=True)
class Fallback:
    features: tuple[str, ...]
    score: float
    label: str | None

    def applies(self, row: dict[str, Any]) -> bool:
        return all(row.get(name) is None for name in self.features)

    @classmethod
    def from_spec(cls, model: ServingModel) -> Fallback | None:
        rule = model.spec.serving.fallback
        if rule is None:
            return None
        score = model.profile.prediction.mean if rule.score == "baseline_mean" else float(rule.score)
        if not math.isfinite(score):
            return None
        label = model.label_for(score)
        shares = model.profile.prediction.class_shares
        if label is None and model.spec.prediction.multiclass and shares:
            label = max(shares, key=lambda c: shares[c])
        return cls(tuple(rule.when_all_missing), float(score), label)


@dataclass
class Prediction:
    prediction_id: str
    label: str | None
    score: float | None
    kind: ResponseKind
    model_score: float | None = None  # the model's score when post-processing withheld the answer
    model_label: str | None = None

    def to_json(self, model_version: str, regression: bool) -> dict[str, Any]:
        return {
            "prediction_id": self.prediction_id,
            "prediction": self.score if regression else self.label,
            "score": self.score,
            "model_version": model_version,
            "kind": self.kind,
        }


class Predictor:
    def __init__(self, model: ServingModel, instrumentation: Instrumentation, pii: PiiProtector) -> None:
        self.model = model
        self.instrumentation = instrumentation
        self.pii = pii
        spec = model.spec
        self.fallback = Fallback.from_spec(model)
        self.empty_when_missing = tuple(spec.serving.empty_when_missing)
        self.names = spec.feature_names
        self.regression = spec.prediction.kind == "regression"
        self.events = EventBuilder(spec, model.version, pii)
        self.spec = spec

    def _withheld(self, row: dict[str, Any]) -> bool:
        return any(row.get(name) is None for name in self.empty_when_missing)

    def _scored(self, rows: Sequence[dict[str, Any]], indices: list[int], ids: list[str]) -> list[Prediction]:
        """Score the rows at ``indices`` in one call: one typed frame for the request, not one per row."""
        chosen = rows if len(indices) == len(rows) else [rows[i] for i in indices]
        scored = self.model.score(rows_frame(self.spec, chosen))
        scores = np.asarray(scored.scores, dtype=float).ravel().tolist()
        labels = list(scored.labels)
        withheld = self.empty_when_missing
        out: list[Prediction] = []
        for j, i in enumerate(indices):
            value = scores[j] if j < len(scores) else math.nan
            label = labels[j] if j < len(labels) else None
            if not math.isfinite(value):
                out.append(Prediction(ids[i], None, None, "empty"))
            elif withheld and self._withheld(rows[i]):
                out.append(Prediction(ids[i], None, None, "empty", model_score=value, model_label=label))
            else:
                out.append(Prediction(ids[i], label, value, "ok"))
        return out

    def predict(
        self,
        rows: Sequence[dict[str, Any]],
        started: float,
        event_times: Sequence[datetime | None] | None = None,
    ) -> tuple[list[Prediction], list[InferenceEvent]]:
        """Score rows, record metrics, build one event per row; ``started`` is ``time.perf_counter()``;
        ``event_times`` are the clients' (checked) event times, None for the server's time.
        The work is done per request (one frame, one model call, one increment per metric series that changes),
        not per row."""
        self.instrumentation.inputs.record(rows)
        ids = prediction_ids(len(rows))
        fallback = self.fallback
        if fallback is None:
            predictions = self._scored(rows, list(range(len(rows))), ids)
        else:
            results: list[Prediction | None] = [None] * len(rows)
            to_score: list[int] = []
            for i, row in enumerate(rows):
                if fallback.applies(row):
                    results[i] = Prediction(ids[i], fallback.label, fallback.score, "fallback")
                else:
                    to_score.append(i)
            if to_score:
                for i, prediction in zip(to_score, self._scored(rows, to_score, ids), strict=True):
                    results[i] = prediction
            predictions = [r for r in results if r is not None]
        latency_ms = (time.perf_counter() - started) * 1000.0
        # What the model said (a withheld answer keeps the model's score and label) is what is monitored.
        scores = [p.model_score if p.model_score is not None else p.score for p in predictions]
        labels = [p.model_label if p.model_score is not None else p.label for p in predictions]
        kinds: list[ResponseKind] = [p.kind for p in predictions]
        self.instrumentation.outputs.record_many(scores, labels, kinds)
        return predictions, self.events.events(rows, labels, scores, kinds, latency_ms, ids, event_times)
