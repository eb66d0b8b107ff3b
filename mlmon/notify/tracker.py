"""The incident tracker a monitoring job calls after each run: merge the run into the model's shared incident
state in the store, then deliver what is due from the outbox.

Every change is read → apply the policy → compare-and-set; a conflict (the other service, a replica, or this
service's previous run still finishing) means read again and re-apply, a bounded number of times. Applying a
service's run replaces that service's part, so re-applying it is idempotent.

Delivery: the due emails are leased to this process in the state (``Rules.lease_s``) before sending, so the two
services never send the same email twice at the same time; a delivered email leaves the outbox and joins the
thread, a failed one stays with its attempts and next attempt time (backing off up to 5 minutes). The state is
in the store, so pending emails survive restarts and are delivered by whichever service runs next once SMTP is
back. Nothing here raises into the job: a store or SMTP problem is logged and counted, and the job goes on.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

from prometheus_client import CollectorRegistry, Gauge

from mlmon.notify import policy
from mlmon.notify.base import Notifier
from mlmon.notify.findings import Contribution
from mlmon.notify.notice import Notice
from mlmon.notify.policy import Rules
from mlmon.notify.state import ModelState
from mlmon.settings import EmailSettings
from mlmon.store.protocols import IncidentStateStore

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_CONFLICTS = 25


class IncidentStateConflict(Exception):
    """The state kept changing under us: every compare-and-set lost, ``MAX_CONFLICTS`` times."""


class IncidentTracker:
    def __init__(
        self,
        store: IncidentStateStore,
        model: str,
        rules: Rules,
        notifier: Notifier | None = None,
        registry: CollectorRegistry | None = None,
        *,
        owner: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.model = model
        self.rules = rules
        self.notifier = notifier
        self.owner = owner or uuid.uuid4().hex[:12]  # this process: who holds a delivery lease
        self.sleep = sleep
        self.conflicts = 0
        self.pending = (
            Gauge(
                "mlmon_notifications_pending",
                "Incident emails waiting in the outbox (SMTP down, held by the cooldown, or being retried)",
                ["model"],
                registry=registry,
                multiprocess_mode="livemax",  # every process reads the same outbox
            )
            if registry is not None
            else None
        )
        if self.pending is not None:
            self.pending.labels(model=model).set(0)

    # -- state -----------------------------------------------------------------------------------------------
    def read(self) -> ModelState:
        record = self.store.read_incident_state()
        return ModelState.load(self.model, record.body if record else None)

    def _update(self, change: Callable[[ModelState], T]) -> tuple[ModelState, T]:
        """Read, change, compare-and-set; re-read and re-apply on a conflict (bounded, with jitter)."""
        for attempt in range(MAX_CONFLICTS):
            record = self.store.read_incident_state()
            state = ModelState.load(self.model, record.body if record else None)
            before = state.dump()
            result = change(state)
            after = state.dump()
            if after == before or self.store.write_incident_state(after, record.revision if record else None):
                if self.pending is not None:  # what the store holds now, whichever process queued it
                    self.pending.labels(model=self.model).set(len(state.outbox))
                return state, result
            self.conflicts += 1
            self.sleep(random.uniform(0.0, 0.02 * (attempt + 1)))
        raise IncidentStateConflict(f"incident state of {self.model}: {MAX_CONFLICTS} conflicting writes in a row")

    # -- what a job calls ------------------------------------------------------------------------------------
    def report(self, contribution: Contribution, now: float | None = None) -> ModelState | None:
        """Merge a run and deliver what is due; never raises (returns None when the state could not be saved)."""
        at = now if now is not None else contribution.time.timestamp()
        try:
            state, events = self._update(lambda s: policy.apply(s, contribution, at, self.rules))
        except Exception as exc:  # the store is down or refused: the next run re-applies its own part
            log.error(
                "incident state of %s not updated (%s: %s); the next run retries", self.model, type(exc).__name__, exc
            )
            return None
        for event in events:
            log.info("incident %s (%s): %s", self.model, contribution.service, event)
            if event.startswith("dropped:") and self.notifier is not None:
                self.notifier.record(self.model, "suppressed")
        self.deliver(at)
        return state

    def _completion(self, entry_id: str, ok: bool, at: float) -> Callable[[ModelState], str]:
        error = "" if ok else "delivery failed (see the notifier log)"

        def change(state: ModelState) -> str:
            return policy.complete(state, entry_id, self.owner, ok, at, self.rules, error)

        return change

    def deliver(self, now: float | None = None) -> int:
        """Send the due emails of the outbox; returns how many were delivered. Never raises."""
        if self.notifier is None:
            return 0
        at = now if now is not None else time.time()
        try:
            _, claimed = self._update(lambda s: policy.claim(s, self.owner, at, self.rules))
        except Exception as exc:
            log.error("outbox of %s not read (%s: %s)", self.model, type(exc).__name__, exc)
            return 0
        sent = 0
        for entry in claimed:
            try:
                notice = Notice.of(self.model, entry, self.rules.input_shifts == "notify")
                ok = self.notifier.send(notice)
            except Exception as exc:  # a rendering bug must not stop the job either
                log.exception("email %s not built: %s", entry.id, exc)
                ok = False
            sent += ok
            try:
                _, outcome = self._update(self._completion(entry.id, ok, at))
            except Exception as exc:
                log.error("delivery of %s not recorded (%s: %s)", entry.id, type(exc).__name__, exc)
                continue
            log.info("email %s for %s: %s", entry.id, self.model, outcome)
        return sent


def rules_from(settings: EmailSettings) -> Rules:
    return Rules(
        notify=bool(settings.smtp_host),
        cooldown_s=settings.notify_cooldown_s,
        input_shifts=settings.input_shifts,
        digest_interval_s=settings.digest_interval_s,
        domain=settings.alert_email_from.rpartition("@")[2] or "mlmon",
    )


def build_tracker(
    store: IncidentStateStore, model: str, settings: EmailSettings, registry: CollectorRegistry
) -> IncidentTracker:
    """The tracker a job uses: email when ``MLMON_SMTP_HOST`` is set (otherwise incidents are only tracked)."""
    from mlmon.notify.email import EmailNotifier

    notifier = EmailNotifier(settings, registry) if settings.smtp_host else None
    return IncidentTracker(store, model, rules_from(settings), notifier, registry)
