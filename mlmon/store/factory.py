"""``open_store(settings, spec)``: the one place that turns ``MLMON_STORE`` into a store object."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from mlmon.errors import ConfigError, StoreUnavailable
from mlmon.settings import CommonSettings
from mlmon.spec import ModelSpec
from mlmon.store.base import InferenceStore
from mlmon.store.es_client import redact

SQLITE_PREFIX = "sqlite:///"


def open_store(settings: CommonSettings, spec: ModelSpec, *, check: bool = True) -> InferenceStore:
    """Build the store named by ``settings.store``.

    With ``check`` (the default) the store is reached and its schema created now, so a wrong URL, a stopped
    server or bad credentials raise ``StoreUnavailable`` with a clear message at start-up. The model server
    passes ``check=False``: it starts anyway, spools events, and the store connects on first use.
    """
    url = settings.store
    store: InferenceStore
    if url.startswith(SQLITE_PREFIX):
        from mlmon.store.sqlite import SQLiteStore

        path = url.removeprefix(SQLITE_PREFIX)
        if not path:
            raise ConfigError("MLMON_STORE: sqlite:/// needs a file path, e.g. sqlite:///var/mlmon.db")
        store = SQLiteStore(Path(path), spec, retention_days=settings.store_retention_days)
    elif url.startswith(("http://", "https://")):
        from mlmon.store.elasticsearch import ElasticsearchStore

        store = ElasticsearchStore(
            url,
            spec,
            api_key=settings.store_api_key.get_secret_value() if settings.store_api_key else None,
            username=settings.store_username,
            password=settings.store_password.get_secret_value() if settings.store_password else None,
            verify_certs=settings.store_verify_certs,
            ca_certs=str(settings.store_ca_certs) if settings.store_ca_certs else None,
            retention_days=settings.store_retention_days,
        )
    else:
        raise ConfigError(f"MLMON_STORE: {redact(url)!r} must start with sqlite:/// or http(s)://")
    if check:
        try:
            store.ensure_schema()
        except StoreUnavailable:
            store.close()
            raise
    return store


def store_factory(settings: CommonSettings, spec: ModelSpec) -> Callable[[], InferenceStore]:
    """A picklable callable that opens the store of ``settings`` (unchecked), for a process started later (the
    inference log's shipping process)."""
    return functools.partial(open_store, settings, spec, check=False)
