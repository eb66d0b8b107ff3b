"""Email notifier: render a notice and deliver it over SMTP, with retries, counted, never raising.

Delivery rules:
- transient failures (connection refused or reset, timeouts, a dropped connection, any 4xx reply) are retried
  with exponential backoff, within a time budget (``max_total_s``, default 5 s, counted from the start of the
  delivery): a retry happens only when its wait and at least one second of attempt still fit, and a retried
  attempt's socket timeout is cut to what is left. So an SMTP outage holds a drift or statistics run up for
  at most ``max(max_total_s, one first attempt)`` — the first attempt keeps the configured
  ``smtp_timeout_s``. An email not delivered stays in the incident state's outbox and is tried again at a later
  run (``mlmon.notify.tracker``), after a restart too;
- permanent failures (5xx: bad credentials 535, recipient refused 550, …, TLS errors, missing server
  features) are not retried;
- once the server has accepted the DATA the message is never sent again, even if QUIT then fails;
- every outcome is counted in ``mlmon_notifications_total{model,outcome}`` (sent, suppressed, failed,
  retried) and logged on one line. ``send()`` never raises: a monitoring job must keep running.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
import time
from collections.abc import Callable
from email.message import EmailMessage

from prometheus_client import CollectorRegistry, Counter

from mlmon.notify.findings import utc_from_timestamp
from mlmon.notify.notice import Notice
from mlmon.notify.render import build_message, recipients_for
from mlmon.settings import EmailSettings

log = logging.getLogger(__name__)
MIN_ATTEMPT_S = 1.0  # a retry needs at least this much of the budget left for its own SMTP session


class PermanentFailure(Exception):
    """Raised inside the retry loop for failures that a retry cannot fix."""


def is_transient(exc: BaseException) -> bool:
    """Whether another attempt could succeed (see the module docstring for the rules)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(400 <= code < 500 for code in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    if isinstance(exc, (smtplib.SMTPNotSupportedError, ssl.SSLError)):
        return False  # configuration problems: STARTTLS/AUTH not offered, certificate rejected
    if isinstance(exc, smtplib.SMTPException):
        return False
    return isinstance(exc, (OSError, TimeoutError))  # refused, reset, unreachable, timed out, DNS


def describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        parts = [f"{rcpt}: {code} {msg.decode(errors='replace')}" for rcpt, (code, msg) in exc.recipients.items()]
        return "recipients refused (" + "; ".join(parts) + ")"
    if isinstance(exc, smtplib.SMTPResponseException):
        message = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        return f"{exc.smtp_code} {message}"
    return f"{type(exc).__name__}: {exc}"


class EmailNotifier:
    """A :class:`mlmon.notify.base.Notifier` that sends multipart emails over SMTP."""

    def __init__(
        self,
        settings: EmailSettings,
        registry: CollectorRegistry,
        clock: Callable[[], float] = time.time,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        max_attempts: int = 4,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        max_total_s: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts: must be >= 1")
        if max_total_s < 0:
            raise ValueError("max_total_s: must be >= 0")
        self.settings = settings
        self.clock = clock
        self.sleep = sleep
        self.monotonic = monotonic
        self.max_attempts = max_attempts
        self.max_total_s = max_total_s
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.ssl_context = ssl_context
        self.notifications = Counter(
            "mlmon_notifications_total",
            "Incident notifications by outcome (sent, suppressed by the cooldown or settings, failed, retried)",
            ["model", "outcome"],
            registry=registry,
        )

    # -- public ------------------------------------------------------------------------------------
    def record(self, model: str, outcome: str) -> None:
        self._count(model, outcome)

    def send(self, notice: Notice) -> bool:
        model = notice.model
        try:
            if not self.settings.smtp_host:
                self._count(model, "suppressed")
                log.info("email not sent (MLMON_SMTP_HOST unset): model=%s %s", model, notice.message_id)
                return True
            recipients = recipients_for(notice, self.settings)
            if not recipients:
                self._count(model, "suppressed")
                log.warning("email not sent (MLMON_ALERT_EMAIL_TO empty): model=%s %s", model, notice.message_id)
                return True
            message = build_message(notice, self.settings, recipients, utc_from_timestamp(self.clock()))
            return self._deliver(notice, message, recipients)
        except Exception as exc:  # never let a notification stop the job
            self._count(model, "failed")
            log.exception(
                "email NOT sent (internal error %s): model=%s %s", type(exc).__name__, model, notice.message_id
            )
            return False

    # -- delivery ----------------------------------------------------------------------------------
    def _deliver(self, notice: Notice, message: EmailMessage, recipients: list[str]) -> bool:
        model = notice.model
        timeout = self.settings.smtp_timeout_s
        floor = min(MIN_ATTEMPT_S, timeout)
        deadline = self.monotonic() + self.max_total_s
        last: BaseException | None = None
        attempt = 0
        while attempt < self.max_attempts:
            attempt += 1
            try:
                refused = self._send_once(message, recipients, timeout)
            except Exception as exc:
                last = exc
                if not is_transient(exc):
                    self._count(model, "failed")
                    log.error(
                        "email NOT sent (permanent failure, not retried now): model=%s %s %s: %s",
                        model,
                        notice.message_id,
                        notice.event,
                        describe(exc),
                    )
                    return False
                delay = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
                if attempt == self.max_attempts or delay + floor > deadline - self.monotonic():
                    break  # out of attempts or out of budget: the policy retries at the next run
                self._count(model, "retried")
                log.warning(
                    "email attempt %d/%d failed (transient: %s); retrying in %.1fs",
                    attempt,
                    self.max_attempts,
                    describe(exc),
                    delay,
                )
                self.sleep(delay)
                # The retry's own session must end inside the budget too.
                timeout = max(floor, min(self.settings.smtp_timeout_s, deadline - self.monotonic()))
                continue
            self._count(model, "sent")
            extra = f"; refused: {', '.join(sorted(refused))}" if refused else ""
            log.info(
                "email sent: model=%s %s %s severity=%s to %d recipient(s) after %d attempt(s)%s",
                model,
                notice.message_id,
                notice.event,
                notice.severity,
                len(recipients) - len(refused),
                attempt,
                extra,
            )
            return True
        self._count(model, "failed")
        log.error(
            "email NOT sent (gave up after %d attempt(s), retry budget %.1fs; it stays in the outbox): "
            "model=%s %s %s: %s",
            attempt,
            self.max_total_s,
            model,
            notice.message_id,
            notice.event,
            describe(last) if last else "?",
        )
        return False

    def _connect(self, timeout: float) -> smtplib.SMTP:
        s = self.settings
        assert s.smtp_host is not None
        if s.smtp_security == "ssl":
            return smtplib.SMTP_SSL(
                s.smtp_host, s.smtp_port, timeout=timeout, context=self.ssl_context or ssl.create_default_context()
            )
        return smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=timeout)

    def _send_once(self, message: EmailMessage, recipients: list[str], timeout: float) -> dict[str, tuple[int, bytes]]:
        """One SMTP session (``timeout`` per socket operation). Returns the recipients the server refused
        while accepting the others."""
        s = self.settings
        smtp = self._connect(timeout)
        try:
            if s.smtp_security == "starttls":
                smtp.ehlo()
                smtp.starttls(context=self.ssl_context or ssl.create_default_context())
                smtp.ehlo()
            if s.smtp_username:
                password = s.smtp_password.get_secret_value() if s.smtp_password else ""
                smtp.login(s.smtp_username, password)
            refused = smtp.send_message(message, from_addr=s.alert_email_from, to_addrs=recipients)
        except BaseException:
            with contextlib.suppress(Exception):
                smtp.close()
            raise
        # The server accepted the DATA: from here on nothing may lead to a second delivery.
        with contextlib.suppress(Exception):
            smtp.quit()
        with contextlib.suppress(Exception):
            smtp.close()
        return refused

    def _count(self, model: str, outcome: str) -> None:
        self.notifications.labels(model=model, outcome=outcome).inc()
