"""Fault injectors in front of a real store, and helpers to build and inspect an ``InferenceLog``."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from mlmon.errors import StoreUnavailable
from mlmon.inference_log import InferenceLog, LogConfig
from mlmon.instrument.metrics import inference_log_metrics
from mlmon.store.base import InferenceEvent, TimeWindow, WriteResult
from mlmon.store.sqlite import SQLiteStore
from tests.fixtures.tiny_model import T0, VERSION

WINDOW = TimeWindow(T0 - timedelta(days=1), T0 + timedelta(days=1))
FAST = LogConfig(flush_interval_s=0.02, retry_interval_s=0.05, adopt_interval_s=0.2, stall_after_s=0.2)


class Faulty:
    """A real store behind a switch: ``down`` raises StoreUnavailable (an unreachable server), ``hang`` blocks
    each write until ``release()`` (a frozen server). Records the prediction ids of every write call."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store
        self.down = False
        self.calls: list[list[str]] = []
        self._open = threading.Event()
        self._open.set()
        self.entered = threading.Event()

    @property
    def backend(self) -> str:
        return self.store.backend

    def hang(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def write_events(self, events: Sequence[InferenceEvent]) -> WriteResult:
        self.calls.append([e.prediction_id for e in events])
        self.entered.set()
        if not self._open.wait(30):
            raise StoreUnavailable("test hang not released")
        if self.down:
            raise StoreUnavailable("injected outage")
        return self.store.write_events(events)

    def ping(self) -> bool:
        return not self.down and self._open.is_set() and self.store.ping()


def make_log(
    root: Path,
    sink: Any,
    registry: CollectorRegistry | None = None,
    sink_factory: Callable[[], Any] | None = None,
    **config: Any,
) -> InferenceLog:
    fields = {**FAST.__dict__, **config}
    return InferenceLog(
        root,
        sink,
        config=LogConfig(**fields),
        metrics=inference_log_metrics(registry or CollectorRegistry()),
        model="tiny",
        model_version=VERSION,
        sink_factory=sink_factory,
    )


def stored_ids(store: SQLiteStore) -> list[str]:
    return list(store.read_window(WINDOW)["prediction_id"])


def dead_letters(root: Path) -> list[dict[str, Any]]:
    path = root / "dead-letter.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def outcome(registry: CollectorRegistry, name: str) -> float:
    labels = {"model": "tiny", "model_version": VERSION, "outcome": name}
    return registry.get_sample_value("mlmon_inference_events_total", labels) or 0.0
