"""Reading incident emails as the demo does (real messages through a real SMTP sink), matching them to a
scenario, and the demo's timings from ``MLMON_DEMO_*``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from mlmon.demo.run import matching
from mlmon.demo.scenarios import get_scenario
from mlmon.demo.timings import DemoTimings
from mlmon.embedded.mail import mail_paths, read_mail, read_new
from mlmon.embedded.smtp_sink import start_smtp_sink, stop_smtp_sink
from mlmon.notify.email import EmailNotifier
from mlmon.notify.findings import Finding, Incident, IncidentUpdate
from mlmon.settings import EmailSettings
from tests.conftest import free_port


def _update(job: str, findings: tuple[Finding, ...], kind: str = "opened") -> IncidentUpdate:
    now = datetime.now(UTC)
    incident = Incident(
        model="loan_default",
        model_version="v1",
        window_start=now - timedelta(seconds=30),
        window_end=now,
        findings=findings,
        job=job,
    )
    severity = max((f.severity for f in findings), key=("warning", "critical").index) if findings else None
    return IncidentUpdate(
        kind=kind,
        incident=incident,
        incident_id="abc",
        opened_at=now,  # type: ignore[arg-type]
        severity=severity if kind != "resolved" else None,
        previous_severity="warning" if kind == "resolved" else None,
        resolved_titles=("x",) if kind == "resolved" else (),
    )


def _finding(name: str, role: str = "input", severity: str = "warning") -> Finding:
    return Finding(
        role=role,
        name=name,
        severity=severity,  # type: ignore[arg-type]
        title=f"{name}: distribution changed (psi 0.5 >= 0.1)",
        before=1.0,
        after=2.0,
    )


@pytest.fixture
def inbox(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Send real emails through the notifier to a real SMTP sink; yields (send, folder)."""
    folder = tmp_path / "mail"
    port = free_port()
    sink = start_smtp_sink("127.0.0.1", port, folder)
    settings = EmailSettings(smtp_host="127.0.0.1", smtp_port=port, alert_email_to=["team@example.com"])
    notifier = EmailNotifier(settings, CollectorRegistry(), max_attempts=1)
    try:
        yield (lambda update: notifier.notify(update)), folder
    finally:
        stop_smtp_sink(sink)


def test_read_mail_gives_subject_text_severity_and_job(inbox) -> None:  # type: ignore[no-untyped-def]
    send, folder = inbox
    assert send(_update("drift", (_finding("seconds_since_last_application"),)))
    assert send(_update("stats", (_finding("empty_share", "slo", "critical"),)))
    mails = [read_mail(p) for p in mail_paths(folder)]
    assert [m.job for m in mails] == ["drift", "stats"]
    drift, stats = mails
    assert drift.severity == "warning" and stats.severity == "critical"
    assert "seconds_since_last_application" in drift.subject and "\n" not in drift.subject  # unfolded
    assert drift.names(["seconds_since_last_application", "channel"]) == ["seconds_since_last_application"]
    assert "empty_share" in stats.text


def test_matching_wants_the_expected_job_and_feature(inbox) -> None:  # type: ignore[no-untyped-def]
    send, folder = inbox
    send(_update("stats", (_finding("fallback_share", "slo"),)))  # wrong job and name for unit-change
    send(_update("drift", (_finding("prediction", "output", "critical"), _finding("bureau_score", "quality"))))
    send(_update("drift", (), kind="resolved"))
    seen: set[Path] = set()
    mails = read_new(folder, seen)
    assert len(mails) == 3 and read_new(folder, seen) == []
    stats_mail, outage, resolved = mails
    assert resolved.resolved
    assert not matching(stats_mail, get_scenario("unit-change"))
    # The output symptom leads the subject; the cause is in the findings list of the text part.
    assert "prediction" in outage.subject and "bureau_score" in outage.text
    assert matching(outage, get_scenario("enrichment-outage"))
    assert not matching(outage, get_scenario("category-shift"))
    assert not matching(resolved, get_scenario("enrichment-outage"))


def test_timings_defaults_are_the_demo_and_env_overrides_them() -> None:
    default = DemoTimings()
    assert (default.rate, default.baseline_s, default.fault_s, default.drift_window) == (60.0, 25.0, 60.0, "30s")
    assert DemoTimings.from_env({}) == default
    changed = DemoTimings.from_env(
        {
            "MLMON_DEMO_RATE": "100",
            "MLMON_DEMO_DRIFT_WINDOW": "20s",
            "MLMON_DEMO_MIN_ROWS": "400",
            "MLMON_DEMO_FAULT_S": " ",
        }
    )
    assert (changed.rate, changed.drift_window, changed.min_rows, changed.fault_s) == (100.0, "20s", 400, 60.0)
    with pytest.raises(ValueError, match="MLMON_DEMO_MIN_ROWS='many' is not a valid int"):
        DemoTimings.from_env({"MLMON_DEMO_MIN_ROWS": "many"})
