"""Inference events as the store keeps them, built the same way by the reference server and by
``Monitor.record``: booleans as ``"true"``/``"false"``, PII hashed or dropped, missing features listed."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from mlmon.inference_log.pii import PiiProtector
from mlmon.spec import ModelSpec
from mlmon.store.base import FeatureValue, InferenceEvent, ResponseKind


def prediction_ids(n: int) -> list[str]:
    """``n`` unique 128-bit ids (32 hex digits), time-ordered like UUIDv7: 48 bits of Unix milliseconds, then 80
    random bits (one ``os.urandom`` call per request, not one per row). In time order, the store's id index
    (SQLite's primary key, Elasticsearch's ``_id``) grows at its end instead of at random pages."""
    head = f"{time.time_ns() // 1_000_000:012x}"
    raw = os.urandom(10 * n).hex()
    return [head + raw[i : i + 20] for i in range(0, 20 * n, 20)]


class EventBuilder:
    def __init__(self, spec: ModelSpec, model_version: str, pii: PiiProtector) -> None:
        self.spec = spec
        self.model_version = model_version
        self.pii = pii
        self.names = spec.feature_names
        self._booleans = [f.name for f in spec.features if f.type == "boolean"]
        self._plain = not self._booleans and not pii.fields  # features are stored as received

    def stored_features(self, row: Mapping[str, Any]) -> dict[str, FeatureValue]:
        """The spec's features of a row as the store keeps them (extra keys of the row are left out)."""
        out: dict[str, Any] = {name: row.get(name) for name in self.names}
        if self._plain:
            return out
        for name in self._booleans:
            value = out.get(name)
            if value is not None:
                out[name] = "true" if value else "false"
        return self.pii.protect(out)

    def event(
        self,
        row: Mapping[str, Any],
        *,
        label: str | None,
        score: float | None,
        kind: ResponseKind,
        latency_ms: float,
        received_at: datetime | None,
        prediction_id: str | None = None,
        event_time: datetime | None = None,
    ) -> InferenceEvent:
        """One event; its time is ``event_time`` (the client's), else ``received_at`` (the server's, None for
        history loaded from a file, which must then have an event time)."""
        timestamp = event_time or received_at
        if timestamp is None:
            raise ValueError("an event needs an event time or a received_at time")
        return InferenceEvent(
            prediction_id=prediction_id or prediction_ids(1)[0],
            timestamp=timestamp,
            model_name=self.spec.model,
            model_version=self.model_version,
            features=self.stored_features(row),
            missing=[name for name in self.names if row.get(name) is None],
            prediction_label=label,
            score=score,
            response_kind=kind,
            latency_ms=latency_ms,
            received_at=received_at,
        )

    def events(
        self,
        rows: Sequence[Mapping[str, Any]],
        labels: Sequence[str | None],
        scores: Sequence[float | None],
        kinds: Sequence[ResponseKind],
        latency_ms: float,
        ids: Sequence[str] | None = None,
        event_times: Sequence[datetime | None] | None = None,
    ) -> list[InferenceEvent]:
        now = datetime.now(UTC)  # one time object per request: the log formats it once
        ids = ids if ids is not None else prediction_ids(len(rows))
        names, model, version, stored = self.names, self.spec.model, self.model_version, self.stored_features
        return [
            InferenceEvent(
                prediction_id=ids[i],
                timestamp=now if event_times is None else event_times[i] or now,
                model_name=model,
                model_version=version,
                features=stored(row),
                missing=[name for name in names if row.get(name) is None],
                prediction_label=labels[i],
                score=scores[i],
                response_kind=kinds[i],
                latency_ms=latency_ms,
                received_at=now,
            )
            for i, row in enumerate(rows)
        ]
