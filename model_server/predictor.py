"""From validated rows to responses, metrics and inference events.

Response kinds:
- ``ok``: the model's score.
- ``fallback``: the inputs the model's quality depends on are all missing, so the model is not asked and a
  rule-based default is served instead. Rule (``FallbackRule``): when every one of ``FALLBACK_FEATURES``
  that the spec declares (for the demo: ``bureau_score`` and ``open_credit_lines``, both filled by the
  enrichment service) is missing, serve the baseline's mean training score (≈ the positive rate of a
  calibrated classifier) and its thresholded label.
- ``empty``: no answer for the client. Either the model returned nothing usable (NaN/inf score, or fewer
  scores than rows: the non-finite counter goes up), or the post-processing filter removed the answer
  (``PostFilter``: the demo's affordability check needs ``income``; without it no offer is made). A filtered
  answer keeps the model's score in the metrics and the inference log — the model worked, the service did not
  answer — which is the difference between the model prediction and the service response (seed 000).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd

from mlmon.baseline.profile import BaselineProfile
from mlmon.inference_log.pii import PiiProtector
from mlmon.instrument import Instrumentation
from mlmon.spec import ModelSpec
from mlmon.store.base import InferenceEvent, ResponseKind

FALLBACK_FEATURES = ("bureau_score", "open_credit_lines")
POST_FILTER_REQUIRED = ("income",)


class ServingModel(Protocol):
    """What the server needs of ``mlmon.model.artifact.LoadedModel``."""

    name: str
    version: str
    spec: ModelSpec
    profile: BaselineProfile

    def predict_scores(self, rows: pd.DataFrame) -> np.ndarray: ...

    def label_for(self, score: float) -> str | None: ...


@dataclass(frozen=True)
class FallbackRule:
    features: tuple[str, ...]
    score: float

    def applies(self, row: dict[str, Any]) -> bool:
        return bool(self.features) and all(row.get(name) is None for name in self.features)

    @classmethod
    def default(cls, spec: ModelSpec, profile: BaselineProfile) -> FallbackRule | None:
        features = tuple(name for name in FALLBACK_FEATURES if name in spec.feature_names)
        if not features or not math.isfinite(profile.prediction.mean):
            return None
        return cls(features, float(profile.prediction.mean))


@dataclass(frozen=True)
class PostFilter:
    """Post-processing after the model: an answer needs every one of ``required`` to be present."""

    required: tuple[str, ...]

    def empties(self, row: dict[str, Any]) -> bool:
        return any(row.get(name) is None for name in self.required)

    @classmethod
    def default(cls, spec: ModelSpec) -> PostFilter | None:
        required = tuple(name for name in POST_FILTER_REQUIRED if name in spec.feature_names)
        return cls(required) if required else None


@dataclass
class Prediction:
    prediction_id: str
    label: str | None
    score: float | None
    kind: ResponseKind
    model_score: float | None = None  # the model's score when post-processing withheld the answer

    def to_json(self, model_version: str, regression: bool) -> dict[str, Any]:
        return {
            "prediction_id": self.prediction_id,
            "prediction": self.score if regression else self.label,
            "score": self.score,
            "model_version": model_version,
            "kind": self.kind,
        }


def _model_view(spec: ModelSpec) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Row → features as the store keeps them (booleans as "true"/"false", like the model's frame)."""
    booleans = [f.name for f in spec.features if f.type == "boolean"]

    def view(row: dict[str, Any]) -> dict[str, Any]:
        out = dict(row)
        for name in booleans:
            value = out.get(name)
            if value is not None:
                out[name] = "true" if value else "false"
        return out

    return view


class Predictor:
    def __init__(
        self,
        model: ServingModel,
        instrumentation: Instrumentation,
        pii: PiiProtector,
        fallback: FallbackRule | None,
        post_filter: PostFilter | None = None,
    ) -> None:
        self.model = model
        self.inst = instrumentation
        self.pii = pii
        self.fallback = fallback
        self.post_filter = post_filter
        self.names = model.spec.feature_names
        self.regression = model.spec.prediction.kind == "regression"
        self._view = _model_view(model.spec)

    def predict(self, rows: Sequence[dict[str, Any]], started: float) -> tuple[list[Prediction], list[InferenceEvent]]:
        """Score rows, record metrics, build one event per row; ``started`` is ``time.perf_counter()``."""
        now = datetime.now(UTC)
        self.inst.inputs.record(rows)
        results: list[Prediction | None] = [None] * len(rows)
        to_score: list[int] = []
        for i, row in enumerate(rows):
            if self.fallback is not None and self.fallback.applies(row):
                score = self.fallback.score
                results[i] = Prediction(uuid.uuid4().hex, self.model.label_for(score), score, "fallback")
            else:
                to_score.append(i)
        if to_score:
            frame = pd.DataFrame([rows[i] for i in to_score], columns=self.names)
            scores = np.asarray(self.model.predict_scores(frame), dtype=float).ravel()
            for j, i in enumerate(to_score):
                value = float(scores[j]) if j < len(scores) else math.nan
                if math.isfinite(value) and self.post_filter is not None and self.post_filter.empties(rows[i]):
                    results[i] = Prediction(uuid.uuid4().hex, None, None, "empty", model_score=value)
                elif math.isfinite(value):
                    results[i] = Prediction(uuid.uuid4().hex, self.model.label_for(value), value, "ok")
                else:
                    results[i] = Prediction(uuid.uuid4().hex, None, None, "empty")
        latency_ms = (time.perf_counter() - started) * 1000.0
        predictions = [r for r in results if r is not None]
        events = []
        for row, pred in zip(rows, predictions, strict=True):
            logged_score = pred.model_score if pred.model_score is not None else pred.score
            self.inst.outputs.record(logged_score, pred.label, pred.kind)
            events.append(
                InferenceEvent(
                    prediction_id=pred.prediction_id,
                    timestamp=now,
                    model_name=self.model.name,
                    model_version=self.model.version,
                    features=self.pii.protect(self._view(row)),
                    missing=[name for name in self.names if row.get(name) is None],
                    prediction_label=pred.label,
                    score=logged_score,
                    response_kind=pred.kind,
                    latency_ms=latency_ms,
                )
            )
        return predictions, events
