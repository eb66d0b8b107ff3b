"""The notification policy: pure functions that change a model's incident state (``mlmon.notify.state``).

One incident per model across both services. Each service's latest run is its *part*; a run with no findings
clears only that part, and a part expires after three of its service's intervals (at least 15 minutes), so a
stopped service cannot hold an incident open. The incident is the union of the parts; it resolves when nothing
is left.

When an email is due (one thread per incident, Message-ID / In-Reply-To / References):

- **opened**: the incident has something actionable — a symptom or a data-integrity break (with
  ``MLMON_INPUT_SHIFTS=notify`` an input shift too). Input shifts without a symptom are *context*: they stay in
  the incident (warning level) and go into the digest (``MLMON_DIGEST_INTERVAL_S``, default daily), never an
  email per feature;
- **updated**: the severity changed, the kind of change changed (each kind once per incident), or findings
  joined that were not announced in this incident (each finding once per incident, so a flapping feature cannot
  flood the inbox);
- **resolved**: nothing actionable is left (what remains is context) or nothing at all.

Cooldown: an email that opens, changes severity or resolves is held while one of the same signature
(``open:warning``, ``open:critical``, ``resolved``) went out less than ``cooldown_s`` ago; it goes out when the
cooldown ends if it is still true (the inbox converges to the truth), and is dropped if the recipients already
believe its outcome (an incident that re-opened and resolved again within the cooldown).

Outbox: at most one pending email per incident; a newer state replaces the pending one (keeping its
Message-ID), so after an SMTP outage one email tells the latest state — an incident that opened and resolved
while SMTP was down becomes one "opened and resolved" email. An email being delivered (leased) is never
changed; a newer state queues behind it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Literal

from mlmon.notify.findings import Contribution
from mlmon.notify.state import Digest, IncidentRecord, IncidentView, ModelState, OutboxEntry, Part, Told
from mlmon.notify.summary import Summary

InputShifts = Literal["digest", "notify"]
HISTORY = 20
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class Rules:
    cooldown_s: float = 3600.0
    input_shifts: InputShifts = "digest"
    digest_interval_s: float = 86400.0
    domain: str = "mlmon"  # right-hand side of the Message-IDs (the sender's domain)
    part_min_ttl_s: float = 900.0
    part_intervals: float = 3.0
    lease_s: float = 120.0  # how long a delivery may take before another process may try the same email
    retry_base_s: float = 15.0
    retry_max_s: float = 300.0
    notify: bool = True  # False (no SMTP configured): incidents are tracked, nothing is queued

    def __post_init__(self) -> None:
        if self.cooldown_s < 0 or self.digest_interval_s <= 0 or self.lease_s <= 0:
            raise ValueError("rules: cooldown_s >= 0, digest_interval_s > 0 and lease_s > 0 are required")
        if self.input_shifts not in ("digest", "notify"):
            raise ValueError(f"rules.input_shifts: {self.input_shifts!r} is not digest or notify")


def signature(target: Told) -> str:
    return f"open:{target.severity}" if target.status == "open" else "resolved"


def message_id(model: str, name: str, seq: int, domain: str) -> str:
    return f"mlmon.{_SAFE.sub('_', model)}.{name}.{seq}@{_SAFE.sub('_', domain) or 'mlmon'}"


def apply(state: ModelState, contribution: Contribution | None, now: float, rules: Rules) -> list[str]:
    """Merge a service's run into ``state`` (changed in place) and queue what is due; returns what happened,
    for the log (``opened``, ``queued:<id>``, ``dropped:<id>``, ``digest:<id>``, ``resolved``)."""
    events: list[str] = []
    if contribution is not None:
        ttl = max(rules.part_min_ttl_s, rules.part_intervals * contribution.interval_s)
        state.parts[contribution.service] = Part.of(contribution, ttl)
    state.parts = {k: p for k, p in state.parts.items() if p.expires_at > now}
    view = IncidentView.merge(state.model, state.parts)
    page = rules.input_shifts == "notify"
    summary = view.summary(input_shifts_page=page)
    if view.findings:
        incident = state.incident
        if incident is None:
            incident = IncidentRecord(id=uuid.uuid4().hex[:12], opened_at=now, updated_at=now)
            state.incident = incident
            events.append(f"opened:{incident.id}")
        incident.updated_at = now
        incident.severity = summary.severity
        incident.kind = summary.kind.to_dict() if summary.kind else None
        incident.first_line = summary.first_line
        incident.actionable = summary.actionable
        incident.view = view.to_dict()
        if summary.actionable:
            incident.open_view = incident.view
            _forget_digest(state.digest, incident.id)
            events += _announce_open(state, incident, summary, now, rules)
        else:
            _collect_digest(state.digest, incident, summary, now)
            if incident.announced.status == "open":  # the symptoms went away; only context is left
                events += _queue(state, incident, Told(status="resolved"), now, rules)
    elif state.incident is not None:
        incident = state.incident
        incident.view = view.to_dict()  # nothing left
        if incident.announced.status == "open":
            events += _queue(state, incident, Told(status="resolved"), now, rules)
        state.history = [*state.history, _closed(incident, now)][-HISTORY:]
        state.incident = None
        events.append(f"resolved:{incident.id}")
    events += _digest_due(state, now, rules)
    if not rules.notify:
        state.outbox = []
    return events


def _announce_open(
    state: ModelState, incident: IncidentRecord, summary: Summary, now: float, rules: Rules
) -> list[str]:
    keys = sorted({f.key for f in summary.findings})
    kind = summary.kind.code if summary.kind else None
    target = Told(status="open", severity=summary.severity, kind=kind, keys=keys)
    told = incident.announced
    due = (
        told.status != "open"
        or told.severity != target.severity
        or (kind is not None and kind != told.kind and kind not in incident.kinds_told)
        or bool(set(keys) - set(incident.keys_told))
    )
    return _queue(state, incident, target, now, rules) if due else []


def _queue(state: ModelState, incident: IncidentRecord, target: Told, now: float, rules: Rules) -> list[str]:
    """Queue (or update the pending) email that brings the recipients from what they were told to ``target``."""
    previous = incident.announced
    incident.announced = target
    incident.keys_told = sorted(set(incident.keys_told) | set(target.keys))
    if target.kind and target.kind not in incident.kinds_told:
        incident.kinds_told = [*incident.kinds_told, target.kind]
    resolving = target.status == "resolved"
    snapshot = {
        "incident_id": incident.id,
        "opened_at": incident.opened_at,
        "status": target.status,
        "at": now,
        "view": (incident.open_view or incident.view) if resolving else incident.view,
        "remaining": incident.view if resolving and incident.view.get("findings") else {},
    }
    pending = next(
        (e for e in state.outbox if e.kind == "incident" and e.incident_id == incident.id and not e.leased(now)),
        None,
    )
    if pending is not None:
        if pending.attempts == 0 and _already_believed(pending.told, target):
            state.outbox.remove(pending)  # held by the cooldown and no longer news: nothing to tell
            return [f"dropped:{pending.id}"]
        pending.target, pending.snapshot, pending.updated_at = target, snapshot, now
        if pending.attempts == 0:
            pending.not_before, pending.held = _not_before(state, pending.told, target, now, rules)
        return [f"updated:{pending.id}"]
    if _already_believed(previous, target):
        return []
    incident.seq += 1
    inflight = [e.id for e in state.outbox if e.incident_id == incident.id]
    not_before, held = _not_before(state, previous, target, now, rules)
    entry = OutboxEntry(
        id=message_id(state.model, incident.id, incident.seq, rules.domain),
        incident_id=incident.id,
        seq=incident.seq,
        refs=[*incident.thread, *inflight],
        told=previous,
        target=target,
        snapshot=snapshot,
        created_at=now,
        updated_at=now,
        not_before=not_before,
        held=held,
    )
    state.outbox.append(entry)
    return [f"queued:{entry.id}"]


def _already_believed(told: Told, target: Told) -> bool:
    """The recipients already believe ``target``: nothing open was told and it is over, or told resolved."""
    return target.status == "resolved" and told.status in ("none", "resolved")


def _not_before(state: ModelState, told: Told, target: Told, now: float, rules: Rules) -> tuple[float, bool]:
    """When the email may go out: the cooldown holds what opens, changes severity or resolves; findings and
    kind updates of an open incident are announced at once (each once per incident)."""
    if told.status == target.status == "open" and told.severity == target.severity:
        return now, False
    last = state.last_sent.get(signature(target))
    if last is not None and now - last < rules.cooldown_s:
        return last + rules.cooldown_s, True
    return now, False


def _closed(incident: IncidentRecord, now: float) -> dict[str, object]:
    return {
        "id": incident.id,
        "opened_at": incident.opened_at,
        "closed_at": now,
        "kind": (incident.kind or {}).get("code"),
        "severity": incident.severity,
        "first_line": incident.first_line,
        "emails": incident.seq,  # emails of the thread, the resolve included
    }


# -- digest ------------------------------------------------------------------------------------------------


def _collect_digest(digest: Digest, incident: IncidentRecord, summary: Summary, now: float) -> None:
    kind = summary.kind.text if summary.kind else "input shift"
    for cause in summary.causes:
        key = f"{incident.id}:{cause.name}"
        item = digest.items.get(key) or {"first_seen": now, "name": cause.name, "incident_id": incident.id}
        item.update(last_seen=now, text=cause.text, kind=kind, ranking=cause.ranking_text)
        digest.items[key] = item
    if digest.items and digest.first_at is None:
        digest.first_at = now


def _forget_digest(digest: Digest, incident_id: str) -> None:
    """The incident pages now: its shifts are told in its thread, not in the digest."""
    digest.items = {k: v for k, v in digest.items.items() if v.get("incident_id") != incident_id}
    if not digest.items:
        digest.first_at = None


def _digest_due(state: ModelState, now: float, rules: Rules) -> list[str]:
    digest = state.digest
    if not digest.items:
        return []
    since = digest.last_sent if digest.last_sent is not None else digest.first_at
    if since is None or now - since < rules.digest_interval_s:
        return []
    digest.seq += 1
    entry = OutboxEntry(
        id=message_id(state.model, "digest", digest.seq, rules.domain),
        kind="digest",
        seq=digest.seq,
        snapshot={
            "since": digest.first_at,
            "at": now,
            "items": sorted(digest.items.values(), key=lambda i: (i.get("first_seen", 0), i.get("name", ""))),
            "view": state.incident.view if state.incident else {},
        },
        created_at=now,
        updated_at=now,
        not_before=now,
    )
    state.outbox.append(entry)
    digest.items, digest.first_at, digest.last_sent = {}, None, now
    return [f"digest:{entry.id}"]


# -- delivery ------------------------------------------------------------------------------------------------


def claim(state: ModelState, owner: str, now: float, rules: Rules) -> list[OutboxEntry]:
    """Lease the due emails to ``owner``; the caller writes the state back before sending them."""
    claimed = []
    for entry in state.outbox:
        if entry.not_before <= now and not entry.leased(now):
            entry.lease_owner, entry.lease_until, entry.held = owner, now + rules.lease_s, False
            claimed.append(entry.model_copy(deep=True))
    return claimed


def complete(state: ModelState, entry_id: str, owner: str, ok: bool, now: float, rules: Rules, error: str = "") -> str:
    """Record a delivery attempt of ``owner``'s leased email; returns what happened (for the log)."""
    entry = next((e for e in state.outbox if e.id == entry_id), None)
    if entry is None or entry.lease_owner != owner:
        return "lost-lease"  # another process took it over after our lease ran out
    if ok:
        state.outbox.remove(entry)
        if entry.kind == "incident":
            state.last_sent[signature(entry.target)] = now
            if state.incident is not None and state.incident.id == entry.incident_id:
                state.incident.thread = [*state.incident.thread, entry.id]
        return "sent"
    entry.attempts += 1
    entry.last_error = error[:500]
    entry.lease_owner, entry.lease_until = "", 0.0
    entry.not_before = now + min(rules.retry_max_s, rules.retry_base_s * 2 ** (entry.attempts - 1))
    later = next(
        (e for e in state.outbox if e is not entry and e.incident_id == entry.incident_id and e.kind == "incident"),
        None,
    )
    if later is not None and not later.leased(now):
        # The newer state replaces this undelivered one; the thread keeps this Message-ID (no gap).
        later.id, later.seq, later.refs, later.told = entry.id, entry.seq, entry.refs, entry.told
        later.attempts, later.not_before, later.last_error = entry.attempts, entry.not_before, entry.last_error
        state.outbox.remove(entry)
        return "merged"
    return "failed"
