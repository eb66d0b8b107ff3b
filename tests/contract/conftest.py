"""Shared data and the backend-parametrised ``store`` fixture of the store contract suite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from mlmon.spec import ModelSpec, parse_spec
from mlmon.store.base import InferenceEvent, InferenceStore
from mlmon.store.elasticsearch import ElasticsearchStore
from mlmon.store.sqlite import SQLiteStore

SPEC: ModelSpec = parse_spec(
    {
        "model": "contract-model",
        "prediction": {"kind": "classification", "classes": ["no", "yes"], "positive_class": "yes"},
        "features": [
            {"name": "x", "type": "numeric"},
            {"name": "big", "type": "numeric", "unit": "ms"},
            {"name": "channel", "type": "categorical", "categories": ["web", "mobile", "branch"]},
            {"name": "flag", "type": "boolean"},
        ],
        "segments": ["channel"],
    }
)
MIDNIGHT = datetime(2026, 3, 2, tzinfo=UTC)  # events straddle it: two daily indices
EDGES_X = [-1.0, -0.25, 0.0, 0.5, 1.25]
CATEGORIES = ["web", "mobile", "branch"]


def make_events(
    n: int = 240, seed: int = 7, start: datetime = MIDNIGHT - timedelta(hours=1), span_s: float = 7200.0
) -> list[InferenceEvent]:
    rng = np.random.default_rng(seed)
    lags = np.random.default_rng(seed + 1)  # its own stream: the other values stay as they were
    events = []
    for i in range(n):
        x: float | None = float(np.round(rng.normal(0.2, 1.0), 3))
        if i % 11 == 0:
            x = None
        elif i % 13 == 0:
            x = EDGES_X[i % len(EDGES_X)]  # exactly on an edge: belongs to the bin above
        big = None if i % 17 == 0 else float(1e9 + rng.normal(0, 250.0))
        channel = [*CATEGORIES, "partner", "kiosk", None][int(rng.integers(0, 6))]
        flag = [True, False, None][i % 3]
        score = float(np.round(rng.uniform(), 4))
        timestamp = start + timedelta(milliseconds=int(rng.uniform(0, span_s * 1000)))
        # the server's clock: a little after the event time, unknown for some (history loaded from a file)
        lag_ms = int(lags.integers(0, 90_000))
        received = None if i % 7 == 0 else timestamp + timedelta(milliseconds=lag_ms)
        events.append(
            InferenceEvent(
                prediction_id=f"p{i:05d}",
                timestamp=timestamp,
                model_name=SPEC.model,
                model_version="v1" if i % 4 else "v2",
                features={"x": x, "big": big, "channel": channel, "flag": flag},
                missing=[],
                prediction_label="yes" if score >= 0.5 else "no",
                score=score,
                response_kind=["ok", "ok", "ok", "empty", "fallback"][i % 5],  # type: ignore[arg-type]
                latency_ms=float(np.round(rng.gamma(2.0, 3.0), 3)),
                received_at=received,
            )
        )
    return events


def build_store(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, retention_days: int | None = None
) -> InferenceStore:
    store: InferenceStore
    if kind == "sqlite":
        store = SQLiteStore(tmp_path / "contract.db", SPEC, retention_days=retention_days)
    else:
        store = ElasticsearchStore(request.getfixturevalue("es_url"), SPEC, retention_days=retention_days)
    store.ensure_schema()
    return store


@pytest.fixture(params=["sqlite", "elasticsearch"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[InferenceStore]:
    built = build_store(request.param, tmp_path, request)
    yield built
    built.close()


@pytest.fixture
def both_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[InferenceStore, InferenceStore]]:
    stores = (build_store("sqlite", tmp_path, request), build_store("elasticsearch", tmp_path, request))
    yield stores
    for s in stores:
        s.close()
