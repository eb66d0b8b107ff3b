"""Real events for the demo spec and a fault injector in front of a real store."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from mlmon.errors import StoreUnavailable
from mlmon.store.base import InferenceEvent, WriteResult

T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)


def make_events(n: int, start: int = 0, model: str = "loan_default") -> list[InferenceEvent]:
    return [
        InferenceEvent(
            prediction_id=uuid.uuid4().hex,
            timestamp=T0 + timedelta(milliseconds=start + i),
            model_name=model,
            model_version="v-test",
            features={"income": 1000.0 + start + i, "channel": "web", "has_coborrower": "true", "age": None},
            missing=["age"],
            prediction_label="no_default",
            score=0.25,
            response_kind="ok",
            latency_ms=1.5,
        )
        for i in range(n)
    ]


class Outage:
    """Wraps a real store; while ``down`` every call raises StoreUnavailable, like an unreachable server.

    Records the prediction ids of every write that reached the store, in order.
    """

    def __init__(self, store: object) -> None:
        self.store = store
        self.down = False
        self.written: list[str] = []
        self.calls = 0
        self._lock = threading.Lock()

    def write_events(self, events: Sequence[InferenceEvent]) -> WriteResult:
        with self._lock:
            self.calls += 1
            if self.down:
                raise StoreUnavailable("injected outage")
            result: WriteResult = self.store.write_events(events)  # type: ignore[attr-defined]
            self.written.extend(e.prediction_id for e in events)
            return result

    def ping(self) -> bool:
        return not self.down and bool(self.store.ping())  # type: ignore[attr-defined]
