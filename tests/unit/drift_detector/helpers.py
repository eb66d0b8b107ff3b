"""Test data shared by the drift detector and statistics service tests: inference events built from the
demo's feature generator (the same distribution the model was trained on), scored by a real model or by a
given score array, written to a real store."""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlmon.demo.data import generate_features
from mlmon.spec import ModelSpec
from mlmon.store.base import InferenceEvent

REPO = Path(__file__).resolve().parents[3]
SPEC_PATH = REPO / "mlmon" / "demo" / "loan_default.yaml"


def utc_now() -> datetime:
    """Whole milliseconds: the stores keep millisecond times, so window edges compare exactly."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def feature_rows(n: int, seed: int, transform: Callable[[pd.DataFrame], None] | None = None) -> pd.DataFrame:
    frame = generate_features(n, np.random.default_rng(seed))
    if transform is not None:
        transform(frame)
    return frame


def _value(kind: str, value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if kind == "numeric":
        return float(value)
    if kind == "boolean":
        return bool(value)
    return str(value)


def events_from_frame(
    spec: ModelSpec,
    frame: pd.DataFrame,
    scores: Sequence[float | None],
    *,
    version: str,
    end: datetime,
    span_s: float,
    prefix: str = "p",
    response_kinds: Sequence[str] | None = None,
    latencies: Sequence[float] | None = None,
    drop: Sequence[str] = (),
) -> list[InferenceEvent]:
    """One event per row, timestamps spread evenly over ``[end - span_s, end)``; ``drop`` = features the
    client no longer sends (absent from the event, as after an upstream schema change)."""
    n = len(frame)
    positive = spec.prediction.positive
    negative = next((c for c in spec.prediction.classes or [] if c != positive), None)
    kinds = {f.name: f.type for f in spec.features}
    records = frame.to_dict("records")
    events = []
    for i, (row, score) in enumerate(zip(records, scores, strict=True)):
        features = {name: _value(kinds[name], row[name]) for name in kinds if name in row and name not in drop}
        label = None
        if score is not None and math.isfinite(score) and spec.prediction.kind == "classification":
            label = positive if score >= spec.prediction.threshold else negative
        events.append(
            InferenceEvent(
                prediction_id=f"{prefix}{i:06d}",
                timestamp=end - timedelta(seconds=span_s * (n - i) / n),
                model_name=spec.model,
                model_version=version,
                features=features,
                missing=[k for k, v in features.items() if v is None],
                prediction_label=label,
                score=None if score is None else float(score),
                response_kind=(response_kinds[i] if response_kinds is not None else "ok"),  # type: ignore[arg-type]
                latency_ms=float(latencies[i]) if latencies is not None else 2.0,
            )
        )
    return events


def model_scores(model: Any, frame: pd.DataFrame) -> list[float | None]:
    """The real model's scores, as the model server would log them."""
    return [float(s) for s in model.score(frame).scores]


def unit_change(frame: pd.DataFrame) -> None:
    """The upstream service now sends milliseconds instead of seconds."""
    frame["seconds_since_last_application"] = frame["seconds_since_last_application"] * 1000.0


def instances(spec: ModelSpec, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``/predict`` request objects for the rows of ``frame`` (missing values as JSON null)."""
    kinds = {f.name: f.type for f in spec.features}
    return [{name: _value(kinds[name], row[name]) for name in kinds if name in row} for row in frame.to_dict("records")]


@dataclass
class ModelServer:
    url: str
    port: int
    token: str
    store_url: str
    process: Any  # tests.conftest.ManagedProcess

    def predict(self, client: Any, rows: list[dict[str, Any]], batch: int = 100) -> list[dict[str, Any]]:
        """Send ``rows`` in batches; returns the predictions (each with its ``prediction_id``)."""
        out: list[dict[str, Any]] = []
        for i in range(0, len(rows), batch):
            response = client.post(f"{self.url}/predict", json={"instances": rows[i : i + batch]})
            assert response.status_code == 200, response.text
            out.extend(response.json()["predictions"])
        return out

    def predict_one(self, client: Any, row: dict[str, Any]) -> dict[str, Any]:
        response = client.post(f"{self.url}/predict", json=row)
        assert response.status_code == 200, response.text
        return dict(response.json())


@contextlib.contextmanager
def run_model_server(
    folder: Path,
    model_dir: Path,
    *,
    token: str = "test-feedback-token",
    extra_env: dict[str, str] | None = None,
    ready_path: str | None = "/readyz",
) -> Iterator[ModelServer]:
    """``python -m model_server`` on a free port, SQLite store in ``folder``; stopped by its pid.
    ``ready_path=None`` returns at once (start several, then ``tests.conftest.wait_http`` each)."""
    from mlmon.instrument.multiprocess import child_environment
    from tests.conftest import free_port, managed

    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    store_url = f"sqlite:///{folder / 'inference.db'}"
    env = {k: v for k, v in child_environment().items() if not k.startswith("MLMON_")}
    env.update(
        {
            "MLMON_MODEL_PATH": str(model_dir),
            "MLMON_MODEL_SPEC": str(SPEC_PATH),
            "MLMON_STORE": store_url,
            "MLMON_VAR_DIR": str(folder / "var"),
            "MLMON_HOST": "127.0.0.1",
            "MLMON_PORT": str(port),
            "MLMON_FEEDBACK_TOKEN": token,
            "MLMON_PII_HASH_KEY": "test-pii-key-0123456789abcdef",
            "MLMON_FLUSH_INTERVAL_S": "0.2",
            "MLMON_LOG_LEVEL": "WARNING",
            "OMP_NUM_THREADS": "1",
            **(extra_env or {}),
        }
    )
    url = f"http://127.0.0.1:{port}"
    ready_url = f"{url}{ready_path}" if ready_path else None
    with managed(
        [sys.executable, "-m", "model_server"],
        folder / "model_server.log",
        ready_url=ready_url,
        timeout=60,
        env=env,
        cwd=folder,
    ) as proc:
        yield ModelServer(url, port, token, store_url, proc)
