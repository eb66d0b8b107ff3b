"""Notifications from the drift detector through a real SMTP server (aiosmtpd): one email per incident that
names the feature, nothing more within the cooldown, a resolve when the drift is gone; an SMTP outage is
counted and the email goes out at the next run."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from drift_detector.baseline_cache import BaselineCache
from mlmon.registry.serving import LoadedModel
from mlmon.store.sqlite import SQLiteStore
from tests.conftest import free_port
from tests.integration import test_drift_job as drift_tests
from tests.integration.test_drift_job import UNIT, drift_settings, make_job, write_traffic
from tests.unit.drift_detector.helpers import unit_change, utc_now
from tests.unit.drift_detector.test_collector import samples
from tests.unit.notify.helpers import VirtualTime

pytestmark = pytest.mark.integration

model_dir = drift_tests.model_dir
feast_repo_dir = drift_tests.feast_repo_dir
loaded = drift_tests.loaded
baselines = drift_tests.baselines
sqlite_store = drift_tests.sqlite_store


def _text(message) -> str:
    return str(message.get_body(preferencelist=("plain",)).get_content())


def test_one_email_per_incident_then_silence_then_resolve(
    tmp_path: Path,
    model_dir: Path,
    feast_repo_dir: Path,
    baselines: BaselineCache,
    loaded: LoadedModel,
    sqlite_store: SQLiteStore,
    smtp_server,
):
    now = utc_now()
    write_traffic(sqlite_store, loaded, seed=61, end=now, transform=unit_change)
    settings = drift_settings(
        tmp_path,
        model_dir,
        feast_repo_dir,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        alert_email_to=["oncall@example.com"],
        notify_cooldown_s=3600,
        kibana_url="http://kibana.example:5601",
    )
    job, registry = make_job(settings, baselines, sqlite_store)

    run = job.run_once(now)
    assert [c.feature for c, _ in run.drifted] == [UNIT]
    [message] = smtp_server.wait_for(1)
    assert UNIT in message["Subject"] and message["Subject"].startswith("[mlmon WARNING] loan_default")
    assert message["To"] == "oncall@example.com"
    assert message["X-Mlmon-Model"] == "loan_default"
    text = _text(message)
    assert UNIT in text and loaded.version in text
    assert "kibana.example:5601" in text  # where to look
    check = next(c for c, _ in run.drifted)
    # before → after means, formatted with thousands separators (about 1.5e7 s → 1.5e10 s)
    assert f"{check.summary['ref_mean']:,.0f}" in text

    # Same drift again, within the cooldown: nothing new.
    job.run_once(now + timedelta(seconds=30))
    assert len(smtp_server.wait_for(2, timeout=1.5)) == 1

    # Later the upstream service is fixed: a clean window resolves the incident, one email.
    later = now + timedelta(hours=2)
    write_traffic(sqlite_store, loaded, seed=62, end=later, prefix="q")
    assert job.run_once(later).drifted == []
    messages = smtp_server.wait_for(2)
    assert len(messages) == 2
    resolved = messages[1]
    assert resolved["Subject"].startswith("[mlmon RESOLVED] loan_default")
    assert resolved["X-Mlmon-Incident"] == message["X-Mlmon-Incident"]
    assert UNIT in _text(resolved)
    got = samples(generate_latest(registry).decode())
    assert got[("mlmon_notifications_total", frozenset({("model", "loan_default"), ("outcome", "sent")}))] == 2


def test_smtp_outage_is_counted_and_the_email_goes_out_next_run(
    tmp_path: Path,
    model_dir: Path,
    feast_repo_dir: Path,
    baselines: BaselineCache,
    loaded: LoadedModel,
    sqlite_store: SQLiteStore,
    smtp_factory,
):
    now = utc_now()
    write_traffic(sqlite_store, loaded, seed=63, end=now, transform=unit_change)
    closed = free_port()
    settings = drift_settings(
        tmp_path,
        model_dir,
        feast_repo_dir,
        smtp_host="127.0.0.1",
        smtp_port=closed,
        alert_email_to=["oncall@example.com"],
        smtp_timeout_s=2,
    )
    job, registry = make_job(settings, baselines, sqlite_store)
    waits = VirtualTime()  # back-off waits recorded, not waited, but counted against the retry budget
    job.incidents.notifier.sleep, job.incidents.notifier.monotonic = waits, waits.monotonic
    run = job.run_once(now)
    assert [c.feature for c, _ in run.drifted] == [UNIT] and run.report_path
    got = samples(generate_latest(registry).decode())
    outcome = {dict(k)["outcome"]: v for (n, k), v in got.items() if n == "mlmon_notifications_total"}
    assert outcome["failed"] == 1 and outcome.get("sent", 0) == 0 and outcome["retried"] == 2
    assert waits == [1.0, 2.0]  # the default budget (5 s) holds the run up 3 s, not 1+2+4 s or more

    server = smtp_factory()
    job.incidents.notifier.settings = settings.model_copy(update={"smtp_port": server.port})
    job.run_once(now + timedelta(seconds=30))
    [message] = server.wait_for(1)
    assert UNIT in message["Subject"]
