"""The model server behind TLS and credentials for real (nginx in front of the ES-API server, a CA made in the
test): a wrong password keeps serving, `/readyz` says why (naming the settings), the events wait in the local
log; restarted with the right password, every acknowledged event reaches the store once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.chaos import ModelServer, Tally, es_ids
from tests.fixtures.nginx import TlsProxy
from tests.fixtures.tiny_model import write_tiny_model

pytestmark = pytest.mark.integration


def test_wrong_password_is_told_by_readyz_and_the_events_are_delivered_once_fixed(
    nginx_tls: TlsProxy, es_url: str, tmp_path: Path
) -> None:
    model = write_tiny_model(tmp_path / "models")
    (tmp_path / "work").mkdir()
    creds = {"MLMON_STORE_CA_CERTS": str(nginx_tls.ca_certs), "MLMON_STORE_USERNAME": nginx_tls.username}
    server = ModelServer(
        model, nginx_tls.basic_url, tmp_path / "work", MLMON_STORE_PASSWORD="not-" + nginx_tls.password, **creds
    )
    tally = Tally("wrong password, then fixed")
    try:
        server.start()
        server.send(tally, 40)
        assert len(tally.acknowledged) == 40 and tally.refused == 0  # served: the events wait on disk

        def told() -> dict[str, object] | None:
            _, body = server.ready()
            return body if body.get("store") != "ok" and body.get("store_reason") else None

        body = server.wait(told, 30, "/readyz telling the store is refused", step=0.3)
        reason = str(body["store_reason"])
        assert "MLMON_STORE_USERNAME" in reason and "MLMON_STORE_PASSWORD" in reason, body
        assert nginx_tls.password not in reason
        assert es_ids(es_url) == []
    finally:
        server.close()

    fixed = ModelServer(model, nginx_tls.basic_url, tmp_path / "work", MLMON_STORE_PASSWORD=nginx_tls.password, **creds)
    try:
        fixed.start()
        fixed.drained()
        stored = es_ids(es_url)
        assert sorted(stored) == sorted(tally.acknowledged)  # every one, none twice
    finally:
        fixed.close()
