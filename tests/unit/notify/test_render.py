from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from mlmon.notify.findings import Finding, IncidentUpdate
from mlmon.notify.links import kibana_discover_url, rison_string
from mlmon.notify.render import MAX_SUBJECT, build_message, clean_header, recipients_for, render
from mlmon.settings import EmailSettings
from tests.unit.notify.helpers import END, START, finding, incident
from tests.unit.notify.pngcheck import read_png

NOW = datetime(2026, 11, 22, 10, 5, tzinfo=UTC)


def settings(**kw: object) -> EmailSettings:
    base: dict[str, object] = {
        "smtp_host": "127.0.0.1",
        "alert_email_to": ["team@example.org"],
        "alert_email_to_critical": ["oncall@example.org"],
        "kibana_url": "https://kibana.example.org/",
        "grafana_url": "https://grafana.example.org",
        "report_base_url": "https://reports.example.org/drift",
    }
    base.update(kw)
    return EmailSettings(**base)  # type: ignore[arg-type]


def update(
    *findings: Finding, kind: str = "opened", model: str = "loan_default", severity: str | None = None
) -> IncidentUpdate:
    inc = incident(*findings, model=model)
    return IncidentUpdate(
        kind=kind,
        incident=inc,
        incident_id="abc123",
        opened_at=START,  # type: ignore[arg-type]
        severity=severity or inc.severity,
    )  # type: ignore[arg-type]


def roundtrip(msg: EmailMessage) -> EmailMessage:
    """Serialise exactly as smtplib would, and parse back like a mail client."""
    wire = msg.as_bytes(policy=email.policy.SMTP)
    assert all(len(line) <= 998 for line in wire.split(b"\r\n"))
    return email.message_from_bytes(wire, policy=email.policy.default)


def test_message_structure_links_and_chart() -> None:
    up = update(finding("input", "income", effect=0.9), finding("output", "prediction", severity="critical"))
    cfg = settings()
    msg = roundtrip(build_message(up, cfg, recipients_for(up, cfg), NOW))
    assert msg["Subject"] == "[mlmon CRITICAL] loan_default: prediction changed (+1 more)"
    assert msg["To"] == "team@example.org, oncall@example.org"
    assert msg.get_content_type() == "multipart/alternative"
    plain = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html_part = msg.get_body(("html",))
    assert html_part is not None
    html = html_part.get_content()
    # symptom first: the output finding comes before the input one in both parts
    for body in (plain, html):
        assert body.index("prediction changed") < body.index("income changed")
        assert "0.12" in body and "0.31" in body
        assert "p-1" in body and "p-5" in body and "p-6" not in body  # a few example ids only
        assert "https://reports.example.org/drift/r1.html" in body
    related = [p for p in msg.walk() if p.get_content_type() == "multipart/related"]
    assert len(related) == 1
    images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 2
    for image in images:
        cid = image["Content-ID"].strip("<>")
        assert f'src="cid:{cid}"' in html
        read_png(image.get_content())


def test_kibana_and_grafana_links_are_prefiltered() -> None:
    up = update(finding())
    html = render(up, settings()).html
    text = render(up, settings()).text
    kibana = next(line.rsplit(": ", 1)[1] for line in text.splitlines() if "Kibana" in line)
    assert kibana.startswith("https://kibana.example.org/app/discover#/?_g=")
    fragment = unquote(kibana.split("#/?", 1)[1])
    assert "_g=(time:(from:'2026-11-22T09:00:00.000Z',to:'2026-11-22T10:00:00.000Z'))" in fragment
    assert "index:'mlmon-inference'" in fragment
    assert "query:(language:kuery,query:'model.name:\"loan_default\"')" in fragment
    grafana = next(line.rsplit(": ", 1)[1] for line in text.splitlines() if "Grafana" in line)
    parts = urlsplit(grafana)
    assert parts.path == "/d/mlmon-overview/mlmon-overview"
    query = parse_qs(parts.query)
    assert query["from"] == [str(int(START.timestamp() * 1000))]
    assert query["to"] == [str(int(END.timestamp() * 1000))]
    assert query["var-model"] == ["loan_default"]
    assert grafana.replace("&", "&amp;") in html  # hrefs are escaped in HTML


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
    up = update(finding("output", evil, title=f"{evil} shifted"), model=f"loan{evil}")
    cfg = settings()
    msg = roundtrip(build_message(up, cfg, recipients_for(up, cfg), NOW))
    assert msg["Bcc"] is None and msg["X-Injected"] is None
    assert len(msg.get_all("Subject") or []) == 1
    for name in ("Subject", "X-Mlmon-Model"):
        value = str(msg[name])
        assert "\r" not in value and "\n" not in value
    assert "attacker@evil.test" not in str(msg["To"])
    assert "Bcc: attacker" in msg["Subject"] or "Subject: spoof" in msg["Subject"] or "X-Injected" in msg["Subject"]


def test_html_is_escaped() -> None:
    up = update(finding("input", "<script>alert(1)</script>", title="<b>x</b> & co"))
    html = render(up, settings()).html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;x&lt;/b&gt; &amp; co" in html


def test_non_ascii_and_very_long_names() -> None:
    long_name = "fé" * 150  # 300 characters
    up = update(finding("output", long_name, title=f"Größe {long_name} — 変化"), model="modèle_ü")
    cfg = settings()
    raw = build_message(up, cfg, recipients_for(up, cfg), NOW).as_bytes(policy=email.policy.SMTP)
    head = raw.split(b"\r\n\r\n", 1)[0]
    head.decode("ascii")  # headers are pure ASCII on the wire (RFC 2047 encoded words)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    subject = str(msg["Subject"])
    assert len(subject) <= MAX_SUBJECT and subject.endswith("…")
    assert subject.startswith("[mlmon WARNING] modèle_ü: Größe fé")
    assert str(msg["X-Mlmon-Model"]) == "modèle_ü"
    assert long_name in msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "変化" in msg.get_body(("html",)).get_content()  # type: ignore[union-attr]


def test_recipients_per_severity_and_resolve() -> None:
    cfg = settings()
    assert recipients_for(update(finding(severity="warning")), cfg) == ["team@example.org"]
    assert recipients_for(update(finding(severity="critical")), cfg) == ["team@example.org", "oncall@example.org"]
    resolved = IncidentUpdate(
        kind="resolved",
        incident=incident(),
        incident_id="abc",
        opened_at=START,
        severity=None,
        previous_severity="critical",
        resolved_titles=("a", "b"),
    )
    assert recipients_for(resolved, cfg) == ["team@example.org", "oncall@example.org"]
    rendered = render(resolved, cfg)
    assert rendered.subject == "[mlmon RESOLVED] loan_default: incident resolved"
    assert "  - a" in rendered.text and rendered.images == ()


def test_severity_change_subject_and_many_findings_are_capped() -> None:
    items = [finding("input", f"f{i}", effect=i / 100) for i in range(20)]
    up = IncidentUpdate(
        kind="severity_changed",
        incident=incident(finding(severity="critical"), *items),
        incident_id="abc",
        opened_at=START,
        severity="critical",
        previous_severity="warning",
    )
    rendered = render(up, settings())
    assert rendered.subject.startswith("[mlmon CRITICAL] loan_default escalated: prediction changed (+20 more)")
    assert len(rendered.images) == 8
    assert "13 more finding(s)" in rendered.text
    assert "f19 changed" in rendered.text and "f0 changed" not in rendered.text  # largest effects shown


def test_clean_header() -> None:
    assert clean_header("a\r\n b\tc\x00d") == "a b c d"
    assert clean_header("x" * 50, 10) == "x" * 9 + "…"


def test_links_given_by_the_job_are_not_repeated_and_empty_runbook_falls_back() -> None:
    from dataclasses import replace

    from mlmon.notify.findings import DEFAULT_RUNBOOK
    from mlmon.notify.links import grafana_url

    cfg = settings()
    up = update(finding())
    same = grafana_url(cfg.grafana_url, "loan_default", START, END)
    inc = replace(up.incident, links={"Grafana": same, "Runbook wiki": "https://wiki.example.org/m"}, runbook=" ")
    text = render(replace(up, incident=inc), cfg).text
    assert text.count(same) == 1
    assert "Runbook wiki: https://wiki.example.org/m" in text
    assert f"Runbook: {DEFAULT_RUNBOOK}" in text


def test_findings_added_update_names_what_joined() -> None:
    symptom = finding("output", "prediction", title="prediction: distribution changed")
    cause = finding("quality", "bureau_score", title="bureau_score: fill rate changed")
    base = update(symptom, cause)
    added = IncidentUpdate(
        kind="findings_added",
        incident=base.incident,
        incident_id="abc123",
        opened_at=START,
        severity="warning",
        previous_severity="warning",
        new_findings=("quality:bureau_score",),
    )
    msg = roundtrip(build_message(added, settings(), ["team@example.org"], NOW))
    assert msg["Subject"] == "[mlmon WARNING] loan_default update: bureau_score: fill rate changed"
    text = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "More changed for loan_default: bureau_score" in text
    assert added.message_key != base.message_key  # a distinct Message-ID per announced finding set
