"""Both services on one model, real components (one SQLite store, a real aiosmtpd server, the real jobs): one
incident and one email thread across the statistics service and the drift detector, across restarts of either;
an SMTP outage through an incident's open and resolve gives exactly one email once SMTP is back; the kinds of
change named from real runs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from drift_detector.baseline_cache import BaselineCache
from drift_detector.job import DriftJob, build_drift_job
from mlmon.demo.data import default_probability
from mlmon.registry.serving import LoadedModel
from mlmon.settings import DriftSettings, StatsSettings
from mlmon.store.base import LabelRecord
from mlmon.store.sqlite import SQLiteStore
from stats_service.job import StatsJob, build_stats_job
from tests.conftest import free_port
from tests.fixtures.smtp import SmtpServer
from tests.integration import test_drift_job as drift_tests
from tests.unit.drift_detector.helpers import SPEC_PATH, events_from_frame, feature_rows, model_scores, utc_now
from tests.unit.notify.helpers import VirtualTime

pytestmark = pytest.mark.integration

model_dir = drift_tests.model_dir
feast_repo_dir = drift_tests.feast_repo_dir
loaded = drift_tests.loaded
baselines = drift_tests.baselines

UNIT = "seconds_since_last_application"
ROWS = 800
SPAN_S = 500.0  # traffic of a phase; windows are 10 minutes, phases 15 minutes apart
PHASE = timedelta(minutes=15)


def common(tmp_path: Path, smtp_port: int) -> dict[str, Any]:
    return {
        "store": f"sqlite:///{tmp_path / 'inference.db'}",
        "model_spec": SPEC_PATH,
        "var_dir": tmp_path / "var",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "smtp_timeout_s": 2.0,
        "alert_email_from": "mlmon@monitor.test",
        "alert_email_to": ["oncall@monitor.test"],
        "notify_cooldown_s": 3600,
        "interval_s": 600,  # each part counts for 30 minutes
    }


class Services:
    """The two jobs of one model as separate "processes": own store connection, own tracker; ``restart``
    builds a job anew from its settings (a restarted service)."""

    def __init__(self, tmp_path: Path, model_dir: Path, feast: Path, baselines: BaselineCache, smtp_port: int) -> None:
        self.baselines = baselines
        self.drift_settings = DriftSettings(
            _env_file=None,
            **common(tmp_path, smtp_port),
            model_path=model_dir,
            feast_repo=feast,
            window="10m",
            min_rows=200,
            consecutive=2,
        )
        self.stats_settings = StatsSettings(
            _env_file=None,
            **common(tmp_path, smtp_port),
            model_path=model_dir,
            windows=["10m"],
            label_delay_s=0,
            min_labels=30,
        )
        self.waits = VirtualTime()
        self.drift = self._drift()
        self.stats = self._stats()

    def _quick(self, job: DriftJob | StatsJob) -> None:
        """Back-off waits of an SMTP outage recorded, not waited (they still count against the retry budget)."""
        notifier = job.incidents.notifier if job.incidents else None
        if notifier is not None:
            notifier.sleep, notifier.monotonic = self.waits, self.waits.monotonic  # type: ignore[attr-defined]

    def _drift(self) -> DriftJob:
        self.drift_registry = CollectorRegistry()
        job = build_drift_job(self.drift_settings, self.drift_registry)
        job.baselines = self.baselines
        self._quick(job)
        return job

    def _stats(self) -> StatsJob:
        self.stats_registry = CollectorRegistry()
        job = build_stats_job(self.stats_settings, self.stats_registry)
        self._quick(job)
        return job

    def restart(self, which: str, smtp_port: int | None = None) -> None:
        if smtp_port is not None:
            self.drift_settings = self.drift_settings.model_copy(update={"smtp_port": smtp_port})
            self.stats_settings = self.stats_settings.model_copy(update={"smtp_port": smtp_port})
        if which in ("drift", "both"):
            self.drift.close()
            self.drift = self._drift()
        if which in ("stats", "both"):
            self.stats.close()
            self.stats = self._stats()

    def run(self, now: datetime) -> None:
        self.drift.run_once(now)
        self.stats.run_once(now)

    def close(self) -> None:
        self.drift.close()
        self.stats.close()


@pytest.fixture
def writer(tmp_path: Path, loaded: LoadedModel) -> Callable[..., None]:
    store = SQLiteStore(tmp_path / "inference.db", loaded.spec)

    def write(
        end: datetime,
        seed: int,
        *,
        unit: bool = False,
        empty: float = 0.0,
        labels: str | None = None,
        version: str | None = None,
        scores: str = "model",
    ) -> None:
        """``ROWS`` predictions ending at ``end``; ``labels``: "true" or "flipped" ground truth for each;
        ``scores``: the real model's, "random", or an "oracle" that knows the outcome."""
        rng = np.random.default_rng(seed)
        frame = feature_rows(ROWS, seed)
        truth = rng.random(ROWS) < default_probability(frame)
        if unit:
            frame[UNIT] = frame[UNIT] * 1000.0
        kinds = np.where(rng.random(ROWS) < empty, "empty", "ok")
        given = {
            "random": lambda: list(rng.random(ROWS)),
            "oracle": lambda: list(np.clip(0.7 * truth + 0.3 * rng.random(ROWS), 0, 1)),
            "model": lambda: model_scores(loaded, frame),
        }[scores]()
        events = events_from_frame(
            loaded.spec,
            frame,
            given,
            version=version or loaded.version,
            end=end,
            span_s=SPAN_S,
            prefix=f"s{seed}-",
            response_kinds=list(kinds),
        )
        assert store.write_events(events).stored == ROWS
        if labels is not None:
            flip = labels == "flipped"
            records = [
                LabelRecord(e.prediction_id, "default" if t != flip else "no_default", e.timestamp)
                for e, t in zip(events, truth, strict=True)
            ]
            assert store.upsert_labels(records).written == ROWS

    return write


def subject(msg: EmailMessage) -> str:
    return " ".join(str(msg["Subject"]).split())


def text(msg: EmailMessage) -> str:
    return str(msg.get_body(preferencelist=("plain",)).get_content())


def test_both_services_one_incident_one_thread_across_restarts(
    tmp_path: Path, model_dir, feast_repo_dir, baselines, writer, smtp_server: SmtpServer
) -> None:
    services = Services(tmp_path, model_dir, feast_repo_dir, baselines, smtp_server.port)
    try:
        t0 = utc_now()
        writer(t0, 1)
        services.run(t0)
        assert smtp_server.files() == []  # healthy traffic: nothing

        t1 = t0 + PHASE  # the unit changes upstream: the drift detector sees the break in its first window
        writer(t1, 2, unit=True)
        services.drift.run_once(t1)
        [opened] = smtp_server.wait_for(1)
        assert "data-integrity break" in subject(opened) and UNIT in subject(opened)
        assert "unit change" in subject(opened)
        services.stats.run_once(t1)  # nothing the statistics service sees: no email
        services.restart("drift")  # a restarted drift detector does not open a second incident
        services.drift.run_once(t1 + timedelta(seconds=30))
        assert len(smtp_server.wait_for(2, timeout=1.0)) == 1

        t2 = t1 + timedelta(minutes=5)  # now answers go missing too: the symptom joins the same incident
        writer(t2, 3, unit=True, empty=0.3)
        services.stats.run_once(t2)
        opened, updated = smtp_server.wait_for(2)
        assert updated["In-Reply-To"] == opened["Message-ID"] and updated["References"] == opened["Message-ID"]
        assert subject(updated).startswith("[mlmon CRITICAL] loan_default:") and "(update)" in subject(updated)
        body = text(updated)
        assert "empty_share" in body and "SLO ≤ 0.05" in body and f"{UNIT}: values ≈1,000×" in body
        services.restart("stats")
        services.run(t2 + timedelta(seconds=30))
        assert len(smtp_server.wait_for(3, timeout=1.0)) == 2

        t3 = t2 + PHASE  # fixed upstream: each service clears its own part; the incident resolves once
        writer(t3, 4)
        services.stats.run_once(t3)  # symptom gone, the break still seen: the de-escalation waits (cooldown)
        assert len(smtp_server.wait_for(3, timeout=1.0)) == 2
        services.drift.run_once(t3)
        messages = smtp_server.wait_for(3)
        assert len(messages) == 3
        resolved = messages[-1]
        assert subject(resolved).startswith("[mlmon RESOLVED] loan_default: data-integrity break")
        ids = [m["Message-ID"] for m in messages]
        assert resolved["References"].split() == ids[:-1] and resolved["In-Reply-To"] == ids[-2]
        assert len({m["X-Mlmon-Incident"] for m in messages}) == 1 and len(set(ids)) == 3
        assert [m["X-Mlmon-Event"] for m in messages] == ["opened", "updated", "resolved"]
        services.run(t3 + timedelta(seconds=30))
        assert len(smtp_server.wait_for(4, timeout=1.0)) == 3
        state = services.drift.incidents.read()
        assert state.incident is None and [h["emails"] for h in state.history] == [3] and state.outbox == []
    finally:
        services.close()


def test_smtp_down_through_open_and_resolve_gives_one_email_after_it_returns(
    tmp_path: Path, model_dir, feast_repo_dir, baselines, writer, smtp_factory
) -> None:
    down = free_port()  # nothing listens: connection refused
    services = Services(tmp_path, model_dir, feast_repo_dir, baselines, down)
    try:
        t1 = utc_now()
        writer(t1, 11, unit=True)
        services.run(t1)  # opens; the email fails and waits in the outbox
        state = services.drift.incidents.read()
        assert state.incident is not None and len(state.outbox) == 1 and state.outbox[0].attempts == 1
        t2 = t1 + PHASE
        writer(t2, 12)
        services.run(t2)  # resolved while SMTP is still down
        state = services.stats.incidents.read()
        assert state.incident is None and len(state.outbox) == 1
        pending = {"model": "loan_default"}
        assert services.stats_registry.get_sample_value("mlmon_notifications_pending", pending) == 1.0
        failed = {"model": "loan_default", "outcome": "failed"}
        assert (services.drift_registry.get_sample_value("mlmon_notifications_total", failed) or 0) >= 1

        server = smtp_factory()
        services.restart("both", smtp_port=server.port)  # both services restart: the outbox is in the store
        services.run(t2 + PHASE)
        [msg] = server.wait_for(1)
        assert subject(msg).startswith("[mlmon RESOLVED] loan_default: data-integrity break")
        assert subject(msg).endswith("(opened and resolved while email was down)")
        assert msg["X-Mlmon-Event"] == "opened_resolved" and f"{UNIT}: values ≈1,000×" in text(msg)
        services.run(t2 + 2 * PHASE)
        assert len(server.wait_for(2, timeout=1.0)) == 1  # exactly one email
        assert services.drift.incidents.read().outbox == []
        sent = {"model": "loan_default", "outcome": "sent"}
        registries = (services.drift_registry, services.stats_registry)
        assert sum(r.get_sample_value("mlmon_notifications_total", sent) or 0 for r in registries) == 1
        assert services.drift_registry.get_sample_value("mlmon_notifications_pending", pending) == 0.0
    finally:
        services.close()


def test_concept_drift_is_named_when_the_inputs_are_stable(
    tmp_path: Path, model_dir, feast_repo_dir, baselines, writer, smtp_server: SmtpServer
) -> None:
    """The evaluation falls while the inputs are stable (the drift detector measured them): concept drift, and
    the email shows the top input shifts with before → after."""
    services = Services(tmp_path, model_dir, feast_repo_dir, baselines, smtp_server.port)
    try:
        now = utc_now()
        writer(now, 21, labels="flipped")  # the world changed: the same inputs now mean the opposite
        services.run(now)
        [concept] = smtp_server.wait_for(1)
        assert "concept drift: roc_auc" in subject(concept) and "while the inputs are stable" in subject(concept)
        body = text(concept)
        assert "roc_auc " in body and "SLO ≥ 0.7" in body and "SLO roc_auc" not in body
        assert "Top input shifts (before → after):" in body and "below its threshold" in body
        assert "permutation importance" in body
    finally:
        services.close()


def test_a_worse_model_version_is_named_on_the_same_traffic(
    tmp_path: Path, model_dir, feast_repo_dir, baselines, writer, smtp_server: SmtpServer
) -> None:
    services = Services(tmp_path, model_dir, feast_repo_dir, baselines, smtp_server.port)
    try:
        now = utc_now()
        writer(now, 22, labels="true", version="previous-version", scores="oracle")  # still on part of the traffic
        writer(now, 23, labels="true", scores="random")  # the new serving version scores at random
        services.stats.run_once(now)
        [worse] = smtp_server.wait_for(1)
        assert "worse model version: version " in subject(worse) and "on the same window" in subject(worse)
        assert "where version previous-version had" in subject(worse)
        assert worse["X-Mlmon-Kind"] == "worse_version" and worse["X-Mlmon-Event"] == "opened"
        services.drift.run_once(now)  # the scores moved too: one update in the same thread, same kind
        opened, update = smtp_server.wait_for(2)
        assert "worse model version" in subject(update) and update["In-Reply-To"] == opened["Message-ID"]
        assert "Top input shifts (before → after):" in text(update)
    finally:
        services.close()
