"""Metric → Prometheus rule → Alertmanager → email, with real processes on loopback.

A real HTTP exporter (prometheus_client, separate process) serves drift metrics under our names; Prometheus
scrapes it with the repo's rule files; Alertmanager runs the repo's routing and inhibition (timings shortened)
and mails a real aiosmtpd server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.conftest import assert_never, wait_until
from tests.fixtures.prom import (
    AlertmanagerHandle,
    ExporterHandle,
    PrometheusHandle,
    alertmanager_test_config,
    rule_files_with_for,
)
from tests.fixtures.smtp import SmtpServer

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

EMAIL_TIMEOUT = 20.0


def drift_series(m1_output: int, m1_input: int, m2_input: int) -> list[tuple[str, dict[str, str], float]]:
    def detected(model: str, feature: str, role: str, value: int) -> tuple[str, dict[str, str], float]:
        labels = {"model": model, "model_version": "v1", "feature": feature, "role": role}
        return ("mlmon_drift_detected", labels, float(value))

    return [
        detected("m1", "prediction", "output", m1_output),
        detected("m1", "income", "input", m1_input),
        detected("m2", "prediction", "output", 0),
        detected("m2", "income", "input", m2_input),
    ]


def subjects(server: SmtpServer) -> list[str]:
    return [str(m["Subject"]) for m in server.messages()]


def wait_for_subject(server: SmtpServer, text: str, timeout: float = EMAIL_TIMEOUT) -> EmailMessage:
    def found() -> EmailMessage | None:
        return next((m for m in server.messages() if text in str(m["Subject"])), None)

    return wait_until(found, timeout, f"an email with {text!r}")


def test_output_alert_emails_and_inhibits_input_drift(
    tmp_path: Path,
    smtp_server: SmtpServer,
    metrics_exporter: ExporterHandle,
    alertmanager_factory: Callable[..., AlertmanagerHandle],
    prometheus_factory: Callable[..., PrometheusHandle],
) -> None:
    am = alertmanager_factory(alertmanager_test_config(f"127.0.0.1:{smtp_server.port}"))
    metrics_exporter.set(drift_series(0, 0, 0))
    # The input-drift alert waits 15m in production (so a symptom can fire first); 0s here.
    rules = rule_files_with_for(tmp_path / "rules", {"MlmonInputDrift": "0s"})
    prom = prometheus_factory({"drift-detector": [metrics_exporter.target]}, rule_files=rules, alertmanager_url=am.url)
    prom.wait_for_series('mlmon_drift_detected{model="m1",role="output"}')
    assert prom.targets_up()

    # 1. output drift on m1 → one email, routed to on-call (critical)
    started = time.monotonic()
    metrics_exporter.set(drift_series(1, 0, 0))
    msg = wait_for_subject(smtp_server, "[FIRING] MlmonOutputDrift m1 (critical)")
    latency = time.monotonic() - started
    assert "oncall@mlmon.local" in str(msg["X-Mlmon-Envelope-To"])
    body = msg.get_body(("html", "plain"))
    assert body is not None and "output distribution drifted (prediction)" in body.get_content()
    print(f"metric change to email: {latency:.1f}s")

    # 2. input drift on m1 (inhibited by its output alert) and on m2 (control: nothing inhibits it)
    metrics_exporter.set(drift_series(1, 1, 1))
    wait_for_subject(smtp_server, "[FIRING] MlmonInputDrift m2 (info)")
    inhibited = wait_until(
        lambda: am.alerts(alertname="MlmonInputDrift", model="m1"), 10, "m1 input-drift alert in Alertmanager"
    )
    assert inhibited[0]["status"]["state"] == "suppressed"
    assert inhibited[0]["status"]["inhibitedBy"], inhibited[0]["status"]
    assert_never(  # several group_wait/group_interval periods of the test config
        lambda: [s for s in subjects(smtp_server) if "MlmonInputDrift m1" in s], 3, "an inhibited alert was mailed"
    )

    # 3. the output recovers: its resolve is mailed and the held-back input drift now notifies
    metrics_exporter.set(drift_series(0, 1, 1))
    wait_for_subject(smtp_server, "[RESOLVED] MlmonOutputDrift m1")
    wait_for_subject(smtp_server, "[FIRING] MlmonInputDrift m1 (info)")
