"""The incident state of one model, as one JSON document in the inference store (``IncidentStateStore``).

    parts      the latest contribution of each service (statistics, drift), with the time it expires
    incident   the open incident: id, what it is now (kind, severity, the merged view), what the recipients
               were told, its email thread (Message-IDs delivered)
    outbox     emails due or waiting: at most one pending per incident (a newer state replaces the pending
               one), each with its Message-ID, References, attempts, next attempt and delivery lease
    digest     input shifts without a symptom, collected for the next digest email
    last_sent  when an email of each signature (open:warning, open:critical, resolved) last went out (cooldown)
    history    the last closed incidents

The policy (``mlmon.notify.policy``) changes it; the tracker (``mlmon.notify.tracker``) reads it, applies a
change and writes it back by compare-and-set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlmon.notify.findings import Contribution, Finding, Shift, severity_rank, utc_from_timestamp
from mlmon.notify.summary import Summary, summarize

STATE_VERSION = 2
Status = Literal["none", "open", "resolved"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Part(_Model):
    """One service's latest contribution."""

    service: str
    model_version: str
    window_start: float
    window_end: float
    at: float
    expires_at: float
    findings: list[dict[str, Any]] = Field(default_factory=list)
    shifts: list[dict[str, Any]] = Field(default_factory=list)
    importance_source: str = ""
    output_measured: bool = False
    prediction_ids: list[str] = Field(default_factory=list)
    links: dict[str, str] = Field(default_factory=dict)
    runbook: str = ""
    report_path: str | None = None

    @classmethod
    def of(cls, c: Contribution, ttl_s: float) -> Part:
        at = c.time.timestamp()
        return cls(
            service=c.service,
            model_version=c.model_version,
            window_start=c.window_start.timestamp(),
            window_end=c.window_end.timestamp(),
            at=at,
            expires_at=at + ttl_s,
            findings=[f.to_dict() for f in c.findings],
            shifts=[s.to_dict() for s in c.shifts],
            importance_source=c.importance_source,
            output_measured=c.output_measured,
            prediction_ids=list(c.prediction_ids),
            links=dict(c.links),
            runbook=c.runbook,
            report_path=c.report_path,
        )


class Told(_Model):
    """What the recipients know (or will know once the queued email is delivered) about an incident."""

    status: Status = "none"
    severity: str | None = None
    kind: str | None = None
    keys: list[str] = Field(default_factory=list)


class IncidentRecord(_Model):
    id: str
    opened_at: float
    updated_at: float
    severity: str | None = None
    kind: dict[str, Any] | None = None
    first_line: str = ""
    actionable: bool = False
    view: dict[str, Any] = Field(default_factory=dict)  # what both services see now
    open_view: dict[str, Any] = Field(default_factory=dict)  # the view when it was last actionable
    announced: Told = Field(default_factory=Told)  # delivered + queued
    keys_told: list[str] = Field(default_factory=list)  # every finding announced in this incident
    kinds_told: list[str] = Field(default_factory=list)
    thread: list[str] = Field(default_factory=list)  # Message-IDs delivered, oldest first
    seq: int = 0  # Message-IDs allocated


class OutboxEntry(_Model):
    id: str  # the Message-ID without angle brackets; a retry sends the same one
    kind: Literal["incident", "digest"] = "incident"
    incident_id: str | None = None
    seq: int = 0
    refs: list[str] = Field(default_factory=list)  # References: the thread before this message
    told: Told = Field(default_factory=Told)  # what the recipients knew before this message
    target: Told = Field(default_factory=Told)  # what they know after it
    snapshot: dict[str, Any] = Field(default_factory=dict)  # what to render (see Notice)
    created_at: float
    updated_at: float
    not_before: float
    held: bool = False  # waiting for the cooldown, never attempted
    attempts: int = 0
    last_error: str = ""
    lease_owner: str = ""
    lease_until: float = 0.0

    def leased(self, now: float) -> bool:
        return bool(self.lease_owner) and self.lease_until > now


class Digest(_Model):
    items: dict[str, dict[str, Any]] = Field(default_factory=dict)
    first_at: float | None = None
    last_sent: float | None = None
    seq: int = 0


class ModelState(_Model):
    version: int = STATE_VERSION
    model: str
    parts: dict[str, Part] = Field(default_factory=dict)
    incident: IncidentRecord | None = None
    outbox: list[OutboxEntry] = Field(default_factory=list)
    digest: Digest = Field(default_factory=Digest)
    last_sent: dict[str, float] = Field(default_factory=dict)
    history: list[dict[str, Any]] = Field(default_factory=list)

    @classmethod
    def load(cls, model: str, body: Mapping[str, Any] | None) -> ModelState:
        """The stored document, or a fresh state (none stored, or an older/unknown format)."""
        if not body or body.get("version") != STATE_VERSION:
            return cls(model=model)
        return cls.model_validate({**body, "model": model})

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class IncidentView:
    """An incident as both services currently see it: the union of their parts' findings."""

    model: str
    model_version: str
    window_start: float
    window_end: float
    findings: tuple[Finding, ...] = ()
    shifts: tuple[Shift, ...] = ()
    importance_source: str = ""
    output_measured: bool = False
    prediction_ids: tuple[str, ...] = ()
    links: Mapping[str, str] = field(default_factory=dict)
    runbook: str = ""
    report_path: str | None = None
    services: tuple[str, ...] = ()

    @classmethod
    def merge(cls, model: str, parts: Mapping[str, Part]) -> IncidentView:
        ordered = sorted(parts.values(), key=lambda p: (p.service != "stats", p.service))  # stats: serving version
        best: dict[str, Finding] = {}
        for part in ordered:
            for raw in part.findings:
                finding = Finding.from_dict(raw)
                kept = best.get(finding.key)
                rank = (severity_rank(finding.severity), finding.effect)
                if kept is None or rank > (severity_rank(kept.severity), kept.effect):
                    best[finding.key] = finding
        shifts = [Shift.from_dict(s) for p in ordered for s in p.shifts]
        with_findings = [p for p in ordered if p.findings] or ordered
        links: dict[str, str] = {}
        for part in ordered:
            links.update(part.links)
        return cls(
            model=model,
            model_version=ordered[0].model_version if ordered else "",
            window_start=min((p.window_start for p in with_findings), default=0.0),
            window_end=max((p.window_end for p in with_findings), default=0.0),
            findings=tuple(best.values()),
            shifts=tuple(shifts),
            importance_source=next((p.importance_source for p in ordered if p.importance_source), ""),
            output_measured=any(p.output_measured for p in ordered),
            prediction_ids=tuple(dict.fromkeys(pid for p in ordered for pid in p.prediction_ids))[:10],
            links=links,
            runbook=next((p.runbook for p in ordered if p.runbook), ""),
            report_path=next((p.report_path for p in reversed(ordered) if p.report_path), None),
            services=tuple(p.service for p in ordered if p.findings),
        )

    def summary(self, input_shifts_page: bool = False) -> Summary:
        return summarize(
            self.findings,
            self.shifts,
            importance_source=self.importance_source,
            output_measured=self.output_measured,
            input_shifts_page=input_shifts_page,
        )

    @property
    def start(self) -> datetime:
        return utc_from_timestamp(self.window_start)

    @property
    def end(self) -> datetime:
        return utc_from_timestamp(self.window_end)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "model_version": self.model_version,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "findings": [f.to_dict() for f in self.findings],
            "shifts": [s.to_dict() for s in self.shifts],
            "importance_source": self.importance_source,
            "output_measured": self.output_measured,
            "prediction_ids": list(self.prediction_ids),
            "links": dict(self.links),
            "runbook": self.runbook,
            "report_path": self.report_path,
            "services": list(self.services),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IncidentView:
        return cls(
            model=str(data.get("model", "")),
            model_version=str(data.get("model_version", "")),
            window_start=float(data.get("window_start") or 0.0),
            window_end=float(data.get("window_end") or 0.0),
            findings=tuple(Finding.from_dict(f) for f in data.get("findings", [])),
            shifts=tuple(Shift.from_dict(s) for s in data.get("shifts", [])),
            importance_source=str(data.get("importance_source", "")),
            output_measured=bool(data.get("output_measured", False)),
            prediction_ids=tuple(data.get("prediction_ids", [])),
            links=dict(data.get("links", {})),
            runbook=str(data.get("runbook", "")),
            report_path=data.get("report_path"),
            services=tuple(data.get("services", [])),
        )
