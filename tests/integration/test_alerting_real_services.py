"""Alerting end to end with the real services: model server and drift detector → Prometheus (repo rules) →
Alertmanager (repo routing and inhibition) → email to a real aiosmtpd server.

Every process is real and started here or by the fixtures: ``python -m model_server`` serving a model trained
through Feast, ``python -m drift_detector`` reading the same SQLite store and the Feast baseline, the Debian
Prometheus and Alertmanager. The only test-made changes are timings: scrape/evaluation every second, the
Alertmanager group timings shortened (``alertmanager_test_config``), and ``MlmonDegradedResponses``'s
``for: 15m`` and ``MlmonInputDrift``'s ``for: 15m`` set to ``0s`` (``rule_files_with_for``), because
a 15-minute wait does not fit a test.

1. Enrichment outage: requests whose ``bureau_score`` and ``open_credit_lines`` are null get ``fallback``
   responses; the degraded-responses ratio crosses 20% and one email arrives.
2. Unit change (``seconds_since_last_application`` × 1000): the drift detector decides input drift; its
   ``MlmonInputDrift`` alert (``signal="input"``) is suppressed in Alertmanager by the firing output-symptom
   alerts of the same model (``signal="output"``), and no email for it arrives while the drift detector's
   output-side alerts, sent the same way, do arrive.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from mlmon.demo.data import generate_features
from mlmon.demo.scenarios import get_scenario
from mlmon.spec import load_spec
from tests.conftest import ManagedProcess, assert_never, free_port, managed, wait_until
from tests.fixtures.prom import (
    AlertmanagerHandle,
    PrometheusHandle,
    alertmanager_test_config,
    repo_scrape_jobs,
    rule_files_with_for,
)
from tests.fixtures.smtp import SmtpServer
from tests.integration.test_alerting_e2e import subjects, wait_for_subject
from tests.unit.drift_detector.helpers import SPEC_PATH, ModelServer, instances, run_model_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "loan_default"
UNIT_FEATURE = "seconds_since_last_application"
DEGRADED = "MlmonDegradedResponses"
DEGRADED_RATIO = "model:mlmon_responses_degraded:ratio_rate15m"
THRESHOLD = 0.2  # of MlmonDegradedResponses in prometheus/rules/alerts.yml
BASELINE_ROWS, OUTAGE_ROWS, UNIT_ROWS = 300, 400, 500
EMAIL_TIMEOUT = 20.0
DRIFT_TIMEOUT = 45.0  # process start, Feast baseline load, first run, scrape, rule evaluation


def rows_for(scenario: str, n: int, seed: int) -> list[dict[str, Any]]:
    """Realistic applications (the demo generator) with a replay scenario's fault applied, as JSON rows."""
    rng = np.random.default_rng(seed)
    frame = get_scenario(scenario).transform(generate_features(n, rng), 1.0, rng)
    return instances(load_spec(SPEC_PATH), frame)


def send(server: ModelServer, client: httpx.Client, rows: list[dict[str, Any]], kinds: dict[str, int]) -> None:
    """Real HTTP traffic; counts the response kinds the server reports."""
    for prediction in server.predict(client, rows):
        kinds[prediction["kind"]] = kinds.get(prediction["kind"], 0) + 1


def degraded_share(kinds: dict[str, int]) -> float:
    return (kinds.get("fallback", 0) + kinds.get("empty", 0)) / sum(kinds.values())


def prom_value(prom: PrometheusHandle, expr: str) -> float | None:
    found = prom.query(expr)
    return float(found[0]["value"][1]) if found else None


def firing(prom: PrometheusHandle, alertname: str, **labels: str) -> list[dict[str, Any]]:
    return [
        a
        for a in prom.alerts()
        if a["labels"].get("alertname") == alertname
        and a["state"] == "firing"
        and all(a["labels"].get(k) == v for k, v in labels.items())
    ]


def body_text(msg: EmailMessage) -> str:
    part = msg.get_body(("html", "plain"))
    assert part is not None, msg
    text = str(part.get_content())
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text))


@contextmanager
def run_drift_detector(
    folder: Path, model_dir: Path, store_url: str, prometheus_url: str, port: int
) -> Iterator[ManagedProcess]:
    """``python -m drift_detector`` (loop mode) listening on ``port``; stopped by its pid."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {
        "MLMON_MODEL_PATH": str(model_dir),
        "MLMON_MODEL_SPEC": str(SPEC_PATH),
        "MLMON_FEAST_REPO": str(model_dir.parents[1] / "feature_repo"),  # where the trained fixture's repo is
        "MLMON_STORE": store_url,
        "MLMON_VAR_DIR": str(folder / "var"),
        "MLMON_PROMETHEUS_URL": prometheus_url,
        "MLMON_HOST": "127.0.0.1",
        "MLMON_PORT": str(port),
        "MLMON_WINDOW": "5m",  # covers the whole test's traffic
        "MLMON_INTERVAL_S": "2",
        "MLMON_MIN_ROWS": "100",
        "MLMON_CONSECUTIVE": "1",
        "MLMON_LOG_LEVEL": "WARNING",
        "OMP_NUM_THREADS": "1",
        # No MLMON_SMTP_HOST: the detector's own emails are another path; here only Alertmanager mails.
    }
    with managed(
        [sys.executable, "-m", "drift_detector"],
        folder / "drift_detector.log",
        ready_url=f"http://127.0.0.1:{port}/metrics",
        timeout=60,
        env=env,
        cwd=folder,
    ) as proc:
        try:
            yield proc
        except BaseException:
            print(proc.log_text()[-3000:])
            raise


def test_real_services_email_on_fallbacks_and_inhibit_input_drift(
    tmp_path: Path,
    trained_model_dir: Path,
    smtp_server: SmtpServer,
    alertmanager_factory: Callable[..., AlertmanagerHandle],
    prometheus_factory: Callable[..., PrometheusHandle],
) -> None:
    jobs = repo_scrape_jobs()
    assert {"model-server", "drift-detector"} <= set(jobs), jobs
    started = time.monotonic()
    timings: dict[str, float] = {}
    rules = rule_files_with_for(tmp_path / "rules", {DEGRADED: "0s", "MlmonInputDrift": "0s"})
    am = alertmanager_factory(alertmanager_test_config(f"127.0.0.1:{smtp_server.port}"))
    drift_port = free_port()  # the detector starts later; Prometheus already scrapes its address (down)

    with run_model_server(tmp_path / "server", trained_model_dir) as server, httpx.Client(timeout=30) as client:
        prom = prometheus_factory(
            {"model-server": [f"127.0.0.1:{server.port}"], "drift-detector": [f"127.0.0.1:{drift_port}"]},
            rule_files=rules,
            alertmanager_url=am.url,
        )
        # The response counters exist at zero before the first request, so rate() sees every response.
        prom.wait_for_series(f'mlmon_responses_total{{model="{MODEL}",kind="fallback",job="model-server"}}')
        timings["stack up"] = time.monotonic() - started

        # -- 1. a real metric crosses a rule -------------------------------------------------------------
        kinds: dict[str, int] = {}
        send(server, client, rows_for("baseline", BASELINE_ROWS, seed=11), kinds)
        assert degraded_share(kinds) < THRESHOLD, kinds  # ~4% of the demo rows lack the enrichment
        wait_until(
            lambda: (v := prom_value(prom, DEGRADED_RATIO)) is not None and v < THRESHOLD,
            15,
            "degraded ratio below the threshold",
        )
        assert not firing(prom, DEGRADED), prom.alerts()

        outage_sent = time.monotonic()
        send(server, client, rows_for("enrichment-outage", OUTAGE_ROWS, seed=12), kinds)
        assert kinds["fallback"] >= OUTAGE_ROWS, kinds  # every outage row is served by the fallback rule
        msg = wait_for_subject(smtp_server, f"[FIRING] {DEGRADED} {MODEL} (warning)", timeout=EMAIL_TIMEOUT)
        timings["fallback traffic → email"] = time.monotonic() - outage_sent
        assert "ml-team@mlmon.local" in str(msg["X-Mlmon-Envelope-To"])
        body = body_text(msg)
        assert DEGRADED in body and f"model = {MODEL}" in body, body[:2000]
        percent = re.search(rf"{MODEL}: ([0-9.]+)% of responses are empty or fallback", body)
        assert percent is not None, body[:2000]
        assert THRESHOLD * 100 < float(percent[1]) <= degraded_share(kinds) * 100 + 1.0, (percent[1], kinds)
        # The rule's ratio is the share of degraded responses the clients really received.
        wait_until(
            lambda: abs((prom_value(prom, DEGRADED_RATIO) or 0.0) - degraded_share(kinds)) < 0.01,
            15,
            f"{DEGRADED_RATIO} == {degraded_share(kinds):.3f}",
        )

        # -- 2. input drift from the real drift detector, inhibited by the output symptom ---------------
        send(server, client, rows_for("unit-change", UNIT_ROWS, seed=13), kinds)
        # The unit-change rows are served normally; the output symptom must still fire over them.
        assert degraded_share(kinds) > THRESHOLD, kinds
        drift_started = time.monotonic()
        with run_drift_detector(tmp_path / "drift", trained_model_dir, server.store_url, prom.url, drift_port):
            wait_until(
                lambda: prom_value(
                    prom, f'mlmon_drift_detected{{model="{MODEL}",feature="{UNIT_FEATURE}",role="input"}} == 1'
                ),
                DRIFT_TIMEOUT,
                f"input drift of {UNIT_FEATURE} decided and scraped",
            )
            timings["drift detector start → input drift scraped"] = time.monotonic() - drift_started
            # The detector's own `job` label (drift) is kept as `exported_job` next to the scrape job; the
            # MlmonMonitorStale annotation relies on that name.
            assert prom.query('mlmon_job_last_success_timestamp_seconds{job="drift-detector",exported_job="drift"}')
            wait_until(
                lambda: firing(prom, "MlmonInputDrift", model=MODEL, feature=UNIT_FEATURE),
                10,
                "MlmonInputDrift firing in Prometheus",
            )  # next rule evaluation after the scrape

            labels = {"alertname": "MlmonInputDrift", "model": MODEL, "feature": UNIT_FEATURE}
            alert = wait_until(lambda: am.alerts(**labels), 15, "MlmonInputDrift in Alertmanager")[0]
            status = alert["status"]
            assert status["state"] == "suppressed" and status["inhibitedBy"] and not status["silencedBy"], status
            by_fingerprint = {a["fingerprint"]: a for a in am.alerts()}
            sources = [by_fingerprint[fp]["labels"] for fp in status["inhibitedBy"] if fp in by_fingerprint]
            assert sources and all(s["signal"] == "output" and s["model"] == MODEL for s in sources), sources
            symptom = am.alerts(alertname=DEGRADED, model=MODEL)
            assert symptom and symptom[0]["status"]["state"] == "active", symptom

            # Control: the drift detector's output-side alerts take the same path and are mailed, so the
            # missing input-drift email is the inhibition, not a delay.
            control = wait_until(
                lambda: [
                    s for s in subjects(smtp_server) if re.match(rf"\[FIRING\] Mlmon(Quality|Output)Drift {MODEL} ", s)
                ],
                EMAIL_TIMEOUT,
                "an output-side drift email",
            )
            assert_never(  # several group_wait/group_interval periods of the test config
                lambda: [s for s in subjects(smtp_server) if "MlmonInputDrift" in s], 3, "input drift was mailed"
            )
            still = am.alerts(**labels)
            assert still and still[0]["status"]["state"] == "suppressed", still
            assert firing(prom, DEGRADED, model=MODEL), "the output symptom stopped firing during the check"
            timings["total"] = time.monotonic() - started
            names = sorted({f"{a['labels']['alertname']}/{a['state']}" for a in prom.alerts()})

    print(f"alerts in Prometheus: {names}; control emails: {control}")
    print("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
