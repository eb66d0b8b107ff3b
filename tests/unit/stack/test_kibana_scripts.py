"""kibana/import.sh and kibana/es_setup.sh, run with the real sh + curl against a local HTTP endpoint.

Kibana and a secured Elasticsearch cannot run here, so a small loopback HTTP server plays their part with the
answers their APIs document (including Kibana's HTTP 200 with ``"success":false``); the tests check what the
scripts send and that they fail when they must.
"""

from __future__ import annotations

import base64
import http.server
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, free_port, require_component

IMPORT_SH = REPO / "kibana" / "import.sh"
ES_SETUP_SH = REPO / "kibana" / "es_setup.sh"
BUNDLE = REPO / "kibana" / "saved_objects.ndjson"

Reply = tuple[int, dict[str, Any] | str]


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeApi:
    """Answers by ``(method, path without query)``; records every request."""

    routes: dict[tuple[str, str], Callable[[Seen], Reply]]
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    def calls(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path.split("?")[0] == path]


@pytest.fixture
def fake_api() -> Iterator[Callable[[dict[tuple[str, str], Callable[[Seen], Reply]]], FakeApi]]:
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(routes: dict[tuple[str, str], Callable[[Seen], Reply]]) -> FakeApi:
        api = FakeApi(routes)

        class Handler(http.server.BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length)
                )
                api.seen.append(seen)
                route = api.routes.get((self.command, self.path.split("?")[0]))
                code, body = route(seen) if route else (404, {"error": "not found"})
                data = (body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _handle

            def log_message(self, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        api.url = f"http://127.0.0.1:{server.server_address[1]}"
        return api

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _tools() -> None:
    require_component("sh", shutil.which("sh") is not None, "a POSIX shell")
    require_component("curl", shutil.which("curl") is not None, "apt-get install curl")


def run_script(script: Path, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    _tools()
    base = {"PATH": "/usr/local/bin:/usr/bin:/bin"}
    return subprocess.run(
        ["sh", str(script)],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


AVAILABLE = ("GET", "/api/status"), lambda s: (200, {"status": {"overall": {"level": "available"}}})
DEFAULT_VIEW = ("POST", "/api/data_views/default"), lambda s: (200, {"acknowledged": True})


def kibana_env(api: FakeApi, **extra: str) -> dict[str, str]:
    return {
        "KIBANA_URL": api.url,
        "KIBANA_PASSWORD": "pw-1",
        "SAVED_OBJECTS": str(BUNDLE),
        "KIBANA_WAIT_ATTEMPTS": "3",
        "KIBANA_WAIT_SECONDS": "0",
        **extra,
    }


def test_import_sends_the_bundle_and_succeeds(fake_api: Any) -> None:
    objects = BUNDLE.read_text(encoding="utf-8").count("\n")
    api = fake_api(
        dict(
            [
                AVAILABLE,
                DEFAULT_VIEW,
                (
                    ("POST", "/api/saved_objects/_import"),
                    lambda s: (200, {"success": True, "successCount": objects, "successResults": []}),
                ),
            ]
        )
    )
    result = run_script(IMPORT_SH, kibana_env(api))
    assert result.returncode == 0, result.stdout + result.stderr
    (call,) = api.calls("POST", "/api/saved_objects/_import")
    assert "overwrite=true" in call.path
    assert call.headers["kbn-xsrf"] == "true"
    assert call.headers["authorization"] == basic("elastic", "pw-1")
    assert call.headers["content-type"].startswith("multipart/form-data")
    assert b'name="file"; filename="saved_objects.ndjson"' in call.body
    assert BUNDLE.read_bytes() in call.body
    (default,) = api.calls("POST", "/api/data_views/default")
    assert json.loads(default.body) == {"data_view_id": "mlmon-inference", "force": True}


def test_import_is_idempotent(fake_api: Any) -> None:
    api = fake_api(
        dict(
            [
                AVAILABLE,
                DEFAULT_VIEW,
                (("POST", "/api/saved_objects/_import"), lambda s: (200, {"success": True, "successCount": 1})),
            ]
        )
    )
    for _ in range(2):
        assert run_script(IMPORT_SH, kibana_env(api)).returncode == 0
    assert len(api.calls("POST", "/api/saved_objects/_import")) == 2


def test_import_fails_on_success_false_with_http_200(fake_api: Any) -> None:
    failure = {
        "success": False,
        "successCount": 3,
        "errors": [
            {
                "id": "mlmon-search-labels",
                "type": "search",
                "error": {"type": "missing_references", "references": [{"type": "index-pattern", "id": "x"}]},
            }
        ],
    }
    api = fake_api(dict([AVAILABLE, DEFAULT_VIEW, (("POST", "/api/saved_objects/_import"), lambda s: (200, failure))]))
    result = run_script(IMPORT_SH, kibana_env(api))
    assert result.returncode != 0
    assert "missing_references" in result.stdout  # the response is shown to whoever reads the logs
    assert not api.calls("POST", "/api/data_views/default")


def test_import_fails_on_http_error(fake_api: Any) -> None:
    api = fake_api(
        dict(
            [
                AVAILABLE,
                (
                    ("POST", "/api/saved_objects/_import"),
                    lambda s: (401, {"statusCode": 401, "error": "Unauthorized", "success": True}),
                ),
            ]
        )
    )
    assert run_script(IMPORT_SH, kibana_env(api)).returncode != 0


def test_import_waits_a_bounded_time_for_kibana(fake_api: Any) -> None:
    api = fake_api({("GET", "/api/status"): lambda s: (503, {"status": {"overall": {"level": "unavailable"}}})})
    started = time.monotonic()
    result = run_script(IMPORT_SH, kibana_env(api, KIBANA_WAIT_ATTEMPTS="3"), timeout=30)
    assert result.returncode != 0 and "not available after 3 attempts" in result.stderr
    assert len(api.calls("GET", "/api/status")) == 3
    assert not api.calls("POST", "/api/saved_objects/_import")
    assert time.monotonic() - started < 20


def test_import_waits_until_kibana_is_available(fake_api: Any) -> None:
    replies: list[Reply] = [
        (503, "Kibana server is not ready yet"),
        (200, {"status": {"overall": {"level": "degraded"}}}),
    ]
    answers = iter(replies)

    def status(_: Seen) -> Reply:
        return next(answers, (200, {"status": {"overall": {"level": "available"}}}))

    api = fake_api(
        {
            ("GET", "/api/status"): status,
            DEFAULT_VIEW[0]: DEFAULT_VIEW[1],
            ("POST", "/api/saved_objects/_import"): lambda s: (200, {"success": True}),
        }
    )
    result = run_script(IMPORT_SH, kibana_env(api, KIBANA_WAIT_ATTEMPTS="5"))
    assert result.returncode == 0, result.stderr
    assert len(api.calls("GET", "/api/status")) == 3


def test_import_refuses_to_run_without_a_password(fake_api: Any) -> None:
    api = fake_api(dict([AVAILABLE]))
    env = kibana_env(api)
    del env["KIBANA_PASSWORD"]
    result = run_script(IMPORT_SH, env)
    assert result.returncode == 2 and not api.seen


def test_import_with_unreachable_kibana_fails(tmp_path: Path) -> None:
    result = run_script(
        IMPORT_SH,
        {
            "KIBANA_URL": f"http://127.0.0.1:{free_port()}",
            "KIBANA_PASSWORD": "x",
            "KIBANA_WAIT_ATTEMPTS": "2",
            "KIBANA_WAIT_SECONDS": "0",
        },
    )
    assert result.returncode == 1


def es_env(api: FakeApi, **extra: str) -> dict[str, str]:
    return {
        "ES_URL": api.url,
        "ELASTIC_PASSWORD": "el-pw",
        "KIBANA_SYSTEM_PASSWORD": "kb-pw",
        "MLMON_STORE_PASSWORD": "ml-pw",
        "ES_WAIT_ATTEMPTS": "3",
        "ES_WAIT_SECONDS": "0",
        **extra,
    }


def es_routes(user_code: int = 200) -> dict[tuple[str, str], Callable[[Seen], Reply]]:
    return {
        ("GET", "/_cluster/health"): lambda s: (200, {"status": "green"}),
        ("POST", "/_security/user/kibana_system/_password"): lambda s: (200, {}),
        ("PUT", "/_security/role/mlmon_writer"): lambda s: (200, {"role": {"created": True}}),
        ("PUT", "/_security/user/mlmon"): lambda s: (user_code, {"created": True}),
    }


def test_es_setup_sets_kibana_password_and_creates_the_service_user(fake_api: Any) -> None:
    api = fake_api(es_routes())
    result = run_script(ES_SETUP_SH, es_env(api))
    assert result.returncode == 0, result.stdout + result.stderr
    (password,) = api.calls("POST", "/_security/user/kibana_system/_password")
    assert json.loads(password.body) == {"password": "kb-pw"}
    assert password.headers["authorization"] == basic("elastic", "el-pw")
    (role,) = api.calls("PUT", "/_security/role/mlmon_writer")
    indices = json.loads(role.body)["indices"]
    assert indices[0]["names"] == ["mlmon-*"]  # nothing outside mlmon's own indices
    (user,) = api.calls("PUT", "/_security/user/mlmon")
    assert json.loads(user.body)["password"] == "ml-pw"
    assert json.loads(user.body)["roles"] == ["mlmon_writer"]


def test_es_setup_fails_when_elasticsearch_refuses(fake_api: Any) -> None:
    api = fake_api(es_routes(user_code=403))
    result = run_script(ES_SETUP_SH, es_env(api))
    assert result.returncode != 0 and "403" in result.stderr


def test_es_setup_rejects_passwords_that_would_break_json(fake_api: Any) -> None:
    api = fake_api(es_routes())
    result = run_script(ES_SETUP_SH, es_env(api, MLMON_STORE_PASSWORD='a"b'))
    assert result.returncode == 2 and not api.seen


def test_es_setup_waits_a_bounded_time(fake_api: Any) -> None:
    api = fake_api({("GET", "/_cluster/health"): lambda s: (401, {"error": "unauthorized"})})
    result = run_script(ES_SETUP_SH, es_env(api))
    assert result.returncode == 1 and len(api.calls("GET", "/_cluster/health")) == 3
