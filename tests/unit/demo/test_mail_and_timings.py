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
from mlmon.notify import policy
from mlmon.notify.email import EmailNotifier
from mlmon.notify.findings import Finding
from mlmon.notify.notice import Notice
from mlmon.notify.policy import Rules
from mlmon.notify.state import ModelState
from mlmon.settings import EmailSettings
from tests.conftest import free_port
from tests.unit.notify.helpers import contribution, finding

RULES = Rules(cooldown_s=0, digest_interval_s=60)


@pytest.fixture
def inbox(tmp_path: Path):
    """Real emails through the notifier to a real SMTP sink; yields (report, folder) where ``report(service,
    *findings, at=seconds)`` merges a run into one model's incident state and delivers what is due."""
    folder = tmp_path / "mail"
    port = free_port()
    sink = start_smtp_sink("127.0.0.1", port, folder)
    settings = EmailSettings(smtp_host="127.0.0.1", smtp_port=port, alert_email_to=["team@example.com"])
    notifier = EmailNotifier(settings, CollectorRegistry(), max_attempts=1)
    state = ModelState(model="loan_default")
    start = datetime.now(UTC)

    def report(service: str, *findings: Finding, at: float = 0.0) -> None:
        when = start + timedelta(seconds=at)
        policy.apply(state, contribution(*findings, service=service, at=when), when.timestamp(), RULES)
        for entry in policy.claim(state, "me", when.timestamp(), RULES):
            assert notifier.send(Notice.of(state.model, entry))
            policy.complete(state, entry.id, "me", True, when.timestamp(), RULES)

    try:
        yield report, folder
    finally:
        stop_smtp_sink(sink)


UNIT = finding(
    "integrity",
    "seconds_since_last_application",
    title="seconds_since_last_application: values ≈1000× the training values — a unit change?",
)
EMPTY = finding("responses", "empty_share", severity="critical", title="empty_share 0.58, SLO ≤ 0.05", chart=False)
CHANNEL = finding("input", "channel", title="channel: share of 'partner' 10% → 40%")


def test_read_mail_gives_subject_text_severity_thread_and_kind(inbox) -> None:
    report, folder = inbox
    report("drift", UNIT)
    report("stats", EMPTY, at=1)
    report("drift", UNIT, at=2)
    report("stats", at=3)  # the symptom is gone, the break is not: de-escalated
    report("drift", at=4)
    opened, updated, calmer, resolved = [read_mail(p) for p in mail_paths(folder)]
    assert [m.event for m in (opened, updated, calmer, resolved)] == ["opened", "updated", "updated", "resolved"]
    assert "severity critical → warning" in calmer.text
    assert opened.severity == "warning" and updated.severity == "critical" and resolved.resolved
    assert opened.kind == "data_integrity" and "unit change" in opened.subject and "\n" not in opened.subject
    assert updated.kind == "post_processing" and updated.job == "stats,drift"
    assert updated.in_reply_to == opened.message_id
    assert resolved.references == (opened.message_id, updated.message_id, calmer.message_id)
    assert opened.incident == updated.incident == resolved.incident
    assert opened.names(["seconds_since_last_application", "channel"]) == ["seconds_since_last_application"]
    assert "empty_share" in updated.text


def test_matching_wants_the_kind_in_the_subject_and_the_feature_in_the_text(inbox) -> None:
    report, folder = inbox
    report("stats", EMPTY)
    report("stats", at=1)
    report("drift", CHANNEL, at=2)
    report("drift", CHANNEL, at=70)  # the digest is due a minute after the shift was first seen
    seen: set[Path] = set()
    mails = read_new(folder, seen)
    assert len(mails) == 3 and read_new(folder, seen) == []
    page, resolved, digest = mails
    assert resolved.resolved and digest.digest and not digest.page
    assert matching(page, get_scenario("empty-responses"))
    assert not matching(page, get_scenario("unit-change"))
    assert not matching(resolved, get_scenario("empty-responses"))
    assert matching(digest, get_scenario("category-shift"))  # input shift alone: the digest tells it
    assert not matching(digest, get_scenario("unit-change"))
    assert "covariate shift" in digest.subject and digest.kind == "covariate_shift"


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
