"""open_store: MLMON_STORE → backend, credentials from settings, StoreUnavailable instead of tracebacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from mlmon.errors import ConfigError, StoreUnavailable
from mlmon.settings import CommonSettings
from mlmon.store.elasticsearch import ElasticsearchStore
from mlmon.store.factory import open_store
from mlmon.store.sqlite import SQLiteStore
from tests.conftest import free_port
from tests.contract.conftest import SPEC


def _settings(store: str, **extra: Any) -> CommonSettings:
    return CommonSettings(store=store, _env_file=None, **extra)


def test_sqlite_url(tmp_path: Path) -> None:
    store = open_store(_settings(f"sqlite:///{tmp_path}/sub/m.db"), SPEC)
    assert isinstance(store, SQLiteStore) and (tmp_path / "sub" / "m.db").exists()
    assert store.ping()
    store.close()


def test_elasticsearch_url_with_secret_credentials() -> None:
    settings = _settings(
        f"http://127.0.0.1:{free_port()}",
        store_api_key=SecretStr("k3y"),
        store_verify_certs=False,
        store_retention_days=7,
    )
    store = open_store(settings, SPEC, check=False)  # the model server starts even when the store is down
    assert isinstance(store, ElasticsearchStore)
    assert store.ping() is False  # (credentials against a real TLS proxy: tests/unit/store/test_tls_auth.py)
    with pytest.raises(StoreUnavailable, match="cannot reach the inference store"):
        open_store(settings, SPEC)


def test_elasticsearch_url_connects(es_url: str) -> None:
    store = open_store(_settings(es_url), SPEC)
    assert isinstance(store, ElasticsearchStore) and store.ping() and store.distribution == "opensearch"
    store.close()


def test_unusable_sqlite_path_is_store_unavailable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreUnavailable, match="cannot open SQLite store"):
        open_store(_settings(f"sqlite:///{tmp_path}/file/m.db"), SPEC)
    with pytest.raises(ConfigError):
        open_store(_settings("sqlite:///"), SPEC)
