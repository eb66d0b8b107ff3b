"""Ranges and windows of a backtest, the read-only store of past-range runs, and the report document and page
built from synthetic runs (the page's structure; rendering in a browser is tested with the example model)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mlmon.commands.backtest import parse_assignments
from mlmon.errors import ConfigError
from mlmon.history import report, report_html
from mlmon.history.backtest import BacktestRun, WindowRecord, _track
from mlmon.history.dry_store import DryStore
from mlmon.history.incidents import OpenIncident, PolicyReplay
from mlmon.history.outcome import FeatureScore, Measure, WindowOutcome
from mlmon.history.windows import MAX_WINDOWS, WindowPlan, duration_name, parse_range
from mlmon.notify.findings import Contribution, Finding
from mlmon.notify.notice import Notice
from mlmon.notify.policy import Rules
from mlmon.store.base import ReportRecord, TimeWindow
from mlmon.store.sqlite import SQLiteStore
from tests.fixtures.tiny_model import T0, tiny_events, tiny_spec


def test_ranges_take_iso_times_and_default_to_utc() -> None:
    span = parse_range("2025-03-01", "2025-03-02T06:00:00+02:00")
    assert span.start == datetime(2025, 3, 1, tzinfo=UTC)
    assert span.end == datetime(2025, 3, 2, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2025-03-02", "2025-03-01", "--end 2025-03-01T00:00:00+00:00 is not after --start 2025-03-02T00:00:00+00:00"),
        ("2025-03-01", "2025-03-01", "is not after --start"),
        ("March", "2025-03-01", "--start 'March': not an ISO 8601 time"),
        ("2025-03-01", None, "--start and --end go together"),
    ],
)
def test_a_bad_range_names_the_option(start: str, end: str | None, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_range(start, end)
    assert message in str(info.value)


def test_windows_are_consecutive_and_the_uncovered_tail_is_said() -> None:
    plan = WindowPlan.of(parse_range("2025-03-01", "2025-03-04T12:00"), "1d")
    assert [w.start.day for w in plan.windows] == [1, 2, 3]
    assert all(a.end == b.start for a, b in zip(plan.windows, plan.windows[1:], strict=False))
    assert plan.uncovered_s == 12 * 3600 and plan.name == "1d"
    year = WindowPlan.of(parse_range("2025-01-01", "2026-01-01"), "1d")
    assert len(year.windows) == 365
    with pytest.raises(ConfigError, match="--window 2d is longer than the range"):
        WindowPlan.of(parse_range("2025-03-01", "2025-03-02"), "2d")
    with pytest.raises(ConfigError, match=f"at most {MAX_WINDOWS}"):
        WindowPlan.of(parse_range("2000-01-01", "2025-01-01"), "1h")
    with pytest.raises(ConfigError, match="--window: 'daily' is not a duration"):
        WindowPlan.of(parse_range("2025-03-01", "2025-03-02"), "daily")


def test_duration_names() -> None:
    assert [duration_name(s) for s in (86400, 604800, 5400, 90, 7200)] == ["1d", "1w", "90m", "90s", "2h"]


def test_settings_to_compare_are_named_like_the_environment() -> None:
    assert parse_assignments(["MLMON_ALPHA=0.01", "consecutive=3"], "--compare") == {
        "alpha": "0.01",
        "consecutive": "3",
    }
    with pytest.raises(ConfigError, match="MLMON_ALPAH is not a setting of the stats or drift service"):
        parse_assignments(["MLMON_ALPAH=0.01"], "--compare")
    with pytest.raises(ConfigError, match=r"write it like MLMON_ALPHA=0\.01"):
        parse_assignments(["MLMON_ALPHA"], "--set")


def test_the_dry_store_reads_through_and_writes_nothing(tmp_path: Path) -> None:
    spec = tiny_spec()
    inner = SQLiteStore(tmp_path / "events.db", spec)
    try:
        inner.write_events(tiny_events(30))
        dry = DryStore(inner, keep_reports=True)
        window = TimeWindow(T0 - timedelta(days=1), T0 + timedelta(days=1))
        assert dry.count(window) == inner.count(window) == 30
        assert len(dry.read_window(window)) == 30
        dry.write_report(ReportRecord(kind="drift", timestamp=T0, body={"run": 1}))
        assert inner.latest_reports("drift") == [] and dry.latest_reports("drift") == [{"run": 1}]
        assert dry.apply_retention(datetime(2100, 1, 1, tzinfo=UTC)).cutoff is None
        assert inner.count(window) == 30
        with pytest.raises(RuntimeError, match="does not write"):
            dry.write_events(tiny_events(1))
        # the incident state is the dry run's own, compare-and-set like the real one; the live one is untouched
        assert dry.read_incident_state() is None
        first = dry.write_incident_state({"version": 2, "x": 1}, None)
        assert first is not None and dry.write_incident_state({"x": 2}, None) is None
        record = dry.read_incident_state()
        assert record is not None and record.body == {"version": 2, "x": 1} and record.revision == first
        assert inner.read_incident_state() is None
    finally:
        inner.close()


def _record(day: int, incident: OpenIncident | None, ratio: float) -> WindowRecord:
    start = datetime(2025, 4, 1, tzinfo=UTC) + timedelta(days=day)
    window = TimeWindow(start, start + timedelta(days=1))
    stats = WindowOutcome(
        "stats", window, 400, "ok", "s", symptoms=[Measure("mae", 2.5 + 6 * (ratio > 1), 4.5, "<=", ratio > 1)]
    )
    drift = WindowOutcome(
        "drift",
        window,
        400,
        "ok",
        "d",
        symptoms=[Measure("prediction distribution", 0.02 * ratio, 0.09, "<", ratio > 1)],
        causes=[
            FeatureScore("temperature_c", 0.05 * ratio, 0.05, "psi", "drift" if ratio > 1 else "no_drift"),
            FeatureScore("humid<ty", 0.01, 0.05, "psi", "no_drift"),
        ],
    )
    return WindowRecord(window, {"stats": stats, "drift": drift}, incident, ["opened:x"] if incident else [])


def _run(label: str, change_day: int, days: int = 10) -> BacktestRun:
    run = BacktestRun(label, {"alpha": "0.01"} if label == "B" else {})
    previous = None
    for day in range(days):
        opened = datetime(2025, 4, 2 + change_day, tzinfo=UTC)
        incident = (
            OpenIncident("inc1", opened, "slo", "SLO breached: mae is 8.5", "critical") if day >= change_day else None
        )
        record = _record(day, incident, 8.0 if day >= change_day else 0.4)
        _track(run.incidents, record, previous)
        previous = record.incident
        run.records.append(record)
    return run


def test_the_document_and_the_page() -> None:
    plan = WindowPlan.of(parse_range("2025-04-01", "2025-04-11"), "1d")
    document = report.backtest_document("bikes", "v1", plan, [_run("A", 6), _run("B", 7)], ["a note"])
    json.dumps(document)  # plain JSON
    a = document["runs"][0]
    assert [i["first_window"]["start"] for i in a["incidents"]] == ["2025-04-07T00:00:00Z"]
    assert a["incidents"][0]["closed_at"] is None and a["incidents"][0]["windows"] == 4
    assert a["per_month"] == {"2025-04": {"incidents": 1, "by_kind": {"slo": 1}}} and a["per_kind"] == {"slo": 1}
    assert a["timeline"][6]["causes"]["temperature_c"] == {
        "feature": "temperature_c", "statistic": 0.4, "threshold": 0.05, "ratio": 8.0, "test": "psi", "status": "drift",
    }  # fmt: skip
    lines = report.summary_lines(document)
    assert "[B] alpha=0.01: 1 incident(s), 0 email(s) (0.0 s)" in lines
    html = report_html.render(document)
    assert html.count('class="cell') == 2 * 2 * 10 and html.count('class="cell drift"') == 4 + 3
    assert 'id="timeline-A"' in html and 'id="heatmap-B"' in html and html.count('class="incident-band"') == 4 + 3
    assert "humid&lt;ty" in html and "humid<ty" not in html  # names are escaped
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_an_incident_that_closes_has_a_duration() -> None:
    run = BacktestRun("A", {})
    previous = None
    for day, open_ in enumerate([False, True, True, False, True]):
        opened = datetime(2025, 4, 3 if day < 3 else 6, tzinfo=UTC)
        # the second one is context only (input shifts without a symptom): told in the digest, not paged
        incident = OpenIncident("i1" if day < 3 else "i9", opened, "output", "h", "warning", actionable=day < 3)
        record = _record(day, incident if open_ else None, 2.0 if open_ else 0.1)
        _track(run.incidents, record, previous)
        previous = record.incident
        run.records.append(record)
    first, second = run.incidents
    assert first.windows == 2 and first.duration == timedelta(days=2) and first.paged
    assert second.closed_at is None and second.first_window.start.day == 5 and not second.paged
    document = report.backtest_document(
        "bikes", "v1", WindowPlan.of(parse_range("2025-04-01", "2025-04-06"), "1d"), [run]
    )
    assert [i["paged"] for i in document["runs"][0]["incidents"]] == [True, False]
    assert report_html.render(document).count("(context only)") == 1
    assert any("(context only: told in the digest, no page)" in line for line in report.summary_lines(document))


class _Inbox:
    """A notifier that keeps what it is given (the replay's ``--notify`` path without SMTP)."""

    def __init__(self) -> None:
        self.notices: list[Notice] = []

    def send(self, notice: Notice) -> bool:
        self.notices.append(notice)
        return True

    def record(self, model: str, outcome: str) -> None:
        pass


def _stats_run(day: int, breached: bool) -> WindowOutcome:
    start = datetime(2025, 4, 1, tzinfo=UTC) + timedelta(days=day)
    window = TimeWindow(start, start + timedelta(days=1))
    findings = (Finding("evaluation", "mae", "critical", "mae 8.5, SLO <= 4.5"),) if breached else ()
    part = Contribution("stats", "bikes", "v1", window.start, window.end, findings, interval_s=86400, at=window.end)
    return WindowOutcome("stats", window, 400, "ok", "s", contribution=part)


def test_the_replay_runs_the_live_tracker_on_the_windows_clock() -> None:
    """Each window's runs go through the live tracker at the window's end: an incident opens after the first
    breached window and resolves after the first clean one; the cooldown (4 days here) is counted on the
    windows' clock, so the second opening is held until four days after the first email and then goes out."""
    inbox = _Inbox()
    replay = PolicyReplay("bikes", Rules(cooldown_s=4 * 86400, notify=False), inbox)  # notify: the replay's own
    seen = []
    for day, breached in enumerate([False, True, True, False, True, True, True]):
        outcome = _stats_run(day, breached)
        events = replay.observe([outcome, WindowOutcome("drift", outcome.window, 3, "insufficient_data", "d")],
                                outcome.window.end)  # fmt: skip
        incident = replay.open_incident()
        seen.append((day, incident.id if incident else None, [e.split(":")[0] for e in events]))
    opened = seen[1][1]
    assert seen[0] == (0, None, [])
    assert seen[1] == (1, opened, ["opened"]) and seen[2] == (2, opened, [])
    assert seen[3] == (3, None, ["resolved"])  # a resolve is another signature: not held
    again = seen[4][1]
    assert again is not None and again != opened
    assert seen[4] == (4, again, []) and seen[5] == (5, again, ["opened"]) and seen[6] == (6, again, [])
    assert replay.emails == 3 and [n.event for n in inbox.notices] == ["opened", "resolved", "opened"]
    assert [n.at.day for n in inbox.notices] == [3, 5, 6]  # April: the windows' ends (the held one as queued)
    incident = replay.open_incident()
    assert incident is not None and incident.severity == "critical" and incident.actionable
    assert incident.opened_at == datetime(2025, 4, 6, tzinfo=UTC) and "mae" in incident.headline
