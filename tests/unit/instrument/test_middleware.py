from __future__ import annotations

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from mlmon.instrument import instrument
from mlmon.spec import ModelSpec, load_spec
from tests.conftest import REPO
from tests.unit.instrument.helpers import sample

BASE = {"model": "loan_default", "model_version": "v1"}


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return load_spec(REPO / "mlmon" / "demo" / "loan_default.yaml")


def _app(spec: ModelSpec, registry: CollectorRegistry) -> FastAPI:
    app = FastAPI()
    sub = FastAPI().router

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.post("/secret")
    async def secret() -> None:
        raise HTTPException(status_code=401, detail="no")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("bug")

    @sub.get("/nested/{name}")
    async def nested(name: str) -> dict[str, str]:
        return {"name": name}

    app.include_router(sub, prefix="/v1")
    instrument(app, registry=registry, spec=spec, model_version="v1")
    return app


def test_requests_counted_by_route_template_and_status(spec: ModelSpec) -> None:
    registry = CollectorRegistry()
    client = TestClient(_app(spec, registry), raise_server_exceptions=False)
    assert client.get("/items/1").status_code == 200
    assert client.get("/items/2").status_code == 200
    assert client.get("/items/not-a-number").status_code == 422
    assert client.post("/secret").status_code == 401
    assert client.get("/boom").status_code == 500
    assert client.get("/v1/nested/x").status_code == 200
    for path in ("/wp-login.php", "/items", "/x/y/z"):
        assert client.get(path).status_code == 404

    def count(endpoint: str, status: str) -> float:
        return sample(registry, "mlmon_requests_total", **BASE, endpoint=endpoint, status=status)

    assert count("/items/{item_id}", "200") == 2
    assert count("/items/{item_id}", "422") == 1
    assert count("/secret", "401") == 1
    assert count("/boom", "500") == 1
    assert count("/v1/nested/{name}", "200") == 1
    assert count("other", "404") == 3  # raw paths never become label values
    assert sample(registry, "mlmon_request_duration_seconds_count", **BASE, endpoint="/items/{item_id}") == 3
    assert sample(registry, "mlmon_requests_in_flight", **BASE) == 0


def test_metrics_served_without_redirect(spec: ModelSpec) -> None:
    registry = CollectorRegistry()
    client = TestClient(_app(spec, registry))
    client.get("/items/1")
    response = client.get("/metrics", follow_redirects=False)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'mlmon_requests_total{endpoint="/items/{item_id}"' in response.text
    assert client.post("/metrics").status_code == 405


def test_unbound_instrumentation_refuses_recorders(spec: ModelSpec) -> None:
    inst = instrument(FastAPI(), registry=CollectorRegistry(), spec=spec)
    assert not inst.bound
    with pytest.raises(RuntimeError, match="bind"):
        inst.outputs.record(0.5)


def test_metrics_are_negotiated_like_prometheus_client_does(spec: ModelSpec) -> None:
    """``/metrics`` is rendered in a thread by mlmon's own endpoint: same formats, compression and filter."""
    registry = CollectorRegistry()
    client = TestClient(_app(spec, registry))
    assert client.get("/items/1").status_code == 200
    text = client.get("/metrics", headers={"Accept-Encoding": "identity"})
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
    assert "content-encoding" not in text.headers
    assert 'mlmon_requests_total{endpoint="/items/{item_id}"' in text.text
    gzipped = client.get("/metrics", headers={"Accept-Encoding": "gzip"})
    assert gzipped.headers["content-encoding"] == "gzip"  # httpx decodes it
    assert 'mlmon_requests_total{endpoint="/items/{item_id}"' in gzipped.text
    openmetrics = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.endswith("# EOF\n")
    only = client.get("/metrics", params={"name[]": "mlmon_requests_total"}).text
    assert "mlmon_requests_total{" in only and "mlmon_request_duration_seconds" not in only
