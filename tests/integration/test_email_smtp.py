"""EmailNotifier against a real aiosmtpd server on loopback: delivery, parsing, and every failure mode."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from mlmon.notify.email import EmailNotifier
from mlmon.notify.findings import SHARE, ChartData, Finding
from mlmon.notify.notice import Notice
from mlmon.notify.policy import Rules
from mlmon.notify.tracker import IncidentTracker
from mlmon.settings import EmailSettings
from mlmon.spec import parse_spec
from mlmon.store.sqlite import SQLiteStore
from tests.conftest import free_port
from tests.fixtures.smtp import (
    AuthLog,
    DropOnQuitHandler,
    FlakyHandler,
    RefuseRecipientHandler,
    SmtpServer,
    TlsFiles,
)
from tests.unit.notify.helpers import VirtualTime, contribution, notice
from tests.unit.notify.pngcheck import read_png

pytestmark = pytest.mark.integration

END = datetime.now(UTC).replace(microsecond=0)
START = END - timedelta(hours=1)
OUTPUT = Finding(
    "output",
    "prediction",
    "critical",
    "predicted class shares moved: share of 'default' 12% → 31% (jensen_shannon 0.21, threshold 0.1)",
    before=0.12,
    after=0.31,
    unit=SHARE,
    what="share of 'default'",
    statistic=0.21,
    threshold=0.1,
    test="jensen_shannon",
    chart=ChartData(("no_default", "default"), (0.88, 0.12), (0.69, 0.31)),
)
CAUSE = Finding(
    "integrity",
    "loan_duration",
    "warning",
    "loan_duration: values ≈1,000× the training values — a unit change?",
    before=86_400.0,
    after=86_400_000.0,
    unit="s",
    what="mean",
    statistic=4.2,
    threshold=0.1,
    test="wasserstein",
    integrity="unit_change",
    fingerprint="values ≈1,000× the training values — a unit change?",
    chart=ChartData(tuple(f"b{i}" for i in range(20)), (0.05,) * 20, (0.0,) * 19 + (1.0,)),
)
SPEC = parse_spec(
    {"model": "loan_default", "prediction": {"kind": "regression"}, "features": [{"name": "x", "type": "numeric"}]}
)


def _notice() -> Notice:
    return notice(CAUSE, OUTPUT, report_path="/var/reports/loan_default-1.html", prediction_ids=("p-17", "p-42"))


def settings(server_port: int, **kw: object) -> EmailSettings:
    base: dict[str, object] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": server_port,
        "smtp_timeout_s": 2.0,
        "alert_email_from": "mlmon@monitor.test",
        "alert_email_to": ["team@monitor.test"],
        "alert_email_to_critical": ["oncall@monitor.test"],
        "kibana_url": "http://kibana.test:5601",
        "grafana_url": "http://grafana.test:3000",
    }
    base.update(kw)
    return EmailSettings(**base)  # type: ignore[arg-type]


Sleeps = VirtualTime  # back-off waits recorded, not waited; they still count against the retry budget


def notifier(
    cfg: EmailSettings,
    registry: CollectorRegistry,
    sleeps: Sleeps | None = None,
    attempts: int = 4,
    backoff_s: float = 0.5,
    max_backoff_s: float = 2.0,
    max_total_s: float = 5.0,
) -> EmailNotifier:
    clock = sleeps if sleeps is not None else Sleeps()
    return EmailNotifier(
        cfg,
        registry,
        sleep=clock,
        monotonic=clock.monotonic,
        max_attempts=attempts,
        backoff_s=backoff_s,
        max_backoff_s=max_backoff_s,
        max_total_s=max_total_s,
    )


def counts(registry: CollectorRegistry, model: str = "loan_default") -> dict[str, float]:
    out = {}
    for outcome in ("sent", "suppressed", "failed", "retried"):
        value = registry.get_sample_value("mlmon_notifications_total", {"model": model, "outcome": outcome})
        out[outcome] = value or 0.0
    return out


def tracker(tmp_path: Path, live: EmailNotifier, cooldown_s: float = 3600) -> IncidentTracker:
    store = SQLiteStore(tmp_path / "incidents.db", SPEC)
    return IncidentTracker(store, "loan_default", Rules(cooldown_s=cooldown_s, domain="monitor.test"), live)


def test_incident_email_arrives_complete(smtp_server: SmtpServer, tmp_path: Path) -> None:
    registry = CollectorRegistry()
    live = notifier(settings(smtp_server.port), registry)
    incidents = tracker(tmp_path, live)
    opened = contribution(
        CAUSE, OUTPUT, at=END, prediction_ids=("p-17", "p-42"), report_path="/var/reports/loan_default-1.html"
    )
    assert incidents.report(opened) is not None
    [msg] = smtp_server.wait_for(1)
    assert " ".join(str(msg["Subject"]).split()) == (
        "[mlmon CRITICAL] loan_default: data-integrity break: loan_duration values ≈1,000× the training values — "
        "a unit change?"
    )
    assert msg["X-Mlmon-Envelope-To"] == "team@monitor.test, oncall@monitor.test"
    assert msg["Message-ID"].endswith("@monitor.test>") and msg["In-Reply-To"] is None
    assert msg.get_content_type() == "multipart/alternative"
    plain = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for body in (plain, html):
        assert "v3" in body and "p-17" in body and "p-42" in body
        assert body.index("predicted class shares moved") < body.index("(data-integrity break")  # symptom first
        assert "12%" in body and "31%" in body and "86,400 s" in body
        assert "Runbook" in body
    assert "http://kibana.test:5601/app/discover#/?_g=(time:(from:'" in plain
    assert "query:(language:kuery,query:'model.name:%22loan_default%22')" in plain
    assert "http://grafana.test:3000/d/mlmon-overview/mlmon-overview?orgId=1&from=" in plain
    assert "var-model=loan_default" in plain
    assert "file:///var/reports/loan_default-1.html" in plain
    images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 2
    for image in images:
        assert image.get_content_disposition() == "inline"
        assert f"cid:{image['Content-ID'].strip('<>')}" in html
        assert read_png(image.get_content()).shape[0] == 90
    assert counts(registry) == {"sent": 1.0, "suppressed": 0.0, "failed": 0.0, "retried": 0.0}
    # the same findings in the next run: no second email
    incidents.report(contribution(CAUSE, OUTPUT, at=END + timedelta(seconds=60)))
    assert len(smtp_server.wait_for(2, timeout=1.0)) == 1
    incidents.report(contribution(at=END + timedelta(seconds=120)))
    msgs = smtp_server.wait_for(2)
    assert str(msgs[1]["Subject"]).split()[:3] == ["[mlmon", "RESOLVED]", "loan_default:"]
    assert msgs[1]["In-Reply-To"] == msg["Message-ID"]


def test_unreachable_server_is_retried_counted_and_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    registry, sleeps = CollectorRegistry(), Sleeps()
    port = free_port()  # nothing listens there
    with caplog.at_level(logging.INFO, logger="mlmon.notify.email"):
        ok = notifier(settings(port), registry, sleeps, attempts=3).send(_notice())
    assert ok is False
    assert counts(registry) == {"sent": 0.0, "suppressed": 0.0, "failed": 1.0, "retried": 2.0}
    assert sleeps == [0.5, 1.0]  # exponential backoff
    assert "gave up after 3 attempt(s)" in caplog.text and "ConnectionRefusedError" in caplog.text


@pytest.mark.parametrize(("budget", "waits"), [(5.0, [1.0, 2.0]), (20.0, [1.0, 2.0, 4.0, 8.0]), (0.0, [])])
def test_retries_stop_when_the_time_budget_is_spent(budget: float, waits: list[float]) -> None:
    """SMTP down during a job run: exponential back-off, but only while the next wait and one more attempt
    fit in ``max_total_s``; the rest is left to the incident policy's next run."""
    registry, sleeps = CollectorRegistry(), Sleeps()
    sender = notifier(
        settings(free_port()), registry, sleeps, attempts=20, backoff_s=1.0, max_backoff_s=60.0, max_total_s=budget
    )
    started = sleeps.monotonic()
    assert sender.send(_notice()) is False
    assert sleeps == waits
    assert sleeps.monotonic() - started <= max(budget, 0.5)  # waits plus the (instant, refused) attempts
    assert counts(registry) == {"sent": 0.0, "suppressed": 0.0, "failed": 1.0, "retried": float(len(waits))}


def test_real_waits_stay_inside_the_budget() -> None:
    """Real clock, real sleeps: the run waits no longer than the budget; the default budget is a few seconds."""
    registry = CollectorRegistry()
    sender = EmailNotifier(settings(free_port()), registry, max_total_s=1.5, backoff_s=0.25)
    started = time.monotonic()
    assert sender.send(_notice()) is False
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed <= 1.5, elapsed
    assert counts(registry)["retried"] == 1.0 and counts(registry)["failed"] == 1.0
    default = EmailNotifier(settings(free_port()), CollectorRegistry())
    assert default.max_total_s <= 5.0 and default.max_attempts >= 3


def test_a_retry_that_hangs_is_cut_to_the_remaining_budget() -> None:
    """The first attempt is refused; while backing off the server comes up but never answers: the retried
    session times out when the budget ends, not after ``smtp_timeout_s`` (10 s here)."""
    port = free_port()
    listener = socket.socket()

    def start_silent_listener(_seconds: float) -> None:
        if listener.getsockname()[1] == 0:
            listener.bind(("127.0.0.1", port))
            listener.listen(8)

    sleeps = Sleeps(on_sleep=start_silent_listener)
    registry = CollectorRegistry()
    sender = notifier(settings(port, smtp_timeout_s=10.0), registry, sleeps, backoff_s=0.1, max_total_s=1.6)
    try:
        started = time.monotonic()
        assert sender.send(_notice()) is False
        elapsed = time.monotonic() - started
    finally:
        listener.close()
    assert sleeps == [0.1]
    assert 1.0 <= elapsed <= 2.5, elapsed  # the retry got the ~1.5 s left, not 10 s
    assert counts(registry) == {"sent": 0.0, "suppressed": 0.0, "failed": 1.0, "retried": 1.0}


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A real TCP listener that never answers: SMTP greeting times out."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def test_timeout_is_transient(silent_listener: int) -> None:
    registry = CollectorRegistry()
    ok = notifier(settings(silent_listener, smtp_timeout_s=0.3), registry, attempts=2).send(_notice())
    assert ok is False
    assert counts(registry)["retried"] == 1.0 and counts(registry)["failed"] == 1.0


def test_451_then_accepted_is_delivered_once(smtp_factory: Callable[..., SmtpServer]) -> None:
    server = smtp_factory(lambda folder: FlakyHandler(folder, failures=2))
    registry, sleeps = CollectorRegistry(), Sleeps()
    assert notifier(settings(server.port), registry, sleeps).send(_notice()) is True
    assert len(server.wait_for(1)) == 1
    assert server.handler.data_commands == 3  # type: ignore[attr-defined]
    assert counts(registry) == {"sent": 1.0, "suppressed": 0.0, "failed": 0.0, "retried": 2.0}
    assert sleeps == [0.5, 1.0]


def test_bad_credentials_535_fail_without_retry(
    smtp_factory: Callable[..., SmtpServer], caplog: pytest.LogCaptureFixture
) -> None:
    auth = AuthLog(password="right-password")
    server = smtp_factory(authenticator=auth, auth_require_tls=False)
    registry = CollectorRegistry()
    cfg = settings(server.port, smtp_username="mlmon", smtp_password="wrong-password")
    with caplog.at_level(logging.INFO, logger="mlmon.notify.email"):
        assert notifier(cfg, registry).send(_notice()) is False
    assert auth.attempts >= 1 and len(auth.sessions) == 1  # one SMTP session: no retry
    assert counts(registry) == {"sent": 0.0, "suppressed": 0.0, "failed": 1.0, "retried": 0.0}
    assert "permanent failure" in caplog.text and "535" in caplog.text
    assert "wrong-password" not in caplog.text
    assert server.files() == []
    # the right password works against the same server
    good = settings(server.port, smtp_username="mlmon", smtp_password="right-password")
    assert notifier(good, CollectorRegistry()).send(_notice()) is True
    assert len(server.wait_for(1)) == 1


def test_recipient_refused_550(smtp_factory: Callable[..., SmtpServer]) -> None:
    server = smtp_factory(RefuseRecipientHandler)
    registry = CollectorRegistry()
    cfg = settings(server.port, alert_email_to=["nobody@monitor.test"], alert_email_to_critical=[])
    assert notifier(cfg, registry).send(_notice()) is False
    assert counts(registry) == {"sent": 0.0, "suppressed": 0.0, "failed": 1.0, "retried": 0.0}
    assert server.handler.refused == ["nobody@monitor.test"]  # type: ignore[attr-defined]
    # one good and one refused recipient: delivered once to the good one
    mixed = settings(server.port, alert_email_to=["team@monitor.test", "nobody@monitor.test"])
    assert notifier(mixed, CollectorRegistry()).send(_notice()) is True
    [msg] = server.wait_for(1)
    assert msg["X-Mlmon-Envelope-To"] == "team@monitor.test, oncall@monitor.test"


def test_accepted_data_is_never_resent(smtp_factory: Callable[..., SmtpServer]) -> None:
    server = smtp_factory(DropOnQuitHandler)
    registry = CollectorRegistry()
    assert notifier(settings(server.port), registry).send(_notice()) is True
    assert len(server.wait_for(1, timeout=2)) == 1
    assert counts(registry) == {"sent": 1.0, "suppressed": 0.0, "failed": 0.0, "retried": 0.0}


def test_suppressed_and_disabled_are_counted(smtp_server: SmtpServer, tmp_path: Path) -> None:
    disabled_registry = CollectorRegistry()
    disabled = EmailNotifier(EmailSettings(smtp_host=None, alert_email_to=["a@monitor.test"]), disabled_registry)
    assert disabled.send(_notice()) is True
    assert counts(disabled_registry)["suppressed"] == 1.0
    registry = CollectorRegistry()
    flapping = tracker(tmp_path, notifier(settings(smtp_server.port), registry), cooldown_s=3600)
    flapping.report(contribution(OUTPUT, at=END))
    flapping.report(contribution(at=END + timedelta(seconds=10)))
    flapping.report(contribution(OUTPUT, at=END + timedelta(seconds=20)))  # held by the cooldown
    flapping.report(contribution(at=END + timedelta(seconds=30)))  # and resolved again: dropped, counted
    assert len(smtp_server.wait_for(2)) == 2
    assert counts(registry) == {"sent": 2.0, "suppressed": 1.0, "failed": 0.0, "retried": 0.0}
    assert flapping.read().outbox == []


def test_starttls_with_auth(smtp_factory: Callable[..., SmtpServer], tls_files: TlsFiles) -> None:
    auth = AuthLog(password="s3cret")
    server = smtp_factory(
        tls_context=tls_files.server_context(), require_starttls=True, authenticator=auth, auth_require_tls=True
    )
    cfg = settings(server.port, smtp_security="starttls", smtp_username="mlmon", smtp_password="s3cret")
    registry = CollectorRegistry()
    sender = EmailNotifier(cfg, registry, ssl_context=tls_files.client_context(), sleep=Sleeps())
    assert sender.send(_notice()) is True
    assert len(server.wait_for(1)) == 1 and auth.attempts == 1
    # without STARTTLS the server refuses the mail: a permanent 530, not retried
    plain_registry = CollectorRegistry()
    plain = EmailNotifier(settings(server.port), plain_registry, sleep=Sleeps())
    assert plain.send(_notice()) is False
    assert counts(plain_registry) == {"sent": 0.0, "suppressed": 0.0, "failed": 1.0, "retried": 0.0}
    assert counts(registry)["sent"] == 1.0


def test_implicit_tls_and_untrusted_certificate(smtp_factory: Callable[..., SmtpServer], tls_files: TlsFiles) -> None:
    server = smtp_factory(ssl_context=tls_files.server_context())
    registry = CollectorRegistry()
    cfg = settings(server.port, smtp_security="ssl")
    assert EmailNotifier(cfg, registry, ssl_context=tls_files.client_context()).send(_notice()) is True
    assert len(server.wait_for(1)) == 1
    # the system trust store does not know the self-signed certificate: permanent, no retry
    untrusted = CollectorRegistry()
    assert EmailNotifier(cfg, untrusted, sleep=Sleeps()).send(_notice()) is False
    assert counts(untrusted) == {"sent": 0.0, "suppressed": 0.0, "failed": 1.0, "retried": 0.0}
