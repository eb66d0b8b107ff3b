from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from mlmon.notify import policy
from mlmon.notify.links import kibana_discover_url, rison_string
from mlmon.notify.notice import Notice
from mlmon.notify.policy import Rules
from mlmon.notify.render import MAX_SUBJECT, build_message, clean_header, recipients_for, render
from mlmon.notify.state import ModelState
from mlmon.settings import EmailSettings
from tests.unit.notify.helpers import END, MODEL, START, T0, contribution, finding, notice, notices_of, shift
from tests.unit.notify.pngcheck import read_png

NOW = datetime(2026, 11, 22, 10, 5, tzinfo=UTC)
MAE = finding("evaluation", "mae", severity="critical", title="mae 27.37, SLO ≤ 20", chart=False)
UNIT = finding("integrity", "duration_s", effect=40.0, importance=0.4, title="duration_s: values ≈1000×")


def settings(**kw: object) -> EmailSettings:
    base: dict[str, object] = {
        "smtp_host": "127.0.0.1",
        "alert_email_from": "mlmon@monitor.example.org",
        "alert_email_to": ["team@example.org"],
        "alert_email_to_critical": ["oncall@example.org"],
        "kibana_url": "https://kibana.example.org/",
        "grafana_url": "https://grafana.example.org",
        "report_base_url": "https://reports.example.org/drift",
    }
    base.update(kw)
    return EmailSettings(**base)  # type: ignore[arg-type]


def roundtrip(msg: EmailMessage) -> EmailMessage:
    """Serialise exactly as smtplib would, and parse back like a mail client."""
    wire = msg.as_bytes(policy=email.policy.SMTP)
    assert all(len(line) <= 998 for line in wire.split(b"\r\n"))
    return email.message_from_bytes(wire, policy=email.policy.default)


def message(n: Notice, cfg: EmailSettings | None = None) -> EmailMessage:
    cfg = cfg or settings()
    return roundtrip(build_message(n, cfg, recipients_for(n, cfg), NOW))


def subject(msg: EmailMessage) -> str:
    """The subject as a mail client shows it (unfolded: a long header may start on its own line)."""
    return " ".join(str(msg["Subject"]).split())


def plain(msg: EmailMessage) -> str:
    return str(msg.get_body(("plain",)).get_content())


def test_kind_first_symptom_headline_causes_charts_and_links() -> None:
    out = finding("output", "prediction", severity="critical", title="prediction distribution moved")
    rules = Rules(cooldown_s=0, domain="monitor.example.org")
    msg = message(
        notice(finding("input", "income", effect=0.9), out, UNIT, shifts=(shift("income", 1.5),), rules=rules)
    )
    assert subject(msg) == "[mlmon CRITICAL] loan_default: data-integrity break: duration_s values ≈1000× the " + (
        "training values — a unit change?"
    )
    assert msg["To"] == "team@example.org, oncall@example.org"
    assert msg["Message-ID"].startswith(f"<mlmon.{MODEL}.") and msg["Message-ID"].endswith("@monitor.example.org>")
    assert msg["In-Reply-To"] is None and msg["References"] is None  # the first email of the thread
    assert (msg["X-Mlmon-Event"], msg["X-Mlmon-Kind"], msg["X-Mlmon-Job"]) == ("opened", "data_integrity", "drift")
    text = plain(msg)
    html = msg.get_body(("html",)).get_content()
    assert text.startswith("Data-integrity break: duration_s values ≈1000×")
    causes = text.index("Likely causes")
    assert text.index("Symptoms") < text.index("prediction distribution moved") < causes
    assert text.index("1. duration_s", causes) < text.index("2. income", causes)  # effect × importance
    for body in (text, html):
        assert "p-1" in body and "p-5" in body and "p-6" not in body  # a few example ids only
        assert "https://reports.example.org/drift/r1.html" in body
    assert "Likely causes (ranked by effect × importance)" in text and "importance 0.40" in text
    images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 3
    for image in images:
        assert f'src="cid:{image["Content-ID"].strip("<>")}"' in html
        read_png(image.get_content())


def test_mae_breach_reads_unambiguously_and_lists_the_top_input_shifts() -> None:
    shifts = (shift("temperature", 3.0, 0.5, decided=True), shift("humidity", 0.4, 0.2))
    text = plain(message(notice(MAE, finding("input", "temperature", effect=3.0, importance=0.5), shifts=shifts)))
    assert "mae 27.37, SLO ≤ 20" in text and "20 -> 27.37" not in text and "SLO mae" not in text
    assert "Top input shifts (before → after):" in text
    assert "temperature: mean 10 → 12 (wasserstein 0.3, passed its threshold 0.1)" in text
    assert "humidity: mean 10 → 12 (wasserstein 0.04, below its threshold 0.1)" in text
    assert text.startswith("Covariate shift: temperature moved; mae 27.37, SLO ≤ 20")


def test_equal_weights_are_said_in_the_email() -> None:
    text = plain(message(notice(MAE, shifts=(shift("a", 1.0), shift("b", 2.0)))))
    assert "every input weighs the same" in text
    assert text.index("  - b:") < text.index("  - a:")


def _thread() -> list[EmailMessage]:
    rules = Rules(cooldown_s=0, domain="monitor.example.org")
    state = ModelState(model=MODEL)
    messages = []
    for i, findings in enumerate([(MAE,), (MAE, UNIT), ()]):
        at = datetime.fromtimestamp(T0 + 60 * i, UTC)
        policy.apply(state, contribution(*findings, service="stats", at=at), at.timestamp(), rules)
        for entry, n in notices_of(state, at.timestamp(), rules):
            policy.complete(state, entry.id, "test", True, at.timestamp(), rules)
            messages.append(message(n))
    return messages


def test_updates_and_the_resolve_reply_to_the_thread() -> None:
    opened, updated, resolved = _thread()
    root = opened["Message-ID"]
    assert updated["In-Reply-To"] == root and updated["References"] == root
    assert resolved["In-Reply-To"] == updated["Message-ID"]
    assert resolved["References"].split() == [root, updated["Message-ID"]]
    assert subject(updated).endswith("(update)") and "data-integrity break" in subject(updated)
    assert "Update: now named data-integrity break; new: duration_s: values ≈1000×" in plain(updated)
    assert subject(resolved).startswith("[mlmon RESOLVED] loan_default: data-integrity break")
    assert resolved["X-Mlmon-Severity"] == "resolved" and resolved["To"] == "team@example.org, oncall@example.org"
    assert "mae 27.37, SLO ≤ 20" in plain(resolved)  # what was open


def test_kibana_and_grafana_links_are_prefiltered() -> None:
    n = notice(finding())
    rendered = render(n, settings())
    kibana = next(line.rsplit(": ", 1)[1] for line in rendered.text.splitlines() if "Kibana:" in line)
    assert kibana.startswith("https://kibana.example.org/app/discover#/?_g=")
    fragment = unquote(kibana.split("#/?", 1)[1])
    assert "_g=(time:(from:'2026-11-22T09:00:00.000Z',to:'2026-11-22T10:00:00.000Z'))" in fragment
    assert "query:(language:kuery,query:'model.name:\"loan_default\"')" in fragment
    grafana = next(line.rsplit(": ", 1)[1] for line in rendered.text.splitlines() if "Grafana:" in line)
    query = parse_qs(urlsplit(grafana).query)
    assert query["from"] == [str(int(START.timestamp() * 1000))] and query["to"] == [str(int(END.timestamp() * 1000))]
    assert grafana.replace("&", "&amp;") in rendered.html  # hrefs are escaped in HTML


def test_quotes_in_model_names_stay_inside_the_kibana_query() -> None:
    url = kibana_discover_url("http://k", 'it\'s "odd"!', START, END)
    fragment = unquote(url.split("#/?", 1)[1])
    assert rison_string('model.name:"it\'s \\"odd\\"!"') in fragment
    assert " " not in url and '"' not in url


@pytest.mark.parametrize(
    "evil",
    [
        "income\r\nBcc: attacker@evil.test",
        "income\nX-Injected: yes",
        "income\rSubject: spoof",
        "income\x00\x0b\x0c\u2028\u2029\x85Bcc: attacker@evil.test",
    ],
)
def test_header_injection_through_names_is_impossible(evil: str) -> None:
    msg = message(notice(finding("latency", evil, title=f"{evil} slow"), model=f"m{evil}"))
    assert msg["Bcc"] is None and msg["X-Injected"] is None
    assert len(msg.get_all("Subject") or []) == 1
    for name in ("Subject", "X-Mlmon-Model", "Message-ID"):
        value = str(msg[name])
        assert "\r" not in value and "\n" not in value
    assert "attacker@evil.test" not in str(msg["To"])


def test_html_is_escaped() -> None:
    html = render(notice(finding("latency", "<script>alert(1)</script>", title="<b>x</b> & co")), settings()).html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;x&lt;/b&gt; &amp; co" in html


def test_non_ascii_and_very_long_names() -> None:
    long_name = "fé" * 150
    n = notice(finding("latency", long_name, title=f"Größe {long_name} — 変化"), model="modèle_ü")
    cfg = settings()
    raw = build_message(n, cfg, recipients_for(n, cfg), NOW).as_bytes(policy=email.policy.SMTP)
    raw.split(b"\r\n\r\n", 1)[0].decode("ascii")  # headers are pure ASCII on the wire (RFC 2047 encoded words)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    shown = subject(msg)
    assert len(shown) <= MAX_SUBJECT and shown.endswith("…")
    assert shown.startswith("[mlmon WARNING] modèle_ü: latency: Größe fé")
    assert str(msg["X-Mlmon-Model"]) == "modèle_ü"
    assert "変化" in msg.get_body(("html",)).get_content()


def test_recipients_per_severity() -> None:
    cfg = settings()
    assert recipients_for(notice(finding("latency", "p95", severity="warning")), cfg) == ["team@example.org"]
    assert recipients_for(notice(MAE), cfg) == ["team@example.org", "oncall@example.org"]


def test_opened_and_resolved_during_an_outage_is_said_in_one_email() -> None:
    rules = Rules(cooldown_s=0)
    state = ModelState(model=MODEL)
    policy.apply(state, contribution(MAE, service="stats"), T0, rules)
    [entry] = policy.claim(state, "x", T0, rules)
    policy.complete(state, entry.id, "x", False, T0, rules, "refused")
    later = datetime.fromtimestamp(T0 + 60, UTC)
    policy.apply(state, contribution(service="stats", at=later), T0 + 60, rules)
    [(_, n)] = notices_of(state, T0 + 1000, rules)
    msg = message(n)
    assert n.event == "opened_resolved" and msg["Message-ID"] == f"<{entry.id}>"
    assert subject(msg).startswith("[mlmon RESOLVED] loan_default: concept drift")
    assert subject(msg).endswith("(opened and resolved while email was down)")
    assert "mae 27.37, SLO ≤ 20" in plain(msg)


def test_digest_names_the_kind_and_the_inputs() -> None:
    rules = Rules(cooldown_s=0, digest_interval_s=60)
    state = ModelState(model=MODEL)
    shifted = finding("input", "channel", title="channel: share of 'partner' 10% → 40%")
    for i in range(3):
        at = datetime.fromtimestamp(T0 + 40 * i, UTC)
        policy.apply(state, contribution(shifted, at=at), at.timestamp(), rules)
    [(_, n)] = notices_of(state, T0 + 80, rules)
    msg = message(n)
    assert subject(msg) == "[mlmon DIGEST] loan_default: covariate shift: channel moved without a symptom"
    assert msg["X-Mlmon-Severity"] == "digest" and msg["To"] == "team@example.org"
    text = plain(msg)
    assert text.startswith("Covariate shift: channel moved; evaluation stable or unknown (no symptom)")
    assert "channel: mean 0.12 → 0.31" in text


def test_clean_header() -> None:
    assert clean_header("a\r\n b\tc\x00d") == "a b c d"
    assert clean_header("x" * 50, 10) == "x" * 9 + "…"


def test_links_given_by_the_job_are_not_repeated_and_empty_runbook_falls_back() -> None:
    from mlmon.notify.findings import DEFAULT_RUNBOOK
    from mlmon.notify.links import grafana_url

    cfg = settings()
    same = grafana_url(cfg.grafana_url, MODEL, START, END)
    n = notice(finding(), links={"Grafana": same, "Runbook wiki": "https://wiki.example.org/m"}, runbook=" ")
    text = render(n, cfg).text
    assert text.count(same) == 1
    assert "Runbook wiki: https://wiki.example.org/m" in text
    assert f"Runbook: {DEFAULT_RUNBOOK}" in text
