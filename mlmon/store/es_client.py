"""Connecting elasticsearch-py 9 to Elasticsearch *or* OpenSearch, and turning its errors into ours.

elasticsearch-py 9 sends ``application/vnd.elasticsearch+json; compatible-with=9``; OpenSearch (and the
osmem test server) answer 406 to it, and real OpenSearch also lacks the ``X-Elastic-Product`` header the
client insists on. So the distribution is detected once with a plain ``GET /``, and for OpenSearch a node
class sends plain ``application/json`` / ``application/x-ndjson`` and marks responses as compatible.
Real Elasticsearch keeps the default node and its compatibility headers.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from elastic_transport import HttpHeaders, TransportError, Urllib3HttpNode
from elasticsearch import ApiError, AuthenticationException, AuthorizationException, Elasticsearch

from mlmon.errors import StoreUnavailable

REQUEST_TIMEOUT_S = 10.0
TRANSPORT_RETRIES = 2
_VND = re.compile(r"application/vnd\.elasticsearch\+([a-z-]+)(\s*;\s*compatible-with=\d+)?", re.I)


def _plain(headers: HttpHeaders | None) -> HttpHeaders | None:
    if headers is None:
        return None
    out = headers.copy()
    for key in ("accept", "content-type"):
        value = out.get(key)
        if value and "vnd.elasticsearch" in value:
            out[key] = _VND.sub(lambda m: "application/" + m.group(1), value)
    return out


class OpenSearchNode(Urllib3HttpNode):
    """Urllib3 node speaking plain JSON, for OpenSearch 2/3 and the osmem test server."""

    def perform_request(  # type: ignore[override]
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: HttpHeaders | None = None,
        **kwargs: Any,
    ) -> Any:
        response = super().perform_request(method, target, body=body, headers=_plain(headers), **kwargs)
        meta_headers = response.meta.headers
        if "x-elastic-product" not in meta_headers and not getattr(meta_headers, "_frozen", False):
            # OpenSearch does not claim to be Elasticsearch; the client's product check would refuse it.
            meta_headers["x-elastic-product"] = "Elasticsearch"
        return response


@dataclass(frozen=True)
class Credentials:
    api_key: str | None = None
    username: str | None = None
    password: str | None = None
    verify_certs: bool = True
    ca_certs: str | None = None


def redact(url: str) -> str:
    """The URL without user:password, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _verify(creds: Credentials, where: str) -> bool | ssl.SSLContext:
    if creds.ca_certs:
        try:
            return ssl.create_default_context(cafile=creds.ca_certs)
        except (OSError, ssl.SSLError) as exc:
            raise StoreUnavailable(
                f"cannot use the CA bundle {creds.ca_certs} for the inference store at {where}: {exc}",
                hint="set MLMON_STORE_CA_CERTS to a readable PEM file with the CA that signed the store's certificate",
            ) from None
    return creds.verify_certs


def credential_settings(creds: Credentials) -> str:
    """The settings that hold the credentials in use (what to fix when they are refused)."""
    if creds.api_key:
        return "MLMON_STORE_API_KEY"
    if creds.username:
        return "MLMON_STORE_USERNAME and MLMON_STORE_PASSWORD"
    return "MLMON_STORE_API_KEY, or MLMON_STORE_USERNAME and MLMON_STORE_PASSWORD"


def _tls_problem(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind a connection error, if that is what it is."""
    seen: BaseException | None = exc
    for _ in range(10):  # bounded walk down the cause chain
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def detect_distribution(url: str, creds: Credentials, timeout: float = 5.0) -> tuple[str, str]:
    """``("elasticsearch" | "opensearch", version)`` from a plain ``GET /``; StoreUnavailable if it fails, naming
    the setting to fix (the URL, the CA bundle, or the credentials in use)."""
    headers = {"Accept": "application/json"}
    auth: tuple[str, str] | None = None
    if creds.api_key:
        headers["Authorization"] = f"ApiKey {creds.api_key}"
    elif creds.username:
        auth = (creds.username, creds.password or "")
    where = redact(url)
    verify = _verify(creds, where)
    try:
        resp = httpx.get(url.rstrip("/") + "/", headers=headers, auth=auth, verify=verify, timeout=timeout)
    except (httpx.HTTPError, OSError, ssl.SSLError) as exc:
        tls = _tls_problem(exc)
        if isinstance(tls, ssl.SSLCertVerificationError):
            which = f"MLMON_STORE_CA_CERTS={creds.ca_certs} did not sign it" if creds.ca_certs else "no CA given"
            raise StoreUnavailable(
                f"the TLS certificate of the inference store at {where} is not trusted ({which}): "
                f"{tls.verify_message or tls}",
                hint="set MLMON_STORE_CA_CERTS to the CA bundle that signed the store's certificate",
            ) from None
        if tls is not None:
            raise StoreUnavailable(
                f"TLS with the inference store at {where} failed: {tls}",
                hint="check MLMON_STORE (https:// for a TLS endpoint, http:// otherwise) and MLMON_STORE_CA_CERTS",
            ) from None
        raise StoreUnavailable(
            f"cannot reach the inference store at {where}: {exc}",
            hint="is Elasticsearch/OpenSearch running? check MLMON_STORE",
        ) from None
    if resp.status_code in (401, 403):
        what = "refused the credentials" if resp.status_code == 401 else "denied access with these credentials"
        if not (creds.api_key or creds.username):
            what = "asks for credentials and none are set"
        raise StoreUnavailable(
            f"the inference store at {where} {what} (HTTP {resp.status_code})",
            hint=f"check {credential_settings(creds)}",
        )
    try:
        info = resp.json()
        version = info["version"]
    except (ValueError, KeyError, TypeError):
        raise StoreUnavailable(
            f"{where} did not answer like Elasticsearch/OpenSearch (HTTP {resp.status_code})", hint="check MLMON_STORE"
        ) from None
    distribution = "opensearch" if version.get("distribution") == "opensearch" else "elasticsearch"
    return distribution, str(version.get("number", "?"))


def build_client(
    url: str, creds: Credentials, distribution: str, request_timeout: float = REQUEST_TIMEOUT_S
) -> Elasticsearch:
    kwargs: dict[str, Any] = {
        "request_timeout": request_timeout,
        "max_retries": TRANSPORT_RETRIES,
        "retry_on_timeout": True,
        "retry_on_status": (502, 503, 504),
        "verify_certs": creds.verify_certs,
    }
    if creds.ca_certs:
        kwargs["ca_certs"] = creds.ca_certs
    if not creds.verify_certs:
        kwargs["ssl_show_warn"] = False
    if creds.api_key:
        kwargs["api_key"] = creds.api_key
    elif creds.username:
        kwargs["basic_auth"] = (creds.username, creds.password or "")
    if distribution == "opensearch":
        kwargs["node_class"] = OpenSearchNode
    return Elasticsearch(url, **kwargs)


def describe(exc: BaseException) -> str:
    if isinstance(exc, ApiError):
        info = exc.info if isinstance(exc.info, dict) else {}
        err = info.get("error")
        if isinstance(err, dict):
            return f"{exc.meta.status} {err.get('type')}: {err.get('reason')}"
        return f"{exc.meta.status} {exc.message}"
    return f"{type(exc).__name__}: {exc}"


@contextmanager
def translated(what: str, url: str) -> Iterator[None]:
    """Client errors → StoreUnavailable naming the operation and the (redacted) URL."""
    try:
        yield
    except (AuthenticationException, AuthorizationException) as exc:
        raise StoreUnavailable(
            f"{what}: the inference store at {redact(url)} refused the credentials ({describe(exc)})",
            hint="check MLMON_STORE_API_KEY or MLMON_STORE_USERNAME/MLMON_STORE_PASSWORD and their privileges",
        ) from None
    except (ApiError, TransportError) as exc:
        raise StoreUnavailable(f"{what} failed on {redact(url)}: {describe(exc)}") from None
