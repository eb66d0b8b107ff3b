"""Turn a notice into an email: subject, plain-text and HTML parts, inline charts, thread headers.

Subject and first line name the kind of change (``mlmon.notify.kinds``); the body follows the structure of
``mlmon.notify.summary`` (symptoms, likely causes, top input shifts, context). Thread headers: every email of an
incident has its own ``Message-ID`` (``<mlmon.<model>.<incident>.<n>@<sender domain>>``), and every email after
the first carries ``In-Reply-To`` (the previous one) and ``References`` (the thread so far), so mail clients
show opened → updates → resolved as one conversation.

The message is built with ``email.message.EmailMessage`` and the ``SMTP`` policy (CRLF, RFC 2047 for non-ASCII
headers). Everything user-controlled that ends up in a header (model, feature and category names) goes through
:func:`clean_header` first, so a name cannot add headers. Bodies come from Jinja2 templates; the HTML one is
autoescaped.
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
from mlmon.notify.findings import DEFAULT_RUNBOOK, Finding
from mlmon.notify.links import grafana_url, kibana_discover_url, report_link
from mlmon.notify.notice import Notice
from mlmon.settings import EmailSettings

MAX_SUBJECT = 180
MAX_CHARTS = 8
MAX_PREDICTION_IDS = 5
_SPACES = re.compile(r"\s+")
_COLOURS = {"critical": "#c0392b", "warning": "#d68910", "resolved": "#1e8449", "digest": "#2c6fad"}
_SERVICES = {"stats": "statistics service", "drift": "drift detector"}


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


def _tag(notice: Notice) -> str:
    if notice.event == "digest":
        return "DIGEST"
    return "RESOLVED" if notice.resolved else notice.severity.upper()


def subject_for(notice: Notice) -> str:
    model = clean_header(notice.model, 60)
    if notice.event == "digest":
        names = list(dict.fromkeys(str(i.get("name", "")) for i in notice.items))
        label = next((str(i["kind"]).split(":")[0] for i in notice.items if i.get("kind")), "input shift")
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        text = f"[mlmon DIGEST] {model}: {label}: {shown} moved without a symptom"
        return clean_header(text, MAX_SUBJECT)
    kind = notice.summary.kind
    what = clean_header(kind.text) if kind else "incident"
    suffix = {
        "updated": " (update)",
        "reopened": " (re-opened)",
        "resolved": " (resolved)",
        "opened_resolved": " (opened and resolved while email was down)",
    }.get(notice.event, "")
    return clean_header(f"[mlmon {_tag(notice)}] {model}: {what}{suffix}", MAX_SUBJECT)


def _when(ts: datetime, seconds: bool = False) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def _window(start: datetime, end: datetime) -> str:
    short = (end - start).total_seconds() < 3600  # a short window needs its seconds to be told apart
    return f"{_when(start, short)} to {_when(end, short)}"


def _event_line(notice: Notice) -> str:
    opened = _when(notice.opened_at)
    return {
        "opened": f"Opened {opened}.",
        "reopened": f"Open again since {_when(notice.at)} (first opened {opened}).",
        "updated": "Update: " + ("; ".join(notice.changes) or "details changed") + ".",
        "resolved": f"Resolved {_when(notice.at)} (open since {opened}): nothing actionable is left.",
        "opened_resolved": (
            f"Opened {opened} and resolved {_when(notice.at)} while email could not be delivered; "
            "this is what was found."
        ),
        "digest": (
            f"Input shifts without a symptom since {_when(notice.since or notice.at)}: context, not a page. "
            "An email follows at once if a symptom appears."
        ),
    }[notice.event]


def _finding(finding: Finding, cid: str | None) -> dict[str, Any]:
    return {
        "title": clean_header(finding.title),
        "name": clean_header(finding.name),
        "severity": finding.severity,
        "colour": _COLOURS[finding.severity],
        "change": finding.change_text,
        "detail": finding.detail,
        "cid": cid,
        "bins": _bins_text(finding.chart.labels) if finding.chart else "",
    }


def _bins_text(labels: tuple[str, ...]) -> str:
    if len(labels) <= 12:
        return ", ".join(labels)
    return f"{len(labels)} bins, {labels[0]} … {labels[-1]}"


def links_for(notice: Notice, settings: EmailSettings) -> list[dict[str, str]]:
    view = notice.view
    if not view.window_end:
        return []
    links = [
        {
            "label": "Kibana: logged requests of the window",
            "url": kibana_discover_url(settings.kibana_url, notice.model, view.start, view.end),
        },
        {
            "label": "Grafana: model overview",
            "url": grafana_url(settings.grafana_url, notice.model, view.start, view.end),
        },
    ]
    report = report_link(None, view.report_path, settings.report_base_url)
    if report:
        links.append({"label": "Drift report (HTML)", "url": report})
    seen = {link["url"] for link in links}
    for label, url in view.links.items():  # the jobs' own links, each URL once
        if url not in seen:
            links.append({"label": label, "url": url})
            seen.add(url)
    return links


def render(notice: Notice, settings: EmailSettings, env: Environment | None = None) -> Rendered:
    env = env or _environment()
    summary, view = notice.summary, notice.view
    images: list[tuple[str, bytes]] = []

    def with_chart(finding: Finding) -> dict[str, Any]:
        cid = None
        if finding.chart is not None and len(images) < MAX_CHARTS:
            cid = make_msgid(idstring=f"chart{len(images) + 1}", domain="mlmon")[1:-1]
            images.append((cid, bar_chart_png(finding.chart.baseline, finding.chart.current)))
        return _finding(finding, cid)

    symptoms = [with_chart(f) for f in summary.symptoms]
    causes = [
        {
            "name": clean_header(c.name),
            "text": c.text,
            "ranking": c.ranking_text,
            "chart": with_chart(c.finding) if c.finding else None,
        }
        for c in summary.causes
    ]
    shifts = [{"name": clean_header(c.name), "text": c.text, "ranking": c.ranking_text} for c in summary.top_shifts]
    subject = subject_for(notice)
    tag = _tag(notice)
    context = {
        "subject": subject,
        "first_line": _first_line(notice),
        "event": notice.event,
        "event_line": _event_line(notice),
        "model": notice.model,
        "model_version": view.model_version or "n/a",
        "severity_text": tag.lower() if tag in ("RESOLVED", "DIGEST") else notice.severity,
        "colour": _COLOURS[
            "resolved" if notice.resolved else "digest" if notice.event == "digest" else notice.severity
        ],
        "window": _window(view.start, view.end) if view.window_end else "n/a",
        "incident_id": notice.incident_id,
        "symptoms": symptoms,
        "causes": causes,
        "shifts": shifts,
        "context": [_finding(f, None) for f in summary.context],
        "importance_note": summary.importance_note,
        "remaining": notice.remaining.lines()[1:] if notice.remaining else [],
        "items": list(notice.items),
        "prediction_ids": list(view.prediction_ids[:MAX_PREDICTION_IDS]),
        "links": links_for(notice, settings),
        "runbook": view.runbook.strip() or DEFAULT_RUNBOOK,
        "services": " + ".join(_SERVICES.get(s, s) for s in view.services) or "mlmon",
    }
    text = env.get_template("email.txt.j2").render(context)
    html = env.get_template("email.html.j2").render(context)
    return Rendered(subject=subject, text=text, html=html, images=tuple(images))


def _first_line(notice: Notice) -> str:
    if notice.event == "digest":
        kinds = list(dict.fromkeys(str(i.get("kind", "")) for i in notice.items if i.get("kind")))
        text = "; ".join(kinds) or "input shifts"
        return text[0].upper() + text[1:] + " (no symptom)"
    return notice.summary.first_line


def recipients_for(notice: Notice, settings: EmailSettings) -> list[str]:
    """Everyone on ``alert_email_to``; critical incidents (and their resolve) also ``alert_email_to_critical``."""
    recipients = list(settings.alert_email_to)
    if notice.event != "digest" and notice.severity == "critical":
        recipients += [r for r in settings.alert_email_to_critical if r not in recipients]
    return [clean_header(r) for r in recipients]


def _angle(message_id: str) -> str:
    return f"<{clean_header(message_id, 400)}>"


def build_message(
    notice: Notice,
    settings: EmailSettings,
    recipients: list[str],
    now: datetime,
    rendered: Rendered | None = None,
) -> EmailMessage:
    rendered = rendered or render(notice, settings)
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["Subject"] = rendered.subject
    msg["From"] = clean_header(settings.alert_email_from)
    msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(now.astimezone(UTC))
    msg["Message-ID"] = _angle(notice.message_id)
    if notice.refs:
        msg["In-Reply-To"] = _angle(notice.refs[-1])
        msg["References"] = " ".join(_angle(r) for r in notice.refs[-20:])
    msg["X-Mlmon-Model"] = clean_header(notice.model, 200)
    digest_of = ",".join(dict.fromkeys(str(i.get("incident_id", "")) for i in notice.items))
    msg["X-Mlmon-Incident"] = clean_header(notice.incident_id or digest_of or "digest", 100)
    msg["X-Mlmon-Event"] = notice.event
    msg["X-Mlmon-Severity"] = _tag(notice).lower() if _tag(notice) in ("RESOLVED", "DIGEST") else notice.severity
    if notice.summary.kind is not None:  # a digest: the kind of the incident its shifts belong to
        msg["X-Mlmon-Kind"] = notice.summary.kind.code
    if notice.view.services:
        msg["X-Mlmon-Job"] = ",".join(notice.view.services)
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    html_part = msg.get_payload()[1]  # type: ignore[index]
    assert isinstance(html_part, EmailMessage)  # add_alternative() made it one
    for index, (cid, png) in enumerate(rendered.images, start=1):
        html_part.add_related(
            png, maintype="image", subtype="png", cid=f"<{cid}>", disposition="inline", filename=f"chart-{index}.png"
        )
    return msg
