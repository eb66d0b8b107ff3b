"""Settings: one pydantic-settings class per service, all read from ``MLMON_*`` variables and ``.env``.

    CommonSettings          store, spec, model path, Feast repo, Prometheus, logging
    ├── ModelServerSettings  HTTP listener, feedback token, local inference log, PII
    ├── StatsSettings        + EmailSettings: windows, traffic change, label delay
    └── DriftSettings        + EmailSettings: window, decision rule, reports

Nothing is instantiated at import time; entry points build the one they need and pass it down.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mlmon.errors import ConfigError

_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d|w)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """``"90s"``, ``"5m"``, ``"1h"``, ``"1d"`` → seconds (Prometheus-style durations)."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30s, 5m, 1h or 1d")
    return int(match[1]) * _UNIT_SECONDS[match[2]]


def _split_list(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _check_emails(values: list[str]) -> list[str]:
    bad = [v for v in values if not _EMAIL.match(v)]
    if bad:
        raise ValueError(f"not an email address: {', '.join(bad)}")
    return values


_CONFIG = SettingsConfigDict(
    env_prefix="MLMON_", env_file=".env", extra="ignore", env_ignore_empty=True, validate_default=True
)


class CommonSettings(BaseSettings):
    model_config = _CONFIG

    store: str = Field(
        default="sqlite:///var/mlmon.db",
        description="Inference store: sqlite:///path/to.db or an http(s):// Elasticsearch/OpenSearch URL",
    )
    store_api_key: SecretStr | None = Field(default=None, description="Elasticsearch API key")
    store_username: str | None = Field(default=None, description="Elasticsearch basic-auth user")
    store_password: SecretStr | None = Field(default=None, description="Elasticsearch basic-auth password")
    store_verify_certs: bool = Field(default=True, description="Verify the store's TLS certificate")
    store_ca_certs: Path | None = Field(default=None, description="CA bundle for the store's TLS certificate")
    store_retention_days: int = Field(default=30, ge=1, description="Daily inference indices kept")
    model_spec: Path = Field(default=Path("spec.yaml"), description="Model spec YAML")
    model_path: Path | None = Field(
        default=None,
        description="Registered model folder (holds CURRENT and one folder per version; default: "
        "<var_dir>/models/<model>)",
    )
    feast_repo: Path = Field(default=Path("feature_repo"), description="Feast repository (training baseline)")
    prometheus_url: str | None = Field(default=None, description="Prometheus base URL for PromQL queries")
    var_dir: Path = Field(default=Path("var"), description="Working folder for state, inference log, reports, mail")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="Log level")
    host: str = Field(default="127.0.0.1", description="HTTP listen address")
    port: int = Field(default=8000, ge=0, le=65535, description="HTTP listen port")

    def model_dir(self, model: str) -> Path:
        """Where the versions of ``model`` are registered."""
        return self.model_path or self.var_dir / "models" / model

    @field_validator("store")
    @classmethod
    def _store_url(cls, value: str) -> str:
        if not (value.startswith("sqlite:///") or value.startswith(("http://", "https://"))):
            raise ValueError("must start with sqlite:/// or http(s)://")
        return value

    @field_validator("prometheus_url")
    @classmethod
    def _prom_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s):// URL")
        return value.rstrip("/") if value else value


class ModelServerSettings(CommonSettings):
    feedback_token: SecretStr | None = Field(
        default=None, description="Bearer token required by POST /feedback (unset: feedback is refused)"
    )
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Worker processes of `mlmon serve` (each with its own inference log; >1 merges /metrics "
        "through PROMETHEUS_MULTIPROC_DIR, default <var_dir>/metrics-multiproc)",
    )
    scoring_threads: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Threads per worker that parse, score and log /predict requests (more only add GIL "
        "contention for the event loop that answers /healthz; scale with --workers)",
    )
    gil_switch_interval_ms: float = Field(
        default=1.0,
        gt=0,
        le=100,
        description="How long a thread may hold the GIL while another waits (Python's default is 5 ms): shorter "
        "lets the event loop answer /healthz and single requests between the scoring and shipping threads",
    )
    max_batch_size: int = Field(default=256, ge=1, description="Largest batch accepted by /predict")
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Larger request bodies get 413")
    unknown_fields: Literal["reject", "ignore"] = Field(default="reject", description="Unknown request fields")
    pii_mode: Literal["hash", "drop"] = Field(default="hash", description="How PII fields are stored")
    pii_hash_key: SecretStr | None = Field(
        default=None,
        description="Key of the keyed hash (HMAC-SHA256) for PII fields; required when the spec has PII features "
        "and MLMON_PII_MODE is hash (a placeholder is refused)",
    )
    body_timeout_s: float = Field(
        default=10.0, gt=0, description="A request body not received within this time gets 408 (slow clients)"
    )
    log_dir: Path | None = Field(
        default=None, description="Local inference log, one folder per process (default: <var_dir>/log)"
    )
    log_max_bytes: int = Field(
        default=256 * 1024 * 1024, ge=1024, description="Local log size limit per process; when full, see log_full"
    )
    log_segment_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, description="Local log segment file size")
    log_fsync: Literal["always", "interval", "never"] = Field(
        default="interval",
        description="When the local log is fsynced: always (before each answer), interval, never (the OS decides)",
    )
    log_fsync_interval_s: float = Field(default=1.0, gt=0, description="fsync period of log_fsync=interval")
    log_full: Literal["refuse", "drop"] = Field(
        default="refuse", description="Log full: refuse predictions with 503, or serve them and drop their events"
    )
    log_full_ready: bool = Field(default=False, description="Stay ready (/readyz 200) while the local log is full")
    log_adopt_interval_s: float = Field(
        default=30.0, gt=0, description="How often logs left by stopped processes are looked for and shipped"
    )
    log_shipper: Literal["process", "thread"] = Field(
        default="process",
        description="Where events are decoded and written to the store: a child process per server process "
        "(off the GIL of the requests), or a thread of the server process",
    )
    log_close_timeout_s: float = Field(
        default=10.0, ge=0, description="Shutdown: time to ship the local log before leaving the rest on disk"
    )
    event_time_max_past_s: float = Field(
        default=86400, ge=0, description="A client's event_time may be at most this long before the server's clock"
    )
    event_time_max_future_s: float = Field(
        default=300, ge=0, description="A client's event_time may be at most this long after the server's clock"
    )
    bulk_size: int = Field(
        default=2000, ge=1, description="Events per bulk write to the store (fewer commits per event)"
    )
    flush_interval_s: float = Field(default=0.5, gt=0, description="Longest wait before a bulk write")
    replay_interval_s: float = Field(default=2.0, gt=0, description="How often a store outage is re-checked")

    @property
    def log_path(self) -> Path:
        return self.log_dir or self.var_dir / "log"


class EmailSettings(BaseSettings):
    """SMTP and notification policy, shared by the statistics service and the drift detector."""

    model_config = _CONFIG

    smtp_host: str | None = Field(default=None, description="SMTP server (unset: no email is sent)")
    smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP port")
    smtp_security: Literal["none", "starttls", "ssl"] = Field(default="none", description="none, starttls or ssl")
    smtp_username: str | None = Field(default=None, description="SMTP login (optional)")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password (optional)")
    smtp_timeout_s: float = Field(default=10.0, gt=0, description="SMTP connect/command timeout")
    alert_email_from: str = Field(default="mlmon@localhost.localdomain", description="Sender address")
    alert_email_to: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Recipients (comma separated)"
    )
    alert_email_to_critical: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Extra recipients for critical incidents (comma separated)"
    )
    notify_cooldown_s: float = Field(default=3600, ge=0, description="Repeat suppression per incident")
    input_shifts: Literal["digest", "notify"] = Field(
        default="digest",
        description="Input shifts without a symptom: digest (context in the incident and the digest email) or "
        "notify (an incident email like a symptom)",
    )
    digest_interval_s: float = Field(
        default=86400, gt=0, description="Seconds between digest emails of input shifts without a symptom"
    )
    kibana_url: str = Field(default="http://127.0.0.1:5601", description="Base URL for Kibana links")
    grafana_url: str = Field(default="http://127.0.0.1:3000", description="Base URL for Grafana links")
    report_base_url: str | None = Field(default=None, description="Where the HTML reports are served")

    @field_validator("alert_email_to", "alert_email_to_critical", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("alert_email_to", "alert_email_to_critical")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        return _check_emails(value)

    @field_validator("alert_email_from")
    @classmethod
    def _sender(cls, value: str) -> str:
        return _check_emails([value])[0]


class StatsSettings(CommonSettings, EmailSettings):
    model_config = _CONFIG
    port: int = Field(default=8001, ge=0, le=65535, description="Metrics listener port")
    interval_s: float = Field(default=60, gt=0, description="Seconds between runs")
    windows: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["1h", "1d"], description="Window lengths (comma separated)"
    )
    traffic_change_threshold: float = Field(default=0.4, gt=0, description="Traffic change ratio finding")
    traffic_offsets: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["1d", "1w"], description="Compare volume with the same window this long ago"
    )
    label_delay_s: float = Field(default=3600, ge=0, description="Labels of a window are mature after this")
    min_labels: int = Field(default=30, ge=1, description="Fewest joined labels for evaluation metrics")
    min_rows: int = Field(default=100, ge=1, description="Fewest responses before share SLOs are judged")

    @field_validator("windows", "traffic_offsets", mode="before")
    @classmethod
    def _split_windows(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("windows", "traffic_offsets")
    @classmethod
    def _durations(cls, value: list[str]) -> list[str]:
        for item in value:
            parse_duration(item)
        return value


class DriftSettings(CommonSettings, EmailSettings):
    model_config = _CONFIG
    port: int = Field(default=8002, ge=0, le=65535, description="Metrics listener port")
    interval_s: float = Field(default=300, gt=0, description="Seconds between runs")
    window: str = Field(default="1h", description="Current window length")
    min_rows: int = Field(
        default=100,
        ge=1,
        description="Fewest rows of the window (and of the reference) for a drift decision; thresholds are "
        "calibrated to the sizes, so small windows are judged fairly",
    )
    alpha: float = Field(default=0.05, gt=0, lt=1, description="False discovery rate (Benjamini–Hochberg)")
    consecutive: int = Field(default=2, ge=1, description="Windows in a row before drift is decided")
    exact_ks_max_rows: int = Field(default=50_000, ge=0, description="Exact KS on raw values up to this size")
    drift_counts: Literal["auto", "prometheus", "store"] = Field(
        default="auto",
        description="Where a window's counts come from: auto = the model server's serve-time counts in Prometheus "
        "(a run cost flat in traffic) for windows above MLMON_EXACT_KS_MAX_ROWS, raw rows from the store below; "
        "prometheus = the serve-time counts for every window; store = the store only (raw rows or counts pushed "
        "down). Without usable Prometheus counts a run falls back to the store and says why",
    )
    reports_dir: Path | None = Field(default=None, description="HTML reports (default: <var_dir>/reports)")

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def reports_path(self) -> Path:
        return self.reports_dir or self.var_dir / "reports"


S = TypeVar("S", bound=BaseSettings)


def load_settings(cls: type[S], **overrides: Any) -> S:
    """Build settings, turning pydantic's error into a ConfigError naming each ``MLMON_*`` variable."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            problems.append((f"MLMON_{field.upper()}", err["msg"].removeprefix("Value error, ")))
        raise ConfigError(f"invalid {cls.__name__}", problems=problems) from None
