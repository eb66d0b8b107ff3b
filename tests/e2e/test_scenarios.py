"""Every replay scenario against a running embedded stack: exactly one incident, whose email names the expected
kind of change in its subject (or, for ``seasonal`` and ``baseline``, no incident at all), judged from the
received ``.eml`` the way a person would read it and from the incident state in the store.

One fresh stack per scenario (own store, inbox, incident state); see ``conftest.E2E_TIMINGS`` for the windows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sklearn.metrics import roc_auc_score

from mlmon.demo.run import ScenarioOutcome, run_scenario
from mlmon.embedded.mail import Mail
from mlmon.embedded.stack import EmbeddedStack
from mlmon.notify.kinds import LABELS
from mlmon.notify.state import ModelState
from mlmon.store.base import TimeWindow
from tests.conftest import wait_until
from tests.e2e.conftest import E2E_TIMINGS, TrainedModels, describe

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def play(stack: EmbeddedStack, name: str) -> ScenarioOutcome:
    outcome = run_scenario(stack, name, E2E_TIMINGS, say=print)
    print(describe(outcome, stack))
    print(f"TIMING {name}: fault → email {outcome.elapsed_s}s")
    return outcome


def incident_state(stack: EmbeddedStack) -> ModelState:
    store = stack.open_store()
    try:
        record = store.read_incident_state()
    finally:
        store.close()
    return ModelState.load("loan_default", record.body if record else None)


def incidents_since(stack: EmbeddedStack, since: float) -> list[dict[str, Any]]:
    """The incidents opened from ``since`` on (closed ones from the history, then the open one)."""
    state = incident_state(stack)
    found = [h for h in state.history if h["opened_at"] >= since]
    if state.incident is not None and state.incident.opened_at >= since:
        found.append({"id": state.incident.id, "kind": (state.incident.kind or {}).get("code")})
    return found


def assert_one_incident(outcome: ScenarioOutcome, stack: EmbeddedStack, kind: str) -> Mail:
    """Exactly one incident, named ``kind`` in its subject, and no incident email before the fault."""
    assert outcome.detected, describe(outcome, stack)
    assert outcome.elapsed_s is not None and outcome.elapsed_s < E2E_TIMINGS.fault_s + E2E_TIMINGS.grace_s
    mail = outcome.mail
    assert mail is not None and mail.kind == kind and LABELS[kind] in mail.subject, describe(outcome, stack)
    assert [m for m in outcome.baseline_mails if not m.resolved] == [], describe(outcome, stack)
    assert len(outcome.incidents) == 1, describe(outcome, stack)
    assert outcome.fault_started_at is not None
    opened = incidents_since(stack, outcome.fault_started_at - E2E_TIMINGS.job_interval_s)
    assert len(opened) == 1, (opened, describe(outcome, stack))
    pages = outcome.pages
    if pages:  # one thread: one opening email, every other one replies to it
        first = [m for m in pages if m.event in ("opened", "opened_resolved")]
        assert len(first) == 1, describe(outcome, stack)
        assert all(first[0].message_id in m.references for m in outcome.mails if m is not first[0] and not m.digest)
    assert outcome.fault is not None and outcome.fault.errors == 0
    return mail


def assert_no_incident(outcome: ScenarioOutcome, stack: EmbeddedStack) -> None:
    assert outcome.ok, describe(outcome, stack)
    assert not [m for m in outcome.baseline_mails + outcome.mails if not m.resolved], describe(outcome, stack)
    assert incident_state(stack).history == [] and incident_state(stack).incident is None


def first_drift_decision(stack: EmbeddedStack, feature: str) -> dict[str, Any] | None:
    """The check row of the first drift run that decided ``feature`` (oldest first)."""
    for report in reversed(latest_reports(stack, "drift", 60)):
        for row in report.get("checks", []):
            if row["feature"] == feature and row["status"] == "drift":
                return dict(row)
    return None


def kind_share(outcome: ScenarioOutcome, kind: str) -> float:
    assert outcome.fault is not None and outcome.fault.sent > 0
    return outcome.fault.kinds[kind] / outcome.fault.sent


def latest_reports(stack: EmbeddedStack, kind: str, limit: int) -> list[dict[str, Any]]:
    store = stack.open_store()
    try:
        return store.latest_reports(kind, limit=limit)  # type: ignore[arg-type]
    finally:
        store.close()


def wait_for_slo(
    stack: EmbeddedStack, metric: str, ok: Callable[[dict[str, Any]], bool], timeout: float = 15.0
) -> dict[str, Any] | None:
    """The newest statistics run's result for ``metric`` once ``ok`` holds (the run may still be due)."""

    def newest() -> dict[str, Any] | None:
        for report in latest_reports(stack, "stats", 1):
            slo = next((s for s in report["slos"] if s["metric"] == metric and s["value"] is not None), None)
            if slo is not None and ok(slo):
                return slo
        return None

    try:
        return wait_until(newest, timeout, f"a statistics run with {metric}", step=1.0)
    except TimeoutError:
        return None


def test_unit_change_is_a_data_integrity_break_decided_in_the_first_window(stack: EmbeddedStack) -> None:
    outcome = play(stack, "unit-change")
    mail = assert_one_incident(outcome, stack, "data_integrity")
    assert "unit change" in mail.subject and "seconds_since_last_application" in mail.subject
    assert "≈1,000× the training values" in mail.text
    row = first_drift_decision(stack, "seconds_since_last_application")
    assert row is not None and row["immediate"] and row["streak"] == 1, row  # consecutive=2: it did not wait


def test_fill_rate_drop_names_debt_ratio_and_its_fill_rate(stack: EmbeddedStack) -> None:
    outcome = play(stack, "fill-rate-drop")
    mail = assert_one_incident(outcome, stack, "data_integrity")
    assert "fill rate" in mail.subject and "debt_ratio" in mail.subject
    assert re.search(r"fill rate (7|8)\d% → \d+%", mail.subject), mail.subject  # about 80% → less than half of it


def test_enrichment_outage_names_the_bureau_fields_and_fallbacks(stack: EmbeddedStack) -> None:
    outcome = play(stack, "enrichment-outage")
    mail = assert_one_incident(outcome, stack, "data_integrity")
    assert "fill rate" in mail.subject
    assert set(mail.in_text(["bureau_score", "open_credit_lines"])) == {"bureau_score", "open_credit_lines"}
    # Both enrichment fields gone: the server answers with its rule-based fallback, and the statistics
    # service measures it against the fallback_share SLO.
    assert kind_share(outcome, "fallback") > 0.95, describe(outcome, stack)
    slo = wait_for_slo(stack, "fallback_share", lambda s: s["breached"] and s["value"] >= 0.1)
    assert slo is not None, describe(outcome, stack)


def test_category_shift_is_covariate_shift_context_not_a_page(stack: EmbeddedStack) -> None:
    outcome = play(stack, "category-shift")
    mail = assert_one_incident(outcome, stack, "covariate_shift")
    assert "channel" in mail.subject and "partner" in mail.text
    for page in outcome.pages:  # a page only when a symptom followed the shift
        assert "Symptoms (what users feel)" in page.text, describe(outcome, stack)
    if not outcome.pages:
        assert mail.digest and mail.severity == "digest"


def test_empty_responses_are_a_post_processing_fault(stack: EmbeddedStack) -> None:
    # Everything but income, so that the enrichment fallback does not apply.
    probe = httpx.post(
        f"{stack.server_url}/predict",
        json={
            "income": None,
            "loan_amount": 12000,
            "term_months": 36,
            "age": 40,
            "channel": "web",
            "bureau_score": 690,
            "open_credit_lines": 4,
            "debt_ratio": 0.3,
        },
        timeout=10,
    )
    assert probe.status_code == 200, probe.text
    assert probe.json().get("kind") == "empty", f"the affordability filter did not empty the answer: {probe.text}"
    outcome = play(stack, "empty-responses")
    mail = assert_one_incident(outcome, stack, "post_processing")
    assert "empty_share" in mail.text and "SLO ≤ 0.05" in mail.text
    # income blanked for 60% (+2% never declared); the enrichment fallback (4%) answers before the filter.
    assert kind_share(outcome, "empty") == pytest.approx(0.608 * 0.96, abs=0.1)


def _auc(stack: EmbeddedStack, version: str) -> tuple[float, int]:
    store = stack.open_store()
    try:
        now = datetime.now(UTC)
        rows = store.labelled_predictions(TimeWindow(now - timedelta(hours=1), now + timedelta(minutes=1)))
    finally:
        store.close()
    rows = rows[(rows["model.version"] == version) & rows["label"].notna() & rows["prediction.score"].notna()]
    truth = (rows["label"] == "default").to_numpy()
    return float(roc_auc_score(truth, rows["prediction.score"].to_numpy(dtype=float))), len(rows)


def test_bad_retrain_is_a_worse_model_version_with_the_input_shifts_listed(
    stack: EmbeddedStack, trained_models: TrainedModels
) -> None:
    outcome = play(stack, "bad-retrain")
    assert outcome.model_version == trained_models.degraded
    mail = assert_one_incident(outcome, stack, "worse_version")
    assert f"version {trained_models.degraded}" in mail.subject and f"version {trained_models.standard}" in mail.subject
    assert "Top input shifts (before → after):" in mail.text  # the inputs, with before → after numbers
    good, n_good = _auc(stack, trained_models.standard)
    bad, n_bad = _auc(stack, trained_models.degraded)
    print(
        f"replayed traffic: standard AUC {good:.3f} on {n_good} labels, degraded AUC {bad:.3f} on {n_bad}; "
        f"holdout {trained_models.holdout_auc}"
    )
    assert good > 0.72 and bad < 0.68, (good, bad)


def test_gradual_drift_names_loan_amount(stack: EmbeddedStack) -> None:
    outcome = play(stack, "gradual-drift")
    assert outcome.detected, describe(outcome, stack)
    assert outcome.mail is not None and outcome.mail.kind in ("covariate_shift", "data_integrity")
    assert "loan_amount" in outcome.mail.subject and len(outcome.incidents) == 1


def test_baseline_traffic_opens_no_incident(stack: EmbeddedStack) -> None:
    assert_no_incident(play(stack, "baseline"), stack)


def test_seasonal_volume_pattern_does_not_alert(stack: EmbeddedStack) -> None:
    outcome = play(stack, "seasonal")
    assert_no_incident(outcome, stack)
    assert outcome.fault is not None
    # The whole phase ran (nothing cut it short), with the volume swinging but the same total.
    assert outcome.fault.elapsed_s >= E2E_TIMINGS.fault_s - 1
    assert outcome.fault.sent == pytest.approx(E2E_TIMINGS.rate * E2E_TIMINGS.fault_s, rel=0.15)
    # Silence must come from decisions, not from a detector that never had enough rows to decide.
    decided = [r for r in latest_reports(stack, "drift", 40) if r["status"] == "ok"]
    assert len(decided) >= 5, describe(outcome, stack)
    assert not any(r["drift_detected"] for r in decided), [r["summary"] for r in decided if r["drift_detected"]]
