from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlmon.notify.findings import IncidentUpdate
from mlmon.notify.policy import IncidentPolicy, state_path
from tests.unit.notify.helpers import finding, incident


class Clock:
    """A clock the test moves by hand (the policy takes any callable returning epoch seconds)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Recorder:
    """A real Notifier implementation that keeps the updates (and can pretend delivery failed)."""

    def __init__(self) -> None:
        self.updates: list[IncidentUpdate] = []
        self.fail = False

    def notify(self, update: IncidentUpdate) -> bool:
        self.updates.append(update)
        return not update.suppressed and not self.fail

    def sent(self) -> list[tuple[str, str | None]]:
        return [(u.kind, u.severity) for u in self.updates if not u.suppressed]


WARN = incident(finding(severity="warning"))
CRIT = incident(finding(severity="critical"), finding("input", "income", severity="warning"))
OK = incident()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make(tmp_path: Path, clock: Clock, cooldown: float = 3600) -> IncidentPolicy:
    return IncidentPolicy(state_path(tmp_path, "drift"), cooldown_s=cooldown, clock=clock)


def test_open_escalate_resolve_send_one_email_each(tmp_path: Path, clock: Clock) -> None:
    policy, out = make(tmp_path, clock), Recorder()
    assert policy.process(OK, out) is None  # healthy from the start: nothing to say
    first = policy.process(WARN, out)
    assert first is not None and first.kind == "opened" and first.severity == "warning"
    for _ in range(5):  # the same finding again and again: no repeat
        clock.advance(300)
        assert policy.process(WARN, out) is None
    clock.advance(300)
    up = policy.process(CRIT, out)
    assert up is not None and (up.kind, up.severity, up.previous_severity) == (
        "severity_changed",
        "critical",
        "warning",
    )
    assert up.incident_id == first.incident_id
    clock.advance(300)
    resolved = policy.process(OK, out)
    assert resolved is not None and resolved.kind == "resolved"
    assert resolved.previous_severity == "critical" and resolved.effective_severity == "critical"
    assert list(resolved.resolved_titles) == ["prediction changed", "income changed"]
    assert out.sent() == [("opened", "warning"), ("severity_changed", "critical"), ("resolved", None)]


def test_flapping_within_cooldown_is_suppressed_then_caught_up(tmp_path: Path, clock: Clock) -> None:
    policy, out = make(tmp_path, clock, cooldown=3600), Recorder()
    policy.process(WARN, out)
    clock.advance(60)
    policy.process(OK, out)  # resolved: a different message, sent
    clock.advance(60)
    reopened = policy.process(WARN, out)
    assert reopened is not None and reopened.suppressed and reopened.kind == "opened"
    clock.advance(60)
    assert policy.process(WARN, out) is None  # still held back, counted only once
    assert out.sent() == [("opened", "warning"), ("resolved", None)]
    assert sum(u.suppressed for u in out.updates) == 1
    clock.advance(3600)  # cooldown over and the incident is still open: people must learn it
    caught_up = policy.process(WARN, out)
    assert caught_up is not None and not caught_up.suppressed and caught_up.kind == "opened"
    assert out.sent()[-1] == ("opened", "warning")


def test_suppressed_reopen_that_resolves_again_sends_nothing(tmp_path: Path, clock: Clock) -> None:
    policy, out = make(tmp_path, clock), Recorder()
    policy.process(WARN, out)
    clock.advance(10)
    policy.process(OK, out)
    clock.advance(10)
    policy.process(WARN, out)  # suppressed
    clock.advance(10)
    assert policy.process(OK, out) is None  # recipients already believe it is resolved
    assert out.sent() == [("opened", "warning"), ("resolved", None)]


def test_failed_delivery_is_retried_on_the_next_run(tmp_path: Path, clock: Clock) -> None:
    policy, out = make(tmp_path, clock), Recorder()
    out.fail = True
    assert policy.process(WARN, out) is not None
    out.fail = False
    clock.advance(60)
    again = policy.process(WARN, out)
    assert again is not None and again.kind == "opened" and not again.suppressed
    clock.advance(60)
    assert policy.process(WARN, out) is None


def test_zero_cooldown_sends_every_change(tmp_path: Path, clock: Clock) -> None:
    policy, out = make(tmp_path, clock, cooldown=0), Recorder()
    for inc in (WARN, OK, WARN, OK):
        clock.advance(1)
        policy.process(inc, out)
    assert out.sent() == [("opened", "warning"), ("resolved", None)] * 2


def test_state_survives_a_restart(tmp_path: Path, clock: Clock) -> None:
    out = Recorder()
    first = make(tmp_path, clock).process(WARN, out)
    assert first is not None
    path = state_path(tmp_path, "drift")
    saved = json.loads(path.read_text())
    assert saved["models"]["loan_default"]["notified"] == {"state": "open", "severity": "warning"}
    assert not list(path.parent.glob("*.tmp"))  # atomic write leaves no temp file
    clock.advance(600)
    restarted = make(tmp_path, clock)  # a new process reads the same file
    assert restarted.open_incident("loan_default") is not None
    assert restarted.process(WARN, out) is None  # no second "opened" after the restart
    resolved = restarted.process(OK, out)
    assert resolved is not None and resolved.kind == "resolved" and resolved.incident_id == first.incident_id


def test_models_are_separate_incidents(tmp_path: Path, clock: Clock) -> None:
    policy, out = make(tmp_path, clock), Recorder()
    policy.process(WARN, out)
    other = policy.process(incident(finding(severity="critical"), model="churn"), out)
    assert other is not None and other.kind == "opened" and other.model == "churn"
    assert policy.process(OK, out) is not None  # resolves loan_default only
    assert policy.open_incident("churn") is not None


def test_damaged_state_file_does_not_stop_the_job(tmp_path: Path, clock: Clock) -> None:
    path = state_path(tmp_path, "drift")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    policy = IncidentPolicy(path, 60, clock)
    update = policy.process(WARN, Recorder())
    assert update is not None and update.kind == "opened"
    assert json.loads(path.read_text())["version"] == 1


def test_state_path_is_per_job_and_safe(tmp_path: Path) -> None:
    assert state_path(tmp_path, "stats") != state_path(tmp_path, "drift")
    assert state_path(tmp_path, "../x").parent == tmp_path / "notify"


def test_a_cause_found_one_run_after_its_symptom_gets_one_update(tmp_path: Path, clock: Clock) -> None:
    policy, out = make(tmp_path, clock), Recorder()
    symptom = finding("output", "prediction", severity="warning")
    cause = finding("quality", "bureau_score", severity="warning")
    other = finding("input", "open_credit_lines", severity="warning")
    assert policy.process(incident(symptom), out).kind == "opened"  # type: ignore[union-attr]
    added = policy.process(incident(symptom, cause), out)
    assert added is not None and added.kind == "findings_added" and added.severity == "warning"
    assert list(added.new_findings) == ["quality:bureau_score"]
    assert policy.process(incident(symptom, cause), out) is None  # told already
    assert policy.process(incident(symptom), out) is None  # a finding leaving is not news while open
    assert policy.process(incident(symptom, cause), out) is None  # and coming back: announced once per incident
    both = policy.process(incident(symptom, cause, other), out)
    assert both is not None and list(both.new_findings) == ["input:open_credit_lines"]
    assert out.sent() == [("opened", "warning"), ("findings_added", "warning"), ("findings_added", "warning")]
    assert policy.process(OK, out).kind == "resolved"  # type: ignore[union-attr]
    reopened = policy.process(incident(cause), out)
    assert reopened is not None and reopened.kind == "opened"  # a new incident starts with a clean slate


def test_undelivered_findings_update_is_retried_next_run(tmp_path: Path, clock: Clock) -> None:
    policy, out = make(tmp_path, clock), Recorder()
    symptom, cause = finding("output", "prediction"), finding("input", "income")
    policy.process(incident(symptom), out)
    out.fail = True
    assert policy.process(incident(symptom, cause), out).kind == "findings_added"  # type: ignore[union-attr]
    out.fail = False
    again = make(tmp_path, clock).process(incident(symptom, cause), out)  # after a restart, too
    assert again is not None and again.kind == "findings_added"
    assert make(tmp_path, clock).process(incident(symptom, cause), out) is None
