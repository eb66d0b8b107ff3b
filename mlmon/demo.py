"""`mlmon demo`: the embedded stack end to end on one machine, no Docker.

1. trains the demo model from the Feast repo (and a degraded version for `bad-retrain`);
2. starts an SMTP sink writing ``.eml`` files to ``var/mail/``, the model server, Prometheus (when its binary
   is installed), the statistics service and the drift detector, all on free loopback ports, with short
   intervals and windows;
3. replays a ``baseline`` phase, then the fault scenario (`--scenario`, default ``unit-change``);
4. waits until the incident email arrives (or, for ``seasonal``, makes sure none does), prints what was
   detected, when, and where the email and the HTML report are; stops everything it started.

Exit status: 0 when the fault was detected (or correctly not alerted on), 1 otherwise.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import shutil
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from mlmon.logs import configure_logging
from mlmon.processes import (
    Child,
    free_port,
    prometheus_binary,
    prometheus_child,
    python_module,
    write_prometheus_config,
)
from mlmon.replay.scenarios import Scenario, get_scenario
from mlmon.replay.traffic import ReplayStats, replay
from mlmon.settings import CommonSettings, load_settings
from mlmon.spec import load_spec

FEEDBACK_TOKEN = "demo-feedback-token"
RATE = 60.0  # requests per second during the demo
BASELINE_S = 25.0
FAULT_S = 60.0
DRIFT_WINDOW = "30s"
JOB_INTERVAL_S = 5.0


@dataclass
class DemoStack:
    workdir: Path
    mail_dir: Path
    children: list[Child] = field(default_factory=list)
    smtp: object | None = None
    server_url: str = ""
    prometheus_url: str | None = None

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()
        if self.smtp is not None:
            from mlmon.notify.sink import stop_smtp_sink

            stop_smtp_sink(self.smtp)  # type: ignore[arg-type]
            self.smtp = None


def _say(text: str) -> None:
    print(f"[demo] {text}", flush=True)


def _train(variant: str) -> tuple[str, Path]:
    from mlmon.training.train import train

    settings = load_settings(CommonSettings)
    spec = load_spec(settings.model_spec)
    result = train(spec, settings.feast_repo, settings.model_path, variant=variant)  # type: ignore[arg-type]
    _say(f"model {result.model} version {result.version} ({variant}); holdout "
         + ", ".join(f"{k} {v:.3f}" for k, v in result.metrics.items() if k in ("roc_auc", "precision", "recall")))
    return result.version, result.path


def _start(stack: DemoStack, model_dir: Path, settings: CommonSettings) -> None:
    from mlmon.notify.sink import start_smtp_sink

    work = stack.workdir
    smtp_port = free_port()
    stack.smtp = start_smtp_sink("127.0.0.1", smtp_port, stack.mail_dir)
    _say(f"SMTP sink on 127.0.0.1:{smtp_port} writing to {stack.mail_dir}/")
    server_port, stats_port, drift_port = free_port(), free_port(), free_port()
    common = {
        "MLMON_STORE": f"sqlite:///{(work / 'mlmon.db').resolve()}",
        "MLMON_MODEL_SPEC": str(settings.model_spec.resolve()),
        "MLMON_FEAST_REPO": str(settings.feast_repo.resolve()),
        "MLMON_MODEL_PATH": str(model_dir.resolve()),
        "MLMON_VAR_DIR": str(work.resolve()),
        "MLMON_LOG_LEVEL": "WARNING",
        "MLMON_HOST": "127.0.0.1",
        "MLMON_SMTP_HOST": "127.0.0.1",
        "MLMON_SMTP_PORT": str(smtp_port),
        "MLMON_ALERT_EMAIL_TO": "ml-team@example.com",
        "MLMON_NOTIFY_COOLDOWN_S": "600",
    }
    binary = prometheus_binary()
    if binary:
        prom_port = free_port()
        config = write_prometheus_config(
            work / "prometheus.yml",
            {"model-server": f"127.0.0.1:{server_port}", "stats-service": f"127.0.0.1:{stats_port}",
             "drift-detector": f"127.0.0.1:{drift_port}"},
        )
        prom = prometheus_child(binary, config, work / "prometheus-data", prom_port, work / "logs" / "prometheus.log")
        stack.children.append(prom.start())
        prom.wait_ready(f"http://127.0.0.1:{prom_port}/-/ready", timeout=30)
        stack.prometheus_url = f"http://127.0.0.1:{prom_port}"
        common["MLMON_PROMETHEUS_URL"] = stack.prometheus_url
        _say(f"Prometheus on {stack.prometheus_url} (scraping every second)")
    else:
        _say("Prometheus is not installed (apt-get install prometheus): continuing without it")

    server = python_module(
        "model server", "model_server", work / "logs" / "model_server.log",
        {**common, "MLMON_PORT": str(server_port), "MLMON_FEEDBACK_TOKEN": FEEDBACK_TOKEN,
         "MLMON_PII_HASH_KEY": "demo-pii-key"},
    )
    stack.children.append(server.start())
    stack.server_url = f"http://127.0.0.1:{server_port}"
    server.wait_ready(f"{stack.server_url}/readyz", timeout=90)
    _say(f"model server on {stack.server_url}")
    stats = python_module(
        "statistics service", "stats_service", work / "logs" / "stats_service.log",
        {**common, "MLMON_PORT": str(stats_port), "MLMON_INTERVAL_S": str(JOB_INTERVAL_S), "MLMON_WINDOWS": "1m",
         "MLMON_LABEL_DELAY_S": "15", "MLMON_MIN_LABELS": "300", "MLMON_TRAFFIC_OFFSETS": "1d"},
    )
    drift = python_module(
        "drift detector", "drift_detector", work / "logs" / "drift_detector.log",
        {**common, "MLMON_PORT": str(drift_port), "MLMON_INTERVAL_S": str(JOB_INTERVAL_S),
         "MLMON_WINDOW": DRIFT_WINDOW, "MLMON_MIN_ROWS": "300", "MLMON_CONSECUTIVE": "2"},
    )
    for child, port in ((stats, stats_port), (drift, drift_port)):
        stack.children.append(child.start())
        child.wait_ready(f"http://127.0.0.1:{port}/metrics", timeout=90)
        _say(f"{child.name} on http://127.0.0.1:{port}/metrics (every {JOB_INTERVAL_S:.0f}s)")


def _mails(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.eml")) if folder.is_dir() else []


def _read(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


def _replay_phase(stack: DemoStack, scenario: Scenario, seconds: float, seed: int) -> ReplayStats:
    def show(stats: ReplayStats) -> None:
        if int(stats.elapsed_s) % 5 == 0:
            print(f"[demo]   {stats.line()}", flush=True)

    return replay(stack.server_url, scenario, rate=RATE, duration=seconds, seed=seed, feedback_token=FEEDBACK_TOKEN,
                  feedback_delay=3.0, progress=show)


def _matching_email(stack: DemoStack, seen: set[Path], expected: tuple[str, ...]) -> tuple[Path, EmailMessage] | None:
    for path in _mails(stack.mail_dir):
        if path in seen:
            continue
        message = _read(path)
        body = (message.get("Subject") or "") + "\n" + _text_of(message)
        if not expected or any(name in body for name in expected):
            return path, message
    return None


def run_demo(args: argparse.Namespace) -> int:
    settings = load_settings(CommonSettings)
    configure_logging("WARNING")
    scenario = get_scenario(args.scenario)
    workdir: Path = args.workdir
    shutil.rmtree(workdir, ignore_errors=True)  # every demo starts from an empty store and inbox
    mail_dir = settings.var_dir / "mail" / scenario.name
    shutil.rmtree(mail_dir, ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + args.timeout
    _say(f"scenario {scenario.name}: {scenario.description}")
    version, path = _train("standard")
    stack = DemoStack(workdir=workdir, mail_dir=mail_dir)
    try:
        _start(stack, path.parent, settings)
        _say(f"phase 1: baseline traffic for {BASELINE_S:.0f}s at {RATE:.0f} req/s")
        _replay_phase(stack, get_scenario("baseline"), BASELINE_S, seed=101)
        baseline_mails = set(_mails(mail_dir))
        if baseline_mails:
            _say(f"note: {len(baseline_mails)} email(s) during the baseline phase (see {mail_dir})")
        if scenario.model_variant == "degraded":
            _say("deploying a retrained model with a silent training bug ...")
            bad_version, _ = _train("degraded")
            server = next(c for c in stack.children if c.name == "model server")
            server.stop()
            server.start()
            server.wait_ready(f"{stack.server_url}/readyz", timeout=90)
            _say(f"model server now serves {bad_version}")
        _say(f"phase 2: fault '{scenario.name}' for up to {FAULT_S:.0f}s")
        fault_started = time.monotonic()
        stop = threading.Event()
        stats_box: list[ReplayStats] = []
        sender = threading.Thread(
            target=lambda: stats_box.append(_replay_phase(stack, scenario, FAULT_S, seed=202)), daemon=True
        )
        sender.start()
        found = None
        expected = scenario.expected_features
        while time.monotonic() < deadline and (sender.is_alive() or scenario.detected_by != "none"):
            found = _matching_email(stack, baseline_mails, expected) if expected else None
            if found or (not sender.is_alive() and time.monotonic() - fault_started > FAULT_S + 30):
                break
            time.sleep(1.0)
        stop.set()
        sender.join(timeout=FAULT_S + 30)
        return _conclude(stack, scenario, found, baseline_mails, fault_started, workdir)
    finally:
        stack.stop()
        _say("stopped every process the demo started")


def _conclude(
    stack: DemoStack, scenario: Scenario, found: tuple[Path, EmailMessage] | None, before: set[Path],
    fault_started: float, workdir: Path,
) -> int:
    reports = sorted((workdir / "reports").rglob("latest.html"))
    report = reports[0] if reports else None
    if scenario.detected_by == "none":
        new = [p for p in _mails(stack.mail_dir) if p not in before]
        drift_mails = [p for p in new if "drift" in (_read(p).get("Subject") or "").lower()]
        if drift_mails:
            _say(f"FAILED: '{scenario.name}' must not alert, but got {drift_mails[0]}")
            return 1
        _say(f"OK: no drift email for '{scenario.name}' (as expected); latest drift report: {report}")
        return 0
    if found is None:
        _say(f"FAILED: no incident email naming {', '.join(scenario.expected_features)} arrived; "
             f"see {workdir / 'logs'} and {stack.mail_dir}")
        return 1
    path, message = found
    elapsed = time.monotonic() - fault_started
    _say(f"DETECTED '{scenario.name}' {elapsed:.0f}s after the fault started")
    _say(f"email: {path}")
    _say(f"subject: {message.get('Subject')}")
    for line in _text_of(message).splitlines()[:14]:
        print(f"    {line}")
    if report is not None:
        _say(f"HTML drift report: {report}")
    return 0

