"""The notification policy on the state document alone (pure): one incident per model across both services, one
thread, cooldown, digest, and an outbox that converges to the latest state."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mlmon.notify import policy
from mlmon.notify.findings import Finding, Shift
from mlmon.notify.policy import Rules
from mlmon.notify.state import ModelState
from tests.unit.notify.helpers import MODEL, T0, contribution, finding, notices_of, shift

SYMPTOM = finding("evaluation", "roc_auc", severity="critical", title="roc_auc 0.61, SLO ≥ 0.7")
WARN_SYMPTOM = finding("responses", "fallback_share", severity="warning", title="fallback_share 0.2, SLO ≤ 0.05")
BREAK = finding("integrity", "seconds_since", title="seconds_since: values ≈1000× the training values")
SHIFT = finding("input", "channel", title="channel: share of 'partner' 10% → 40%")


class Run:
    """A state and a clock; ``send`` delivers (or fails) what is due, like the tracker does."""

    def __init__(self, rules: Rules | None = None) -> None:
        self.rules = rules or Rules(cooldown_s=3600, digest_interval_s=600)
        self.state = ModelState(model=MODEL)
        self.now = T0
        self.sent: list[tuple[str, str, tuple[str, ...]]] = []  # (event, message id, refs)

    def report(
        self, *findings: Finding, service: str = "drift", shifts: tuple[Shift, ...] = (), advance: float = 60.0
    ) -> list[str]:
        self.now += advance
        at = datetime.fromtimestamp(self.now, UTC)
        return policy.apply(
            self.state, contribution(*findings, service=service, shifts=shifts, at=at), self.now, self.rules
        )

    def send(self, ok: bool = True, owner: str = "a") -> list[str]:
        events: list[str] = []
        for entry, notice in notices_of(self.state, self.now, self.rules, owner):
            policy.complete(self.state, entry.id, owner, ok, self.now, self.rules, "" if ok else "down")
            if ok:
                self.sent.append((notice.event, entry.id, notice.refs))
                events.append(notice.event)
        return events


def test_open_update_resolve_is_one_thread() -> None:
    run = Run()
    run.report()  # healthy: nothing
    assert run.state.incident is None and run.send() == []
    run.report(WARN_SYMPTOM)
    assert run.send() == ["opened"]
    for _ in range(5):  # the same again and again: no repeat
        run.report(WARN_SYMPTOM)
        assert run.send() == []
    run.report(WARN_SYMPTOM, SYMPTOM)
    assert run.send() == ["updated"]  # severity warning → critical
    run.report()
    assert run.send() == ["resolved"]
    (_, root, refs0), (_, second, refs1), (_, third, refs2) = run.sent
    assert refs0 == () and refs1 == (root,) and refs2 == (root, second)
    assert len({root, second, third}) == 3 and all(m.startswith(f"mlmon.{MODEL}.") for m in (root, second, third))
    assert run.state.incident is None and run.state.history[-1]["emails"] == 3


def test_two_services_share_one_incident_and_each_clears_only_its_part() -> None:
    run = Run()
    run.report(SYMPTOM, service="stats")
    run.report(BREAK, service="drift")
    assert run.send() == ["opened"]  # one email: both findings, not one per service
    [(_, root, _)] = run.sent
    incident = run.state.incident
    assert incident is not None and set(incident.view["services"]) == {"stats", "drift"}
    run.report(service="stats")  # the symptom is gone, the break is not: still open
    assert run.state.incident is not None and run.send() == ["updated"]  # severity critical → warning
    run.report(service="drift")
    assert run.send() == ["resolved"]
    assert all(refs[0] == root for _, _, refs in run.sent[1:])


def test_a_cause_found_after_its_symptom_is_one_update_and_announced_once() -> None:
    run = Run()
    run.report(SYMPTOM, service="stats")
    assert run.send() == ["opened"]
    run.report(BREAK, service="drift")
    assert run.send() == ["updated"]
    run.report(service="drift")  # leaves
    run.report(BREAK, service="drift")  # and comes back: already told in this incident
    assert run.send() == []


def test_input_shift_without_symptom_is_context_and_digest_never_a_page() -> None:
    run = Run(Rules(cooldown_s=0, digest_interval_s=600))
    events = run.report(SHIFT)
    assert any(e.startswith("opened:") for e in events)
    incident = run.state.incident
    assert incident is not None and not incident.actionable and incident.kind["code"] == "covariate_shift"  # type: ignore[index]
    assert run.send() == []
    for _ in range(12):  # ten minutes later the digest is due, once
        run.report(SHIFT)
        run.send()
    assert [e for e, _, _ in run.sent] == ["digest"]
    run.report(SHIFT, SYMPTOM, service="drift")  # a symptom follows: now it pages, the shift as likely cause
    assert run.send() == ["opened"]
    assert run.state.digest.items == {}


def test_notify_mode_pages_input_shifts() -> None:
    run = Run(Rules(cooldown_s=0, input_shifts="notify"))
    run.report(SHIFT)
    assert run.send() == ["opened"]


def test_data_integrity_break_alone_pages_at_once() -> None:
    run = Run()
    run.report(BREAK)
    assert run.send() == ["opened"]
    assert run.state.incident.kind["code"] == "data_integrity"  # type: ignore[index]


def test_incident_opened_and_resolved_during_an_smtp_outage_is_one_email() -> None:
    run = Run()
    run.report(SYMPTOM, service="stats")
    assert run.send(ok=False) == []
    entry = run.state.outbox[0]
    assert entry.attempts == 1 and entry.last_error == "down"
    run.report(service="stats", advance=30)  # resolved while SMTP is still down
    assert run.send(ok=False) == [] and len(run.state.outbox) == 1
    run.now += 600  # SMTP back, backoff over
    assert run.send() == ["opened_resolved"]
    assert run.state.outbox == []
    run.now += 3600
    assert run.send() == []


def test_a_failed_update_merges_with_the_next_and_keeps_the_message_id() -> None:
    run = Run(Rules(cooldown_s=0))
    run.report(WARN_SYMPTOM, service="stats")
    run.send()
    run.report(WARN_SYMPTOM, SYMPTOM, service="stats")
    [(_, pending)] = [(e.id, e) for e in run.state.outbox]
    assert run.send(ok=False) == []
    run.report(service="stats")  # resolved meanwhile
    [entry] = run.state.outbox
    assert entry.id == pending.id and entry.target.status == "resolved"
    run.now += 600
    assert run.send() == ["resolved"]


def test_flapping_within_the_cooldown_is_held_then_caught_up_or_dropped() -> None:
    run = Run(Rules(cooldown_s=3600))
    run.report(WARN_SYMPTOM, service="stats")
    run.send()
    run.report(service="stats")
    assert run.send() == ["resolved"]
    run.report(WARN_SYMPTOM, service="stats")  # re-opened within the cooldown of "open:warning": held
    assert run.send() == [] and run.state.outbox[0].held
    run.report(service="stats")  # and resolved again: the recipients already believe it is resolved
    assert run.state.outbox == []
    run.report(WARN_SYMPTOM, service="stats")
    assert run.send() == []
    run.now += 3600  # cooldown over and still open: people must learn it
    run.report(WARN_SYMPTOM, service="stats", advance=0)
    assert run.send() == ["opened"]


def test_a_kind_change_is_announced_once() -> None:
    run = Run(Rules(cooldown_s=0))
    run.report(SYMPTOM, service="stats")  # concept drift (inputs not measured)
    run.send()
    run.report(SHIFT, service="drift")  # inputs moved: covariate shift with an evaluation breach
    assert run.send() == ["updated"]
    assert run.state.incident.kinds_told == ["concept_drift", "covariate_shift"]


def test_a_stopped_service_cannot_hold_an_incident_open() -> None:
    run = Run(Rules(cooldown_s=0, part_min_ttl_s=900))
    run.report(BREAK, service="drift")
    run.send()
    for _ in range(16):  # the drift detector stopped; the statistics service keeps running healthy
        run.report(service="stats")
    assert run.state.incident is None and run.send() == ["resolved"]


def test_a_leased_email_is_not_sent_twice_and_a_dead_lease_is_taken_over() -> None:
    run = Run(Rules(cooldown_s=0, lease_s=120))
    run.report(BREAK)
    first = policy.claim(run.state, "a", run.now, run.rules)
    assert len(first) == 1 and policy.claim(run.state, "b", run.now, run.rules) == []
    later = policy.claim(run.state, "b", run.now + 121, run.rules)  # "a" died while sending
    assert [e.id for e in later] == [first[0].id]
    assert policy.complete(run.state, first[0].id, "a", True, run.now + 130, run.rules) == "lost-lease"
    assert policy.complete(run.state, first[0].id, "b", True, run.now + 130, run.rules) == "sent"


def test_a_newer_state_queues_behind_an_email_being_sent() -> None:
    run = Run(Rules(cooldown_s=0))
    run.report(WARN_SYMPTOM, service="stats")
    [inflight] = policy.claim(run.state, "a", run.now, run.rules)
    run.report(service="stats", advance=1)  # resolved while the opening email is on its way
    assert run.state.outbox[0].id == inflight.id and len(run.state.outbox) == 2
    resolve = run.state.outbox[1]
    assert resolve.refs == [inflight.id]
    policy.complete(run.state, inflight.id, "a", True, run.now, run.rules)
    assert run.send() == ["resolved"]


def test_replaying_a_run_changes_nothing() -> None:
    run = Run()
    run.report(SYMPTOM, service="stats")
    before = run.state.dump()
    run.report(SYMPTOM, service="stats", advance=0)
    assert run.state.dump() == before


def test_old_or_unknown_state_documents_start_fresh() -> None:
    assert ModelState.load(MODEL, {"version": 1, "models": {}}).incident is None
    assert ModelState.load(MODEL, None).outbox == []


def test_rules_are_checked() -> None:
    with pytest.raises(ValueError, match="input_shifts"):
        Rules(input_shifts="page")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="digest_interval_s"):
        Rules(digest_interval_s=0)


def test_without_smtp_incidents_are_tracked_but_nothing_is_queued() -> None:
    run = Run(Rules(notify=False))
    run.report(SYMPTOM, service="stats", shifts=(shift("x", 0.5),))
    assert run.state.incident is not None and run.state.outbox == []
