"""The embedded stack on one machine, no Docker: an SMTP sink writing ``.eml`` files, Prometheus (when its
binary is installed), the model server, the statistics service and the drift detector, each on a free loopback
port, with the short windows and intervals of :class:`ServiceTimings`, for any registered model.

``EmbeddedStack`` is a context manager: every child is started with a bounded readiness wait and stopped by its
own pid (reverse order) on exit, also when starting failed half way. Used by `mlmon demo` and the e2e tests.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from mlmon.embedded.processes import (
    Child,
    free_port,
    prometheus_binary,
    prometheus_child,
    python_module,
    write_prometheus_config,
)
from mlmon.settings import CommonSettings
from mlmon.store.base import InferenceStore

FEEDBACK_TOKEN = "embedded-feedback-token"  # the embedded stack's /feedback token (loopback only)
Say = Callable[[str], None]


@dataclass(frozen=True)
class ServiceTimings:
    """Windows, intervals and decision sizes of the services in an embedded stack (short, for demos and
    tests; a deployment keeps the defaults of the settings classes)."""

    drift_window: str = "30s"  # MLMON_WINDOW of the drift detector
    job_interval_s: float = 5.0  # MLMON_INTERVAL_S of both jobs
    min_rows: int = 300  # drift: fewer rows in the window → no decision
    consecutive: int = 2  # drift: windows in a row before a borderline drift is decided
    stats_window: str = "1m"  # MLMON_WINDOWS of the statistics service
    label_delay_s: float = 15.0  # statistics: labels of a window are mature after this
    min_labels: int = 300  # statistics: fewest joined labels for evaluation metrics
    notify_cooldown_s: float = 600.0
    digest_interval_s: float = 20.0  # input shifts without a symptom: one digest email this often


@dataclass(frozen=True)
class ServerLaunch:
    """How the stack starts the model server: the reference server by default, or a team's own app
    (e.g. ``ServerLaunch("uvicorn", ("app:app", "--port", "{port}"), cwd=..., ready_path="/metrics")``)."""

    module: str = "model_server"
    args: tuple[str, ...] = ()  # "{port}" is replaced by the server's port
    cwd: Path | None = None
    ready_path: str = "/readyz"
    env: tuple[tuple[str, str], ...] = ()


@dataclass
class EmbeddedStack:
    """The services of one demo run. ``model_dir`` holds the trained model (with ``CURRENT``)."""

    workdir: Path
    settings: CommonSettings
    model_dir: Path
    timings: ServiceTimings = field(default_factory=ServiceTimings)
    mail_dir: Path | None = None
    use_prometheus: bool = True
    say: Say = field(default=lambda text: None)
    extra_env: dict[str, str] = field(default_factory=dict)
    children: list[Child] = field(default_factory=list)
    smtp: Any = None
    server_url: str = ""
    prometheus_url: str | None = None
    ports: dict[str, int] = field(default_factory=dict)
    pii_key: str = field(default_factory=lambda: secrets.token_hex(16))  # one secret per stack
    store: str | None = None  # MLMON_STORE of every service (default: a SQLite file in the workdir)
    server: ServerLaunch = field(default_factory=ServerLaunch)

    def __post_init__(self) -> None:
        self.workdir = self.workdir.resolve()
        self.mail_dir = (self.mail_dir or self.workdir / "mail").resolve()
        self.model_dir = self.model_dir.resolve()

    # -- paths -------------------------------------------------------------------------------------
    @property
    def inbox(self) -> Path:
        assert self.mail_dir is not None
        return self.mail_dir

    @property
    def logs_dir(self) -> Path:
        return self.workdir / "logs"

    @property
    def reports_dir(self) -> Path:
        return self.workdir / "reports"

    def latest_report(self) -> Path | None:
        reports = sorted(self.reports_dir.rglob("latest.html"))
        return reports[0] if reports else None

    @property
    def store_url(self) -> str:
        return self.store or f"sqlite:///{self.workdir / 'mlmon.db'}"

    def open_store(self) -> InferenceStore:
        """The stack's inference store, for reading what the services wrote (close it when done)."""
        from mlmon.spec import load_spec
        from mlmon.store.factory import open_store

        settings = self.settings.model_copy(update={"store": self.store_url})
        return open_store(settings, load_spec(self.settings.model_spec))

    def child(self, name: str) -> Child:
        return next(c for c in self.children if c.name == name)

    # -- lifecycle ---------------------------------------------------------------------------------
    def __enter__(self) -> EmbeddedStack:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> EmbeddedStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every child by its pid (newest first) and the SMTP sink. Safe to call twice."""
        for child in reversed(self.children):
            child.stop()
        if self.smtp is not None:
            from mlmon.embedded.smtp_sink import stop_smtp_sink

            stop_smtp_sink(self.smtp)
            self.smtp = None

    def restart_model_server(self, timeout: float = 90.0) -> None:
        """Pick up a new ``CURRENT`` model version (what a deployment does)."""
        self.child("model server").restart(f"{self.server_url}{self.server.ready_path}", timeout=timeout)

    def _common_env(self, smtp_port: int) -> dict[str, str]:
        t = self.timings
        return {
            "MLMON_STORE": self.store_url,
            "MLMON_MODEL_SPEC": str(self.settings.model_spec.resolve()),
            "MLMON_FEAST_REPO": str(self.settings.feast_repo.resolve()),
            "MLMON_MODEL_PATH": str(self.model_dir),
            "MLMON_VAR_DIR": str(self.workdir),
            "MLMON_LOG_LEVEL": "WARNING",
            "MLMON_HOST": "127.0.0.1",
            "MLMON_SMTP_HOST": "127.0.0.1",
            "MLMON_SMTP_PORT": str(smtp_port),
            "MLMON_ALERT_EMAIL_TO": "ml-team@example.com",
            "MLMON_NOTIFY_COOLDOWN_S": str(t.notify_cooldown_s),
            "MLMON_DIGEST_INTERVAL_S": str(t.digest_interval_s),
            # Links in the emails point at the report files of this run.
            "MLMON_REPORTS_DIR": str(self.reports_dir),
            **self.extra_env,
        }

    def _start(self) -> None:
        from mlmon.embedded.smtp_sink import start_smtp_sink

        t = self.timings
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.inbox.mkdir(parents=True, exist_ok=True)
        names = ("smtp", "model-server", "stats-service", "drift-detector", "prometheus")
        self.ports = {name: free_port() for name in names}
        self.smtp = start_smtp_sink("127.0.0.1", self.ports["smtp"], self.inbox)
        self.say(f"SMTP sink on 127.0.0.1:{self.ports['smtp']} writing to {self.inbox}/")
        common = self._common_env(self.ports["smtp"])
        binary = prometheus_binary() if self.use_prometheus else None
        prom: Child | None = None
        if binary:
            config = write_prometheus_config(
                self.workdir / "prometheus.yml",
                {job: f"127.0.0.1:{self.ports[job]}" for job in ("model-server", "stats-service", "drift-detector")},
            )
            shutil.rmtree(self.workdir / "prometheus-data", ignore_errors=True)
            prom = prometheus_child(
                binary,
                config,
                self.workdir / "prometheus-data",
                self.ports["prometheus"],
                self.logs_dir / "prometheus.log",
            )
            self.children.append(prom.start())
            self.prometheus_url = f"http://127.0.0.1:{self.ports['prometheus']}"
            common["MLMON_PROMETHEUS_URL"] = self.prometheus_url
        elif self.use_prometheus:
            self.say("Prometheus is not installed (apt-get install prometheus): continuing without it")

        launch = self.server
        server = python_module(
            "model server",
            launch.module,
            self.logs_dir / "model_server.log",
            {
                **common,
                "MLMON_PORT": str(self.ports["model-server"]),
                "MLMON_FEEDBACK_TOKEN": FEEDBACK_TOKEN,
                "MLMON_PII_HASH_KEY": self.pii_key,
                **dict(launch.env),
            },
            [arg.replace("{port}", str(self.ports["model-server"])) for arg in launch.args],
            launch.cwd,
        )
        stats = python_module(
            "statistics service",
            "stats_service",
            self.logs_dir / "stats_service.log",
            {
                **common,
                "MLMON_PORT": str(self.ports["stats-service"]),
                "MLMON_INTERVAL_S": str(t.job_interval_s),
                "MLMON_WINDOWS": t.stats_window,
                "MLMON_LABEL_DELAY_S": str(t.label_delay_s),
                "MLMON_MIN_LABELS": str(t.min_labels),
                "MLMON_TRAFFIC_OFFSETS": "1d",
            },
        )
        drift = python_module(
            "drift detector",
            "drift_detector",
            self.logs_dir / "drift_detector.log",
            {
                **common,
                "MLMON_PORT": str(self.ports["drift-detector"]),
                "MLMON_INTERVAL_S": str(t.job_interval_s),
                "MLMON_WINDOW": t.drift_window,
                "MLMON_MIN_ROWS": str(t.min_rows),
                "MLMON_CONSECUTIVE": str(t.consecutive),
            },
        )
        self.server_url = f"http://127.0.0.1:{self.ports['model-server']}"
        # Start everything, then wait: the children import their libraries in parallel.
        for child in (server, stats, drift):
            self.children.append(child.start())
        if prom is not None:
            prom.wait_ready(f"{self.prometheus_url}/-/ready", timeout=60)
            self.say(f"Prometheus on {self.prometheus_url} (scraping every second)")
        server.wait_ready(f"{self.server_url}{launch.ready_path}", timeout=120)
        self.say(f"model server on {self.server_url}")
        for child, port in ((stats, self.ports["stats-service"]), (drift, self.ports["drift-detector"])):
            child.wait_ready(f"http://127.0.0.1:{port}/metrics", timeout=120)
            self.say(f"{child.name} on http://127.0.0.1:{port}/metrics (every {t.job_interval_s:g}s)")
