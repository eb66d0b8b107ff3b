"""The deployment files of the compose stack: docker-compose.yml, Dockerfile, .dockerignore, .env.example.

Docker is not run here; these tests read the files and check them against the repository (paths, settings
names, CLI commands, variables) and run the image's healthcheck command against a local HTTP server.
Kibana and Grafana files are checked in ``tests/unit/stack/``.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.conftest import REPO, free_port

COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
ENV_EXAMPLE = REPO / ".env.example"

# Every Prometheus metric mlmon exports: name -> (type, label names). The one list the dashboards, the alert
# rules and a live /metrics page are compared with (team contract; histograms add _bucket/_sum/_count and le).
MLMON_METRICS: dict[str, tuple[str, frozenset[str]]] = {
    name: (kind, frozenset(labels.split()))
    for name, kind, labels in [
        # model server / instrumentation
        ("mlmon_requests_total", "counter", "model model_version endpoint status"),
        ("mlmon_request_duration_seconds", "histogram", "model model_version endpoint"),
        ("mlmon_requests_in_flight", "gauge", "model model_version"),
        ("mlmon_prediction", "histogram", "model model_version"),
        ("mlmon_predicted_class_total", "counter", "model model_version class"),
        ("mlmon_nonfinite_predictions_total", "counter", "model model_version"),
        ("mlmon_responses_total", "counter", "model model_version kind"),
        ("mlmon_feature_missing_total", "counter", "model model_version feature"),
        ("mlmon_feature_out_of_range_total", "counter", "model model_version feature"),
        ("mlmon_feature_category_total", "counter", "model model_version feature category"),
        ("mlmon_feature_bin_total", "counter", "model model_version feature bin"),
        ("mlmon_feature_bin_offset_total", "counter", "model model_version feature bin"),
        ("mlmon_inference_events_total", "counter", "model model_version outcome"),
        ("mlmon_inference_queue_depth", "gauge", "model model_version"),
        ("mlmon_inference_log_bytes", "gauge", "model model_version"),
        ("mlmon_inference_log_fill_ratio", "gauge", "model model_version"),
        ("mlmon_inference_log_oldest_unshipped_age_seconds", "gauge", "model model_version"),
        ("mlmon_backend_errors_total", "counter", "model model_version backend"),
        # statistics service
        ("mlmon_feature_stat", "gauge", "model window feature stat"),
        ("mlmon_traffic_change_ratio", "gauge", "model window offset"),
        ("mlmon_eval_metric", "gauge", "model model_version metric segment window"),
        ("mlmon_label_coverage_ratio", "gauge", "model model_version window"),
        ("mlmon_label_lag_seconds", "gauge", "model window"),
        ("mlmon_response_share", "gauge", "model window kind"),
        ("mlmon_window_predictions", "gauge", "model window"),
        ("mlmon_slo_breach", "gauge", "model slo metric severity"),
        # drift detector
        ("mlmon_drift_score", "gauge", "model model_version role feature method source"),
        ("mlmon_drift_window_rows", "gauge", "model model_version"),
        ("mlmon_drift_insufficient_data", "gauge", "model model_version"),
        ("mlmon_drift_p_value", "gauge", "model model_version role feature method"),
        ("mlmon_drift_detected", "gauge", "model model_version role feature"),
        # both jobs
        ("mlmon_job_last_success_timestamp_seconds", "gauge", "model job"),
        ("mlmon_job_duration_seconds", "gauge", "model job"),
        ("mlmon_job_interval_seconds", "gauge", "model job"),
        ("mlmon_job_runs_total", "counter", "model job outcome"),
        # notifier
        ("mlmon_notifications_total", "counter", "model outcome"),
        ("mlmon_notifications_pending", "gauge", "model"),
    ]
}


def metric_labels(series_name: str) -> frozenset[str] | None:
    """Label names of a series name as PromQL sees it (``x_bucket`` of a histogram has ``le``); None if unknown."""
    if series_name in MLMON_METRICS:
        return MLMON_METRICS[series_name][1]
    for suffix, extra in (("_bucket", {"le"}), ("_sum", set()), ("_count", set())):
        base = series_name.removesuffix(suffix)
        if base != series_name and MLMON_METRICS.get(base, ("", frozenset()))[0] == "histogram":
            return MLMON_METRICS[base][1] | extra
    return None


PYTHON_SERVICES = {  # compose service -> (mlmon subcommand, settings class name, port or None)
    "feast-train": ("demo", "CommonSettings", None),
    "model-server": ("serve", "ModelServerSettings", 8000),
    "stats-service": ("stats", "StatsSettings", 8001),
    "drift-detector": ("drift", "DriftSettings", 8002),
    "replay": ("replay", "ModelServerSettings", None),  # sends feedback: needs the feedback token
}
EXPECTED_SERVICES = {
    "elasticsearch",
    "es-setup",
    "kibana",
    "kibana-import",
    "prometheus",
    "alertmanager",
    "grafana",
    "mailpit",
    *PYTHON_SERVICES,
}
# Files the compose file mounts that other parts of the project own; they may not exist yet.
OWNED_BY_OTHERS = {"prometheus/prometheus.yml", "prometheus/rules", "alertmanager/alertmanager.yml", "README.md"}
_VAR = re.compile(r"(?<!\$)\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<mod>[^}]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")


def load_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for n, line in enumerate(ENV_EXAMPLE.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", key), f".env.example:{n}: not KEY=value: {line!r}"
        assert key not in values, f".env.example:{n}: {key} is listed twice"
        values[key] = value
    return values


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose-style ``${VAR}``, ``${VAR:-default}``, ``${VAR:?err}`` with ``env``; ``$$`` stays ``$``."""

    def sub(m: re.Match[str]) -> str:
        name = m["braced"] or m["bare"]
        mod = m["mod"] or ""
        if name in env and env[name] != "":
            return env[name]
        if mod.startswith(":-"):
            return mod[2:]
        raise AssertionError(f"{name} is not set and has no default")

    return _VAR.sub(sub, value).replace("$$", "$")


def walk_strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from walk_strings(key)
            yield from walk_strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk_strings(item)


def is_one_shot(service: dict[str, Any]) -> bool:
    return service.get("restart") == "no"


def bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    mounts = []
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            mounts.append((source, target))
    return mounts


def repo_path(source: str) -> Path:
    return (REPO / source).resolve()


def container_to_repo(service: dict[str, Any], container_path: str) -> Path | None:
    """The repository file a path inside the container comes from, through the service's bind mounts."""
    for source, target in bind_mounts(service):
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            return repo_path(source) / Path(container_path).relative_to(target)
    return None


def relative(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


# --------------------------------------------------------------------------------------- docker-compose.yml


def test_compose_parses_and_has_every_service() -> None:
    compose = load_compose()
    assert compose["name"] == "mlmon"
    services = compose["services"]
    assert set(services) >= EXPECTED_SERVICES, f"missing: {EXPECTED_SERVICES - set(services)}"
    assert services["replay"].get("profiles") == ["replay"]
    for name, service in services.items():
        if name != "replay":
            assert "profiles" not in service, f"{name} must start with a plain `docker compose up`"


def test_bind_mounts_and_build_context_exist() -> None:
    services = load_compose()["services"]
    pending = []
    for name, service in services.items():
        for source, target in bind_mounts(service):
            path = repo_path(source)
            assert REPO in path.parents or path == REPO, f"{name}: {source} is outside the repository"
            assert path.exists(), f"{name}: bind mount {source} -> {target} does not exist"
        build = service.get("build")
        if build:
            context = repo_path(build["context"] if isinstance(build, dict) else build)
            assert context.is_dir(), f"{name}: build context missing"
            dockerfile = build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"
            assert (context / dockerfile).is_file(), f"{name}: {dockerfile} missing"
    # Files read inside mounted folders, by the documented names (owned by the Prometheus/Alertmanager part).
    for name, flag in (("prometheus", "--config.file="), ("alertmanager", "--config.file=")):
        service = services[name]
        paths = [arg.removeprefix(flag) for arg in service["command"] if arg.startswith(flag)]
        assert len(paths) == 1, f"{name}: exactly one {flag}"
        host = container_to_repo(service, paths[0])
        assert host is not None, f"{name}: {paths[0]} is not inside a bind mount"
        assert relative(host) in OWNED_BY_OTHERS, f"{name}: reads {relative(host)}, not a documented file"
        if not host.exists():
            pending.append(relative(host))
    assert not pending, f"documented files missing: {', '.join(pending)}"


def test_long_running_services_have_healthchecks_and_one_shots_do_not_restart() -> None:
    services = load_compose()["services"]
    one_shots = {"es-setup", "kibana-import", "feast-train", "replay"}
    for name, service in services.items():
        if name in one_shots:
            assert is_one_shot(service), f'{name} is a one-shot job: restart must be "no"'
            continue
        assert not is_one_shot(service), f"{name} is long-running"
        check = service.get("healthcheck")
        assert check and not check.get("disable"), f"{name} has no healthcheck"
        test = check["test"]
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name
        for key in ("interval", "timeout", "retries"):
            assert key in check, f"{name}: healthcheck without {key}"


def test_depends_on_waits_for_health_or_completion() -> None:
    services = load_compose()["services"]
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for dep, spec in depends.items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            assert "profiles" not in services[dep], f"{name} depends on {dep}, which only runs in a profile"
            want = "service_completed_successfully" if is_one_shot(services[dep]) else "service_healthy"
            assert spec.get("condition") == want, f"{name} -> {dep}: condition must be {want}"
    # the order that makes the stack work
    assert "es-setup" in services["kibana"]["depends_on"]
    assert "kibana" in services["kibana-import"]["depends_on"]
    for name in ("model-server", "stats-service", "drift-detector"):
        assert {"feast-train", "es-setup"} <= set(services[name]["depends_on"]), name


def test_host_ports_bind_to_loopback_only() -> None:
    for name, service in load_compose()["services"].items():
        for port in service.get("ports", []):
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), f"{name}: {port} is not on 127.0.0.1"


def test_every_variable_is_in_env_example_and_secrets_are_required() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    example = env_example()
    used: dict[str, set[str]] = {}
    for m in _VAR.finditer(text):
        used.setdefault(m["braced"] or m["bare"], set()).add(m["mod"] or "")
    assert used, "no variables found: the test cannot see them"
    assert set(used) <= set(example), f"not in .env.example: {sorted(set(used) - set(example))}"
    assert set(example) <= set(used), f".env.example lists unused variables: {sorted(set(example) - set(used))}"
    secrets = {n for n in used if re.search(r"PASSWORD|TOKEN|KEY", n)}
    assert secrets >= {
        "ELASTIC_PASSWORD",
        "KIBANA_SYSTEM_PASSWORD",
        "MLMON_STORE_PASSWORD",
        "GRAFANA_ADMIN_PASSWORD",
        "MLMON_FEEDBACK_TOKEN",
    }
    for name in secrets:
        assert all(mod.startswith(":?") for mod in used[name]), f"${{{name}}} must be required (${{{name}:?…}})"
        assert "change-me" in example[name], f".env.example: {name} must be an obvious placeholder"
    for name in ("ELASTIC_PASSWORD", "KIBANA_SYSTEM_PASSWORD", "MLMON_STORE_PASSWORD"):
        assert re.fullmatch(r"[A-Za-z0-9._-]+", example[name]), f"{name}: es_setup.sh accepts [A-Za-z0-9._-]"
    assert len(example["KIBANA_ENCRYPTION_KEY"]) >= 32
    assert re.fullmatch(r"9\.\d+\.\d+", example["ELASTIC_VERSION"]), "Elasticsearch/Kibana 9.x"


def test_elastic_stack_is_secured_and_kibana_uses_kibana_system() -> None:
    services = load_compose()["services"]
    es = services["elasticsearch"]["environment"]
    assert es["xpack.security.enabled"] == "true"
    assert es["xpack.security.http.ssl.enabled"] == "false"
    assert es["discovery.type"] == "single-node"
    assert "ELASTIC_PASSWORD" in es
    assert services["elasticsearch"]["image"].startswith("docker.elastic.co/elasticsearch/elasticsearch:")
    assert services["kibana"]["image"].startswith("docker.elastic.co/kibana/kibana:")
    kibana = services["kibana"]["environment"]
    assert kibana["ELASTICSEARCH_USERNAME"] == "kibana_system"
    setup_env = services["es-setup"]["environment"]
    # Kibana logs in with the password es-setup sets
    assert kibana["ELASTICSEARCH_PASSWORD"].split(":")[0] == setup_env["KIBANA_SYSTEM_PASSWORD"].split(":")[0]
    script = (REPO / "kibana" / "es_setup.sh").read_text(encoding="utf-8")
    assert "/_security/user/kibana_system/_password" in script
    importer = services["kibana-import"]
    assert importer["entrypoint"][-1] == "/kibana/import.sh"
    assert container_to_repo(importer, "/kibana/import.sh") == REPO / "kibana" / "import.sh"
    assert container_to_repo(importer, importer["environment"]["SAVED_OBJECTS"]) == (
        REPO / "kibana" / "saved_objects.ndjson"
    )
    # the services' user is the one es-setup creates
    for name in ("model-server", "stats-service", "drift-detector"):
        assert services[name]["environment"]["MLMON_STORE_USERNAME"] == setup_env["MLMON_STORE_USERNAME"]


def test_python_services_run_real_cli_commands() -> None:
    from mlmon.cli import build_parser

    services = load_compose()["services"]
    for name, (subcommand, _, _) in PYTHON_SERVICES.items():
        service = services[name]
        assert service["image"] == "mlmon:local" and service["build"]["context"] == ".", name
        command = service["command"]
        assert command[0] == subcommand, f"{name} runs `mlmon {command[0]}`"
        args = build_parser().parse_args(command)  # SystemExit on an unknown option
        assert args.command == subcommand
    replay = build_parser().parse_args(services["replay"]["command"])
    assert replay.scenario == "unit-change" and replay.target == "http://model-server:8000"


def _settings_classes() -> dict[str, Any]:
    from mlmon import settings

    return {
        name: getattr(settings, name)
        for name in ("CommonSettings", "ModelServerSettings", "StatsSettings", "DriftSettings")
    }


def test_python_services_are_configured_with_real_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every MLMON_* variable is a field of the service's settings class, and the settings validate."""
    from mlmon.settings import load_settings

    classes = _settings_classes()
    services = load_compose()["services"]
    example = env_example()
    for name, (_, class_name, port) in PYTHON_SERVICES.items():
        cls = classes[class_name]
        env = {k: interpolate(str(v), example) for k, v in services[name]["environment"].items()}
        fields = {f"MLMON_{f.upper()}" for f in cls.model_fields}
        unknown = sorted(k for k in env if k.startswith("MLMON_") and k not in fields)
        assert not unknown, f"{name}: {unknown} are not settings of {class_name}"
        with monkeypatch.context() as mp:
            for key in [k for k in os.environ if k.startswith("MLMON_")]:
                mp.delenv(key)
            for key, value in env.items():
                mp.setenv(key, value)
            settings = load_settings(cls, _env_file=None)
        assert settings.store == "http://elasticsearch:9200"
        assert settings.host == "0.0.0.0"
        if port is not None:
            assert settings.port == port
            assert f"127.0.0.1:{port}:{port}" in services[name]["ports"]
            check = " ".join(services[name]["healthcheck"]["test"])
            assert f"127.0.0.1:{port}/" in check, f"{name}: the healthcheck must ask port {port}"


def test_urls_inside_the_stack_name_compose_services() -> None:
    services = load_compose()["services"]
    for name, service in services.items():
        for text in walk_strings(service.get("environment", {})):
            for url in re.findall(r"https?://[^\s'\"}]+", text):
                host = urlsplit(url).hostname
                if host in ("127.0.0.1", "localhost"):
                    continue  # links for the browser on the host
                assert host in services, f"{name}: {url} names no compose service"
    email = services["stats-service"]["environment"]
    assert email["MLMON_SMTP_HOST"] == "mailpit" and email["MLMON_SMTP_PORT"] == "1025"


def test_healthcheck_snippets_compile() -> None:
    for name, service in load_compose()["services"].items():
        test = service.get("healthcheck", {}).get("test", [])
        if test[:2] == ["CMD", "python"]:
            assert test[2] == "-c"
            compile(test[3], f"<{name} healthcheck>", "exec")
            assert "curl" not in test[3]


def test_cross_check_prometheus_config() -> None:
    """prometheus.yml must fit this compose file: rule files and scrape targets."""
    path = REPO / "prometheus" / "prometheus.yml"
    services = load_compose()["services"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    prom = services["prometheus"]
    config_dir = "/etc/prometheus"  # --config.file's folder: relative rule paths start there
    for pattern in config.get("rule_files", []):
        host = container_to_repo(prom, pattern if pattern.startswith("/") else f"{config_dir}/{pattern}")
        assert host is not None, f"rule_files {pattern} is outside the mounted /etc/prometheus"
        assert list(host.parent.glob(host.name)), f"rule_files {pattern} matches no file"
    ports = {name: {p.split(":")[-1] for p in s.get("ports", [])} for name, s in services.items()}
    targets = [
        t
        for job in config.get("scrape_configs", [])
        for sc in job.get("static_configs", [])
        for t in sc.get("targets", [])
    ]
    for am in config.get("alerting", {}).get("alertmanagers", []):
        targets += [t for sc in am.get("static_configs", []) for t in sc.get("targets", [])]
    for target in targets:
        host, _, port = target.rpartition(":")
        if host in ("localhost", "127.0.0.1"):
            continue  # Prometheus itself
        assert host in services, f"scrape target {target} names no compose service"
        assert port in ports[host] or port == "9200", f"{target}: {host} does not listen on {port}"


# ----------------------------------------------------------------------------------------- Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_dockerfile_installs_the_project_as_non_root() -> None:
    steps = dockerfile_instructions()
    assert steps[0] == ("FROM", "python:3.11-slim")
    runs = " && ".join(rest for kw, rest in steps if kw == "RUN")
    assert re.search(r"pip install (--[a-z-]+ )*\.(\s|$)", runs), "the image must `pip install .`"
    assert "curl" not in runs and "apt-get" not in runs, "no extra packages: healthchecks use Python"
    users = [rest for kw, rest in steps if kw == "USER"]
    assert users and users[-1] not in ("root", "0"), "the services must not run as root"
    entry = [rest for kw, rest in steps if kw == "ENTRYPOINT"]
    assert entry == ['["mlmon"]']
    import tomllib

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert "mlmon" in scripts
    env_names = set(re.findall(r"(MLMON_[A-Z_]+)=", " ".join(rest for kw, rest in steps if kw == "ENV")))
    fields = {f"MLMON_{f.upper()}" for cls in _settings_classes().values() for f in cls.model_fields}
    assert env_names and env_names <= fields, f"unknown settings: {env_names - fields}"


def test_dockerfile_copies_existing_paths_not_ignored() -> None:
    ignored = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith(("#", "!"))
    }
    assert {".env", ".venv", "var", ".git", "feature_repo/data"} <= ignored
    pending = []
    for keyword, rest in dockerfile_instructions():
        if keyword != "COPY" or "--from" in rest:
            continue
        sources = [p for p in rest.split() if not p.startswith("--")][:-1]
        for source in sources:
            assert source not in ignored, f"COPY {source} but .dockerignore excludes it"
            if not (REPO / source).exists():
                assert source in OWNED_BY_OTHERS, f"COPY {source}: no such path"
                pending.append(source)
    # the packages pip installs must all be in the build context
    import tomllib

    include = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    copied = {p for kw, rest in dockerfile_instructions() if kw == "COPY" for p in rest.split()}
    for pattern in include["include"]:
        assert pattern.rstrip("*") in copied, f"package {pattern} is not copied into the image"
    assert not pending, f"files missing from the image build: {pending}"


@pytest.fixture
def http_200() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code = 200 if self.path == "/healthz" else 404
            self.send_response(code)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_dockerfile_healthcheck_command_works(http_200: int) -> None:
    health = [rest for kw, rest in dockerfile_instructions() if kw == "HEALTHCHECK"]
    assert len(health) == 1
    cmd = json.loads(health[0][health[0].index("CMD") + 3 :].strip())
    assert cmd[:2] == ["python", "-c"]

    def run(port: int, path: str) -> int:
        env = {"MLMON_PORT": str(port), "HEALTHCHECK_PATH": path, "PATH": "/usr/bin:/bin"}
        return subprocess.run([sys.executable, "-c", cmd[2]], env=env, capture_output=True, timeout=20).returncode

    assert run(http_200, "/healthz") == 0
    assert run(http_200, "/nope") != 0
    assert run(free_port(), "/healthz") != 0


def test_cross_check_alertmanager_config() -> None:
    """alertmanager.yml must send through the compose mail catcher."""
    path = REPO / "alertmanager" / "alertmanager.yml"
    services = load_compose()["services"]
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    hosts = [config.get("global", {}).get("smtp_smarthost")]
    hosts += [e.get("smarthost") for r in config.get("receivers", []) for e in r.get("email_configs", [])]
    hosts = [h for h in hosts if h]
    assert hosts, "no SMTP smarthost configured"
    container_ports = {p.split(":")[-1] for p in services["mailpit"]["ports"]}
    for host in hosts:
        name, _, port = host.rpartition(":")
        assert name == "mailpit" and port in container_ports, f"smarthost {host} is not the mailpit service"
    assert config["global"].get("smtp_require_tls") is False, "Mailpit speaks plain SMTP"
