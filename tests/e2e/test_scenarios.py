"""Every replay scenario against a running embedded stack: the expected finding arrives by email (or, for
``seasonal``, no drift email does), judged from the received ``.eml`` the way a person would read it.

One fresh stack per scenario (own store, inbox, incident state); see ``conftest.E2E_TIMINGS`` for the windows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sklearn.metrics import roc_auc_score

from mlmon.demo.run import ScenarioOutcome, run_scenario
from mlmon.embedded.stack import EmbeddedStack
from mlmon.store.base import TimeWindow
from tests.e2e.conftest import E2E_TIMINGS, TrainedModels, describe

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def play(stack: EmbeddedStack, name: str) -> ScenarioOutcome:
    outcome = run_scenario(stack, name, E2E_TIMINGS, say=print)
    print(describe(outcome, stack))
    return outcome


def assert_detected(outcome: ScenarioOutcome, stack: EmbeddedStack, job: str) -> None:
    assert outcome.detected, describe(outcome, stack)
    assert outcome.elapsed_s is not None and outcome.elapsed_s < E2E_TIMINGS.fault_s + E2E_TIMINGS.grace_s
    mail = outcome.mail
    assert mail is not None and mail.job == job, describe(outcome, stack)
    assert mail.severity in ("warning", "critical")
    assert outcome.fault is not None and outcome.fault.errors == 0


def assert_no_false_drift_alarm(outcome: ScenarioOutcome, stack: EmbeddedStack) -> None:
    """Before the fault, the traffic is like the training data: the drift detector must stay quiet."""
    false = [m for m in outcome.baseline_mails if m.job == "drift"]
    assert not false, describe(outcome, stack)


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
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for report in latest_reports(stack, "stats", 1):
            slo = next((s for s in report["slos"] if s["metric"] == metric and s["value"] is not None), None)
            if slo is not None and ok(slo):
                return slo
        time.sleep(1.0)
    return None


def test_unit_change_names_seconds_since_last_application(stack: EmbeddedStack) -> None:
    outcome = play(stack, "unit-change")
    assert_detected(outcome, stack, "drift")
    assert_no_false_drift_alarm(outcome, stack)
    assert "seconds_since_last_application" in (outcome.subject or "")
    assert "outside the baseline range" in (outcome.text or "")  # the ×1000 values leave the training range


def test_fill_rate_drop_names_debt_ratio(stack: EmbeddedStack) -> None:
    outcome = play(stack, "fill-rate-drop")
    assert_detected(outcome, stack, "drift")
    assert_no_false_drift_alarm(outcome, stack)
    assert "debt_ratio" in (outcome.subject or "")
    assert "fill rate" in (outcome.text or "") or "missing share" in (outcome.text or "")


def test_enrichment_outage_names_the_bureau_fields_and_fallbacks(stack: EmbeddedStack) -> None:
    outcome = play(stack, "enrichment-outage")
    # When the output symptom is decided a run before its causes, the causes arrive in a second email
    # ("findings_added") of the same incident; the outcome's mail is the first one that names them.
    assert_detected(outcome, stack, "drift")
    assert_no_false_drift_alarm(outcome, stack)
    assert outcome.mail is not None
    # The symptom leads the subject (every answer is now the same fallback score), the cause follows.
    assert outcome.mail.names(["prediction"]) or outcome.mail.names(["bureau_score", "open_credit_lines"])
    assert set(outcome.mail.in_text(["bureau_score", "open_credit_lines"])) == {"bureau_score", "open_credit_lines"}
    # Both enrichment fields gone: the server answers with its rule-based fallback, and the statistics
    # service measures it against the fallback_share SLO.
    assert kind_share(outcome, "fallback") > 0.95, describe(outcome, stack)
    slo = wait_for_slo(stack, "fallback_share", lambda s: s["breached"] and s["value"] >= 0.1)
    assert slo is not None, describe(outcome, stack)


def test_category_shift_names_channel(stack: EmbeddedStack) -> None:
    outcome = play(stack, "category-shift")
    assert_detected(outcome, stack, "drift")
    assert_no_false_drift_alarm(outcome, stack)
    assert "channel" in (outcome.subject or "")
    assert "partner" in (outcome.text or "")


def test_empty_responses_breach_the_empty_share_slo(stack: EmbeddedStack) -> None:
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
    assert_detected(outcome, stack, "stats")
    assert "empty_share" in (outcome.subject or "")
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


def test_bad_retrain_breaches_the_roc_auc_slo(stack: EmbeddedStack, trained_models: TrainedModels) -> None:
    outcome = play(stack, "bad-retrain")
    assert outcome.model_version == trained_models.degraded
    assert_detected(outcome, stack, "stats")
    assert "roc_auc" in (outcome.subject or "")
    good, n_good = _auc(stack, trained_models.standard)
    bad, n_bad = _auc(stack, trained_models.degraded)
    print(
        f"replayed traffic: standard AUC {good:.3f} on {n_good} labels, degraded AUC {bad:.3f} on {n_bad}; "
        f"holdout {trained_models.holdout_auc}"
    )
    assert good > 0.72 and bad < 0.68, (good, bad)


def test_gradual_drift_names_loan_amount(stack: EmbeddedStack) -> None:
    outcome = play(stack, "gradual-drift")
    assert_detected(outcome, stack, "drift")
    assert_no_false_drift_alarm(outcome, stack)
    assert "loan_amount" in (outcome.subject or "")


def test_seasonal_volume_pattern_does_not_alert(stack: EmbeddedStack) -> None:
    outcome = play(stack, "seasonal")
    assert outcome.ok, describe(outcome, stack)
    assert not [m for m in outcome.baseline_mails + outcome.mails if m.job == "drift"], describe(outcome, stack)
    assert outcome.fault is not None
    # The whole phase ran (nothing cut it short), with the volume swinging but the same total.
    assert outcome.fault.elapsed_s >= E2E_TIMINGS.fault_s - 1
    assert outcome.fault.sent == pytest.approx(E2E_TIMINGS.rate * E2E_TIMINGS.fault_s, rel=0.15)
    # Silence must come from decisions, not from a detector that never had enough rows to decide.
    decided = [r for r in latest_reports(stack, "drift", 40) if r["status"] == "ok"]
    assert len(decided) >= 5, describe(outcome, stack)
    assert not any(r["drift_detected"] for r in decided), [r["summary"] for r in decided if r["drift_detected"]]
