"""TLS and credentials to the store, for real: nginx terminates TLS (a CA made in the test) and checks basic
auth or an API key in front of the ES-API server. Right settings store events; each wrong one is a single
StoreUnavailable naming the setting to fix."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from mlmon.errors import StoreUnavailable
from mlmon.settings import CommonSettings
from mlmon.store.base import TimeWindow
from mlmon.store.factory import open_store
from tests.contract.conftest import MIDNIGHT, SPEC, make_events
from tests.fixtures.nginx import TlsProxy

ALL = TimeWindow(MIDNIGHT - timedelta(hours=2), MIDNIGHT + timedelta(hours=2))


def _settings(url: str, ca: Path | None, **extra: Any) -> CommonSettings:
    return CommonSettings(store=url, store_ca_certs=ca, _env_file=None, **extra)


def _stores_events(settings: CommonSettings) -> None:
    store = open_store(settings, SPEC)  # reached, schema created: start-up checks pass
    try:
        events = make_events(25)
        assert store.write_events(events).stored == 25
        store.refresh()
        assert store.count(ALL) == 25
        assert store.ping()
    finally:
        store.close()


def test_basic_auth_over_tls(nginx_tls: TlsProxy) -> None:
    _stores_events(
        _settings(
            nginx_tls.basic_url,
            nginx_tls.ca_certs,
            store_username=nginx_tls.username,
            store_password=SecretStr(nginx_tls.password),
        )
    )


def test_api_key_over_tls(nginx_tls: TlsProxy) -> None:
    _stores_events(_settings(nginx_tls.api_key_url, nginx_tls.ca_certs, store_api_key=SecretStr(nginx_tls.api_key)))


@pytest.mark.parametrize("ca", ["other", "system"])
def test_untrusted_certificate_names_the_ca_setting(nginx_tls: TlsProxy, ca: str) -> None:
    settings = _settings(
        nginx_tls.api_key_url,
        nginx_tls.other_ca if ca == "other" else None,  # None: the system's CAs, which never signed it
        store_api_key=SecretStr(nginx_tls.api_key),
    )
    with pytest.raises(StoreUnavailable) as caught:
        open_store(settings, SPEC)
    message = str(caught.value)
    assert "MLMON_STORE_CA_CERTS" in message and "certificate" in message, message
    assert "MLMON_STORE_PASSWORD" not in message and "MLMON_STORE_API_KEY" not in message


def test_wrong_password_names_the_basic_auth_settings(nginx_tls: TlsProxy) -> None:
    settings = _settings(
        nginx_tls.basic_url,
        nginx_tls.ca_certs,
        store_username=nginx_tls.username,
        store_password=SecretStr("not-" + nginx_tls.password),
    )
    with pytest.raises(StoreUnavailable) as caught:
        open_store(settings, SPEC)
    message = str(caught.value)
    assert "MLMON_STORE_USERNAME" in message and "MLMON_STORE_PASSWORD" in message, message
    assert "MLMON_STORE_API_KEY" not in message and "MLMON_STORE_CA_CERTS" not in message
    assert nginx_tls.password not in message


def test_wrong_api_key_names_the_key_setting(nginx_tls: TlsProxy) -> None:
    settings = _settings(nginx_tls.api_key_url, nginx_tls.ca_certs, store_api_key=SecretStr("wrong-key"))
    with pytest.raises(StoreUnavailable) as caught:
        open_store(settings, SPEC)
    message = str(caught.value)
    assert "MLMON_STORE_API_KEY" in message and "MLMON_STORE_PASSWORD" not in message, message
    assert "wrong-key" not in message


def test_no_credentials_where_they_are_needed(nginx_tls: TlsProxy) -> None:
    with pytest.raises(StoreUnavailable) as caught:
        open_store(_settings(nginx_tls.basic_url, nginx_tls.ca_certs), SPEC)
    message = str(caught.value)
    assert "MLMON_STORE_API_KEY" in message and "MLMON_STORE_USERNAME" in message, message
