"""A small but real model for unit tests: the demo pipeline fitted on generated rows, in a ``LoadedModel``.

Integration tests use a model trained by `mlmon train`'s code path (``trained_model_dir``); these unit tests
only need the same interface without Feast, and fit in about a second.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from mlmon.baseline.profile import build_profile
from mlmon.demo.data import default_probability, generate_features
from mlmon.registry.artifact import RegisteredModel
from mlmon.registry.scoring import ModelScorer, model_frame
from mlmon.registry.serving import LoadedModel
from mlmon.settings import ModelServerSettings
from mlmon.spec import ModelSpec, load_spec
from mlmon.store.sqlite import SQLiteStore
from mlmon.training.train import build_pipeline
from model_server import create_app
from tests.conftest import REPO, free_port, wait_until

TOKEN = "s3cret-token"


@pytest.fixture(scope="session")
def demo_spec_unit() -> ModelSpec:
    return load_spec(REPO / "mlmon" / "demo" / "loan_default.yaml")


@pytest.fixture(scope="session")
def small_model(demo_spec_unit: ModelSpec, tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    spec = demo_spec_unit
    rng = np.random.default_rng(11)
    frame = generate_features(3000, rng)
    labels = np.where(rng.random(len(frame)) < default_probability(frame), "default", "no_default")
    pipeline = build_pipeline(spec)
    pipeline.set_params(model__max_iter=30)  # small and quick; the interface is what these tests need
    pipeline.fit(model_frame(spec, frame), labels)
    positive = list(pipeline.classes_).index("default")
    scores = pipeline.predict_proba(model_frame(spec, frame))[:, positive]
    profile = build_profile(spec, "unit0001", frame, scores, source="unit-test")
    registered = RegisteredModel(path=tmp_path_factory.mktemp("model"), spec=spec, profile=profile)
    return LoadedModel(registered, ModelScorer(spec, pipeline))


class Server:
    """An app under TestClient with its own registry and a real SQLite store."""

    def __init__(self, app: FastAPI, client: TestClient, registry: CollectorRegistry, store: SQLiteStore) -> None:
        self.app = app
        self.client = client
        self.registry = registry
        self.store = store

    @property
    def state(self) -> Any:
        return self.app.state.mlmon

    def flush(self) -> None:
        assert self.state.log.flush(10)

    def sample(self, name: str, **labels: str) -> float:
        value = self.registry.get_sample_value(name, {"model": "loan_default", "model_version": "unit0001", **labels})
        return 0.0 if value is None else value


@pytest.fixture
def make_server(tmp_path: Path, small_model: LoadedModel, demo_spec_unit: ModelSpec) -> Iterator[Callable[..., Server]]:
    opened: list[tuple[TestClient, SQLiteStore]] = []

    def make(**overrides: Any) -> Server:
        settings = ModelServerSettings(
            **{
                "store": f"sqlite:///{tmp_path / 'events.db'}",
                "var_dir": tmp_path / "var",
                "feedback_token": TOKEN,
                "pii_hash_key": "unit-test-pii-key-0123456789",
                "flush_interval_s": 0.05,
                "replay_interval_s": 0.2,
                **overrides,
            }
        )
        registry = CollectorRegistry()
        store = SQLiteStore(tmp_path / "events.db", demo_spec_unit)
        app = create_app(settings, registry=registry, store=store, model=small_model)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        opened.append((client, store))
        return Server(app, client, registry, store)

    yield make
    for client, store in opened:
        client.__exit__(None, None, None)
        store.close()


class LiveServer:
    """The app served by a real uvicorn server in a thread, on a free loopback port (for what TestClient
    cannot do: concurrent requests on the event loop, a client that trickles its body)."""

    def __init__(self, app: FastAPI, port: int) -> None:
        import uvicorn

        self.app = app
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-test", daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        wait_until(lambda: self.server.started, 20, "uvicorn to start", step=0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)


@pytest.fixture
def live_server(
    tmp_path: Path, small_model: LoadedModel, demo_spec_unit: ModelSpec
) -> Iterator[Callable[..., LiveServer]]:
    started: list[tuple[LiveServer, SQLiteStore]] = []

    def start(model: Any = None, **overrides: Any) -> LiveServer:
        settings = ModelServerSettings(
            **{
                "store": f"sqlite:///{tmp_path / 'live.db'}",
                "var_dir": tmp_path / "live-var",
                "feedback_token": TOKEN,
                "pii_hash_key": "unit-test-pii-key-0123456789",
                "flush_interval_s": 0.05,
                **overrides,
            }
        )
        store = SQLiteStore(tmp_path / "live.db", demo_spec_unit)
        app = create_app(settings, registry=CollectorRegistry(), store=store, model=model or small_model)
        server = LiveServer(app, free_port()).__enter__()
        started.append((server, store))
        return server

    yield start
    for server, store in started:
        server.__exit__()
        store.close()
