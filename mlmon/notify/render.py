"""Turn an incident update into an email: subject, plain-text and HTML parts, inline charts.

The message is built with ``email.message.EmailMessage`` and the ``SMTP`` policy (CRLF, RFC 2047 for
non-ASCII headers). Everything user-controlled that ends up in a header (model, feature and category names)
goes through :func:`clean_header` first, so a name cannot add headers. Bodies come from Jinja2 templates;
the HTML one is autoescaped.
"""

from __future__ import annotations

import email.policy
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from mlmon.notify.chart import bar_chart_png
from mlmon.notify.findings import DEFAULT_RUNBOOK, Finding, IncidentUpdate
from mlmon.notify.links import grafana_url, kibana_discover_url, report_link
from mlmon.settings import EmailSettings

MAX_SUBJECT = 160
MAX_FINDINGS = 8
MAX_CHARTS = 8
MAX_PREDICTION_IDS = 5
_SPACES = re.compile(r"\s+")
_ROLE_TEXT = {"output": "Output", "slo": "SLO", "quality": "Quality", "traffic": "Traffic", "input": "Input feature"}
_COLOURS = {"critical": "#c0392b", "warning": "#d68910", "resolved": "#1e8449"}


def clean_header(text: str, max_len: int | None = None) -> str:
    """Drop control characters (CR, LF, NUL, …, Unicode line/paragraph separators), squeeze spaces, cut."""
    kept = "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in str(text))
    kept = _SPACES.sub(" ", kept).strip()
    if max_len is not None and len(kept) > max_len:
        kept = kept[: max_len - 1].rstrip() + "…"
    return kept


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("mlmon.notify", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    images: tuple[tuple[str, bytes], ...]  # (Content-ID without brackets, PNG bytes)


def subject_for(update: IncidentUpdate) -> str:
    model = clean_header(update.model, 60)
    findings = update.incident.ordered_findings
    top = clean_header(findings[0].title) if findings else ""
    more = f" (+{len(findings) - 1} more)" if len(findings) > 1 else ""
    if update.kind == "resolved":
        text = f"[mlmon RESOLVED] {model}: incident resolved"
    elif update.kind == "findings_added":
        added = [f for f in findings if f.key in set(update.new_findings)]
        first = clean_header(added[0].title) if added else top
        extra = f" (+{len(added) - 1} more)" if len(added) > 1 else ""
        text = f"[mlmon {update.effective_severity.upper()}] {model} update: {first}{extra}"
    elif update.kind == "opened":
        text = f"[mlmon {update.effective_severity.upper()}] {model}: {top}{more}"
    else:
        direction = "escalated" if update.severity == "critical" else "de-escalated"
        text = f"[mlmon {update.effective_severity.upper()}] {model} {direction}: {top}{more}"
    return clean_header(text, MAX_SUBJECT)


def _headline(update: IncidentUpdate) -> str:
    model = update.model
    if update.kind == "resolved":
        return f"Resolved: {model} looks healthy again"
    if update.kind == "opened":
        return f"{update.effective_severity.capitalize()}: {model} changed in production"
    if update.kind == "findings_added":
        names = ", ".join(key.split(":", 1)[-1] for key in update.new_findings)
        return f"More changed for {model}: {names}"
    return f"Severity changed for {model}: {update.previous_severity} to {update.severity}"


def _bins_text(labels: tuple[str, ...]) -> str:
    if len(labels) <= 12:
        return ", ".join(labels)
    return f"{len(labels)} bins, {labels[0]} … {labels[-1]}"


def _finding_context(finding: Finding, cid: str | None) -> dict[str, Any]:
    return {
        "title": clean_header(finding.title),
        "role": finding.role,
        "role_text": _ROLE_TEXT[finding.role],
        "name": clean_header(finding.name),
        "severity": finding.severity,
        "colour": _COLOURS[finding.severity],
        "before": finding.before_text,
        "after": finding.after_text,
        "detail": finding.detail,
        "cid": cid,
        "bins": _bins_text(finding.chart.labels) if finding.chart else "",
    }


def links_for(update: IncidentUpdate, settings: EmailSettings) -> list[dict[str, str]]:
    inc = update.incident
    links = [
        {
            "label": "Kibana: logged requests of the window",
            "url": kibana_discover_url(settings.kibana_url, inc.model, inc.window_start, inc.window_end),
        },
        {
            "label": "Grafana: model overview",
            "url": grafana_url(settings.grafana_url, inc.model, inc.window_start, inc.window_end),
        },
    ]
    report = report_link(inc.report_url, inc.report_path, settings.report_base_url)
    if report:
        links.append({"label": "Full report", "url": report})
    # Jobs may pass the same Kibana/Grafana/report links themselves: list each URL once.
    seen = {link["url"] for link in links}
    for label, url in inc.links.items():
        if url not in seen:
            links.append({"label": label, "url": url})
            seen.add(url)
    return links


def _when(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def render(update: IncidentUpdate, settings: EmailSettings, env: Environment | None = None) -> Rendered:
    env = env or _environment()
    inc = update.incident
    ordered = inc.ordered_findings
    shown = ordered[:MAX_FINDINGS]
    images: list[tuple[str, bytes]] = []
    findings = []
    for finding in shown:
        cid = None
        if finding.chart is not None and len(images) < MAX_CHARTS:
            cid = make_msgid(idstring=f"chart{len(images) + 1}", domain="mlmon")[1:-1]
            images.append((cid, bar_chart_png(finding.chart.baseline, finding.chart.current)))
        findings.append(_finding_context(finding, cid))
    subject = subject_for(update)
    severity_text = "resolved" if update.kind == "resolved" else update.effective_severity
    context = {
        "subject": subject,
        "headline": _headline(update),
        "kind": update.kind,
        "model": inc.model,
        "model_version": inc.model_version,
        "severity_text": severity_text,
        "colour": _COLOURS["resolved" if update.kind == "resolved" else update.effective_severity],
        "window_start": _when(inc.window_start),
        "window_end": _when(inc.window_end),
        "incident_id": update.incident_id,
        "opened_at": _when(update.opened_at),
        "findings": findings,
        "more": len(ordered) - len(shown),
        "resolved_titles": [clean_header(t) for t in update.resolved_titles],
        "prediction_ids": list(inc.prediction_ids[:MAX_PREDICTION_IDS]),
        "links": links_for(update, settings),
        "runbook": inc.runbook.strip() or DEFAULT_RUNBOOK,
        "job": inc.job,
    }
    text = env.get_template("email.txt.j2").render(context)
    html = env.get_template("email.html.j2").render(context)
    return Rendered(subject=subject, text=text, html=html, images=tuple(images))


def recipients_for(update: IncidentUpdate, settings: EmailSettings) -> list[str]:
    """Everyone on ``alert_email_to``; critical incidents (and their resolve) also ``alert_email_to_critical``."""
    recipients = list(settings.alert_email_to)
    if update.effective_severity == "critical":
        recipients += [r for r in settings.alert_email_to_critical if r not in recipients]
    return [clean_header(r) for r in recipients]


def build_message(
    update: IncidentUpdate,
    settings: EmailSettings,
    recipients: list[str],
    now: datetime,
    rendered: Rendered | None = None,
) -> EmailMessage:
    rendered = rendered or render(update, settings)
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["Subject"] = rendered.subject
    msg["From"] = clean_header(settings.alert_email_from)
    msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(now.astimezone(UTC))
    sender_domain = settings.alert_email_from.rpartition("@")[2] or "mlmon"
    msg["Message-ID"] = f"<{update.message_key}@{clean_header(sender_domain)}>"
    msg["X-Mlmon-Model"] = clean_header(update.model, 200)
    msg["X-Mlmon-Incident"] = clean_header(update.incident_id, 100)
    msg["X-Mlmon-Severity"] = "resolved" if update.kind == "resolved" else update.effective_severity
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    html_part = msg.get_payload()[1]  # type: ignore[index]
    assert isinstance(html_part, EmailMessage)  # add_alternative() made it one
    for index, (cid, png) in enumerate(rendered.images, start=1):
        html_part.add_related(
            png, maintype="image", subtype="png", cid=f"<{cid}>", disposition="inline", filename=f"chart-{index}.png"
        )
    return msg
