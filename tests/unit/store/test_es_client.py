"""Talking to OpenSearch-API servers with elasticsearch-py 9, and errors that name the problem."""

from __future__ import annotations

import pytest
from elastic_transport import HttpHeaders

from mlmon.errors import StoreUnavailable
from mlmon.store.es_client import Credentials, _plain, build_client, detect_distribution, redact
from tests.conftest import free_port


def test_vnd_mimetypes_become_plain() -> None:
    headers = HttpHeaders(
        {
            "accept": "application/vnd.elasticsearch+json; compatible-with=9",
            "content-type": "application/vnd.elasticsearch+x-ndjson; compatible-with=9",
            "x-other": "kept",
        }
    )
    plain = _plain(headers)
    assert plain is not None
    assert plain["accept"] == "application/json"
    assert plain["content-type"] == "application/x-ndjson"
    assert plain["x-other"] == "kept"
    assert headers["accept"].startswith("application/vnd")  # the client's own copy is untouched


def test_redact_hides_credentials() -> None:
    assert redact("https://elastic:s3cret@es.example:9200/base") == "https://es.example:9200/base"


def test_detects_the_test_server_as_opensearch_and_talks_to_it(es_url: str) -> None:
    distribution, version = detect_distribution(es_url, Credentials())
    assert distribution == "opensearch" and version
    client = build_client(es_url, Credentials(), distribution)
    client.index(index="probe", id="1", document={"a": 1}, refresh="wait_for")  # 406 without the shim
    assert client.count(index="probe")["count"] == 1
    client.close()


def test_unreachable_server_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailable, match=r"cannot reach the inference store at http://127\.0\.0\.1:\d+: "):
        detect_distribution(f"http://user:pw@127.0.0.1:{free_port()}", Credentials(), timeout=2)
