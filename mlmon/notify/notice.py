"""One email to send, as the renderer sees it: an outbox entry turned back into typed objects.

The *event* follows from what the recipients were told before (``told``) and what they know after (``target``):

    opened            nothing told → open
    reopened          told resolved → open again (same incident, same thread)
    updated           told open → open (severity, kind or findings changed)
    resolved          told open → resolved
    opened_resolved   nothing told → resolved: it opened and resolved while email could not be delivered
    digest            input shifts without a symptom, collected since the last digest
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from mlmon.notify.findings import Finding, Severity, utc_from_timestamp
from mlmon.notify.state import IncidentView, OutboxEntry, Told
from mlmon.notify.summary import Summary

Event = Literal["opened", "reopened", "updated", "resolved", "opened_resolved", "digest"]


@dataclass(frozen=True)
class Notice:
    model: str
    message_id: str
    refs: tuple[str, ...]
    event: Event
    incident_id: str
    opened_at: datetime
    at: datetime
    told: Told
    target: Told
    view: IncidentView
    summary: Summary
    remaining: Summary | None = None  # context left when the symptoms resolved
    items: Sequence[Mapping[str, Any]] = field(default_factory=tuple)  # digest items
    since: datetime | None = None  # digest: collected since

    @classmethod
    def of(cls, model: str, entry: OutboxEntry, input_shifts_page: bool = False) -> Notice:
        snap = entry.snapshot
        view = IncidentView.from_dict(snap.get("view") or {"model": model})
        remaining = snap.get("remaining") or {}
        at = utc_from_timestamp(float(snap.get("at") or entry.updated_at))
        since = snap.get("since")
        return cls(
            model=model,
            message_id=entry.id,
            refs=tuple(entry.refs),
            event=_event(entry),
            incident_id=str(entry.incident_id or ""),
            opened_at=utc_from_timestamp(float(snap.get("opened_at") or entry.created_at)),
            at=at,
            told=entry.told,
            target=entry.target,
            view=view,
            summary=view.summary(input_shifts_page),
            remaining=IncidentView.from_dict(remaining).summary(input_shifts_page) if remaining else None,
            items=tuple(snap.get("items") or ()),
            since=utc_from_timestamp(float(since)) if since else None,
        )

    @property
    def severity(self) -> Severity:
        """Severity for routing and the subject: a resolve keeps the severity it had while open."""
        for value in (self.target.severity, self.told.severity, self.summary.severity):
            if value in ("warning", "critical"):
                return value  # type: ignore[return-value]
        return "warning"

    @property
    def in_reply_to(self) -> str | None:
        return self.refs[-1] if self.refs else None

    @property
    def resolved(self) -> bool:
        return self.event in ("resolved", "opened_resolved")

    @property
    def new_findings(self) -> list[Finding]:
        """Findings of this message the recipients had not been told about in this incident."""
        told = set(self.told.keys)
        return [f for f in self.summary.findings if f.key not in told]

    @property
    def changes(self) -> list[str]:
        """What changed since the previous email of the thread, in words (updates only)."""
        if self.event != "updated":
            return []
        out = []
        if self.told.severity != self.target.severity:
            out.append(f"severity {self.told.severity} → {self.target.severity}")
        if self.told.kind != self.target.kind and self.summary.kind is not None:
            out.append(f"now named {self.summary.kind.label}")
        new = self.new_findings
        out += [f"new: {f.title}" for f in new[:3]]
        if len(new) > 3:
            out.append(f"and {len(new) - 3} more new finding(s)")
        return out


def _event(entry: OutboxEntry) -> Event:
    if entry.kind == "digest":
        return "digest"
    before, after = entry.told.status, entry.target.status
    if after == "open":
        return {"none": "opened", "resolved": "reopened"}.get(before, "updated")  # type: ignore[return-value]
    return "opened_resolved" if before == "none" else "resolved"
