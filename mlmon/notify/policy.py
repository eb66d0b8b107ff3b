"""Incident policy: one email when an incident opens, when its severity changes, and when it resolves.

Per model the policy keeps two states: what the last run found (*actual*) and what the recipients were last
told (*notified*). An email is due when they differ. Repeats are held back: an email with the same
signature (``open:warning``, ``open:critical``, ``resolved``) goes out at most once per cooldown, so a
flapping model does not flood the inbox. A held-back change is sent at the first run after the cooldown if it
still holds, so the inbox always converges to the truth. A failed delivery is not recorded as sent, so the
next run tries again.

State survives restarts: a small JSON file, replaced atomically (temp file + ``os.replace``). Each job owns
its own file (``state_path(var_dir, job)``): a stats run with no findings must not resolve a drift incident.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlmon.notify.base import Notifier
from mlmon.notify.findings import Incident, IncidentUpdate, Severity, UpdateKind, utc_from_timestamp

log = logging.getLogger(__name__)

Clock = Callable[[], float]
_STATE_VERSION = 1
_CLOSED = "closed"
_OPEN = "open"
_MAX_TITLES = 20


def state_path(var_dir: Path, job: str) -> Path:
    """Where a job keeps its incident state (one file per job, see the module docstring)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", job) or "job"
    return var_dir / "notify" / f"{safe}-incidents.json"


def _signature(state: str, severity: str | None) -> str:
    return f"{_OPEN}:{severity}" if state == _OPEN else "resolved"


class IncidentPolicy:
    """Decides which job runs produce an email. Not thread-safe: one job loop owns one policy."""

    def __init__(self, path: Path, cooldown_s: float, clock: Clock = time.time) -> None:
        if cooldown_s < 0:
            raise ValueError("cooldown_s: must be >= 0")
        self.path = path
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._models: dict[str, dict[str, Any]] = self._load()

    # -- persistence -------------------------------------------------------------------------------
    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            # A damaged state file must not stop the job: worst case is one repeated email.
            log.warning("incident state %s unreadable (%s); starting with no open incidents", self.path, exc)
            return {}
        if not isinstance(raw, dict) or raw.get("version") != _STATE_VERSION:
            log.warning("incident state %s has an unknown format; starting with no open incidents", self.path)
            return {}
        models = raw.get("models")
        return {str(k): v for k, v in models.items() if isinstance(v, dict)} if isinstance(models, dict) else {}

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({"version": _STATE_VERSION, "models": self._models}, indent=1, sort_keys=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    # -- decisions ---------------------------------------------------------------------------------
    def open_incident(self, model: str) -> dict[str, Any] | None:
        """The stored state of a model's open incident, or None (for status pages and tests)."""
        entry = self._models.get(model)
        return dict(entry) if entry and entry["actual"]["state"] == _OPEN else None

    def observe(self, incident: Incident) -> IncidentUpdate | None:
        """Record a run's result; return the update to send (or a ``suppressed`` one), or None."""
        now = self.clock()
        entry = self._models.setdefault(incident.model, self._fresh())
        previous = dict(entry["actual"])
        severity = incident.severity
        if severity is not None:
            if previous["state"] != _OPEN:
                entry["incident_id"] = uuid.uuid4().hex[:16]
                entry["opened_at"] = now
            entry["actual"] = {"state": _OPEN, "severity": severity}
            entry["titles"] = [f.title for f in incident.ordered_findings][:_MAX_TITLES]
            entry["keys"] = sorted({f.key for f in incident.findings})
        else:
            entry["actual"] = {"state": _CLOSED, "severity": None}
            entry["keys"] = []
        entry["model_version"] = incident.model_version
        changed = entry["actual"] != previous
        update = self._due(incident, entry, now, changed)
        self._save()
        return update

    def _due(self, incident: Incident, entry: dict[str, Any], now: float, changed: bool) -> IncidentUpdate | None:
        actual, notified = entry["actual"], entry["notified"]
        if actual == notified:
            # Same state and severity: worth an email only when findings joined that people were not told
            # about in this incident (a cause found a run after its symptom, a second SLO breached). Each
            # finding is announced once per incident, so a flapping feature cannot flood the inbox.
            new = sorted(set(entry.get("keys", [])) - set(entry.get("notified_keys", [])))
            if actual["state"] != _OPEN or not new:
                return None
            return IncidentUpdate(
                kind="findings_added",
                incident=incident,
                incident_id=str(entry.get("incident_id") or "none"),
                opened_at=utc_from_timestamp(float(entry.get("opened_at") or now)),
                severity=actual["severity"],
                previous_severity=notified["severity"],
                new_findings=tuple(new),
            )
        kind: UpdateKind
        if actual["state"] == _CLOSED:
            kind = "resolved"
        elif notified["state"] == _CLOSED:
            kind = "opened"
        else:
            kind = "severity_changed"
        last = entry["last_sent"].get(_signature(actual["state"], actual["severity"]))
        suppressed = last is not None and now - float(last) < self.cooldown_s
        if suppressed and not changed:
            return None  # still held back; counted once, when the change happened
        return IncidentUpdate(
            kind=kind,
            incident=incident,
            incident_id=str(entry.get("incident_id") or "none"),
            opened_at=utc_from_timestamp(float(entry.get("opened_at") or now)),
            severity=actual["severity"],
            previous_severity=notified["severity"],
            resolved_titles=tuple(entry.get("notified_titles", ())) if kind == "resolved" else (),
            suppressed=suppressed,
        )

    def mark_sent(self, update: IncidentUpdate) -> None:
        """Record that the recipients now know about ``update``."""
        entry = self._models.setdefault(update.model, self._fresh())
        state = _CLOSED if update.kind == "resolved" else _OPEN
        severity: Severity | None = None if state == _CLOSED else update.severity
        entry["notified"] = {"state": state, "severity": severity}
        entry["last_sent"][_signature(state, severity)] = self.clock()
        if state == _OPEN:
            entry["notified_titles"] = [f.title for f in update.incident.ordered_findings][:_MAX_TITLES]
            told = set(entry.get("notified_keys", [])) | {f.key for f in update.incident.findings}
            entry["notified_keys"] = sorted(told)
        else:
            entry["notified_keys"] = []
        self._save()

    def process(self, incident: Incident, notifier: Notifier) -> IncidentUpdate | None:
        """What a job calls after each run: decide, notify (never raises), remember what was sent."""
        update = self.observe(incident)
        if update is None:
            return None
        delivered = notifier.notify(update)
        if delivered and not update.suppressed:
            self.mark_sent(update)
        return update

    @staticmethod
    def _fresh() -> dict[str, Any]:
        return {
            "actual": {"state": _CLOSED, "severity": None},
            "notified": {"state": _CLOSED, "severity": None},
            "last_sent": {},
            "titles": [],
            "notified_titles": [],
            "keys": [],
            "notified_keys": [],
        }
