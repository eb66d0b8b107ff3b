"""The embedded stack on one machine, no Docker: an SMTP sink writing ``.eml`` files, Prometheus (when its
binary is installed), the model server, the statistics service and the drift detector, each on a free loopback
port, with the short windows and intervals of :class:`DemoTimings`.

``EmbeddedStack`` is a context manager: every child is started with a bounded readiness wait and stopped by its
own pid (reverse order) on exit, also when starting failed half way. Used by `mlmon demo` and the e2e tests.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from mlmon.processes import (
    Child,
    free_port,
    prometheus_binary,
    prometheus_child,
    python_module,
    write_prometheus_config,
)
from mlmon.settings import CommonSettings
from mlmon.store.base import InferenceStore

FEEDBACK_TOKEN = "demo-feedback-token"
Say = Callable[[str], None]


@dataclass(frozen=True)
class DemoTimings:
    """Rates, phases, windows and intervals of one demo run (defaults: what `mlmon demo` uses)."""

    rate: float = 60.0  # predictions per second sent by the replay
    baseline_s: float = 25.0  # normal traffic before the fault
    fault_s: float = 60.0  # longest fault phase (ends early once the incident email is in)
    drift_window: str = "30s"  # MLMON_WINDOW of the drift detector
    job_interval_s: float = 5.0  # MLMON_INTERVAL_S of both jobs
    min_rows: int = 300  # drift: fewer rows in the window → no decision
    consecutive: int = 2  # drift: windows in a row before drift is decided
    stats_window: str = "1m"  # MLMON_WINDOWS of the statistics service
    label_delay_s: float = 15.0  # statistics: labels of a window are mature after this
    min_labels: int = 300  # statistics: fewest joined labels for evaluation metrics
    feedback_delay_s: float = 3.0  # replay: ground truth is posted this long after each prediction
    # Baseline history sent in one burst before phase 1, so the monitors' first windows are not a few dozen
    # rows (a 2% share SLO on 50 rows breaches by chance; a running service has history when monitored).
    history_rows: int = 600
    timeout_s: float = 300.0  # bound on one scenario run (baseline + fault + waiting)
    grace_s: float = 30.0  # keep watching the inbox this long after the fault phase ended
    notify_cooldown_s: float = 600.0

    ENV_PREFIX = "MLMON_DEMO_"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, base: DemoTimings | None = None) -> DemoTimings:
        """Defaults overridden by ``MLMON_DEMO_<FIELD>`` (e.g. ``MLMON_DEMO_RATE=100``, ``MLMON_DEMO_FAULT_S=30``)."""
        environ = os.environ if environ is None else environ
        base = base or cls()
        changes: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(f"{cls.ENV_PREFIX}{f.name.upper()}")
            if raw is None or not raw.strip():
                continue
            kind = type(getattr(base, f.name))
            try:
                changes[f.name] = kind(raw.strip())
            except ValueError:
                raise ValueError(f"{cls.ENV_PREFIX}{f.name.upper()}={raw!r} is not a valid {kind.__name__}") from None
        return dataclasses.replace(base, **changes)


@dataclass
class EmbeddedStack:
    """The services of one demo run. ``model_dir`` holds the trained model (with ``CURRENT``)."""

    workdir: Path
    settings: CommonSettings
    model_dir: Path
    timings: DemoTimings = field(default_factory=DemoTimings)
    mail_dir: Path | None = None
    use_prometheus: bool = True
    say: Say = field(default=lambda text: None)
    extra_env: dict[str, str] = field(default_factory=dict)
    children: list[Child] = field(default_factory=list)
    smtp: Any = None
    server_url: str = ""
    prometheus_url: str | None = None
    ports: dict[str, int] = field(default_factory=dict)

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
        return f"sqlite:///{self.workdir / 'mlmon.db'}"

    def open_store(self) -> InferenceStore:
        """The stack's inference store, for reading what the services wrote (close it when done)."""
        from mlmon.spec import load_spec
        from mlmon.store.factory import open_store

        settings = self.settings.model_copy(update={"store": self.store_url})
        return open_store(settings, load_spec(self.settings.model_spec))

    def child(self, name: str) -> Child:
        return next(c for c in self.children if c.name == name)

    @property
    def pids(self) -> list[int]:
        return [c.pid for c in self.children if c.pid is not None]

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
            from mlmon.notify.sink import stop_smtp_sink

            stop_smtp_sink(self.smtp)
            self.smtp = None

    def restart_model_server(self, timeout: float = 90.0) -> None:
        """Pick up a new ``CURRENT`` model version (what a deployment does)."""
        self.child("model server").restart(f"{self.server_url}/readyz", timeout=timeout)

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
            # Links in the emails point at the report files of this run.
            "MLMON_REPORTS_DIR": str(self.reports_dir),
            **self.extra_env,
        }

    def _start(self) -> None:
        from mlmon.notify.sink import start_smtp_sink

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

        server = python_module(
            "model server",
            "model_server",
            self.logs_dir / "model_server.log",
            {
                **common,
                "MLMON_PORT": str(self.ports["model-server"]),
                "MLMON_FEEDBACK_TOKEN": FEEDBACK_TOKEN,
                "MLMON_PII_HASH_KEY": "demo-pii-key",
            },
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
        server.wait_ready(f"{self.server_url}/readyz", timeout=120)
        self.say(f"model server on {self.server_url}")
        for child, port in ((stats, self.ports["stats-service"]), (drift, self.ports["drift-detector"])):
            child.wait_ready(f"http://127.0.0.1:{port}/metrics", timeout=120)
            self.say(f"{child.name} on http://127.0.0.1:{port}/metrics (every {t.job_interval_s:g}s)")
