"""One error hierarchy for mlmon, mapped to HTTP once at the edge (``mlmon.http.errors``).

MlmonError
├── ConfigError             settings, spec file, feature repo or data file is wrong (user mistake)
├── FieldError              a request or a record is refused, naming the field and the reason
│   ├── InvalidInput          it does not fit the spec (422)
│   ├── PayloadTooLarge       the body exceeds ``MLMON_MAX_BODY_BYTES`` (413)
│   ├── UnsupportedMediaType  the body is not JSON by its Content-Type (415)
│   └── RequestTimeout        the body did not arrive within ``MLMON_BODY_TIMEOUT_S`` (408)
├── Unauthorized            a missing or wrong bearer token (401)
├── FeedbackDisabled        /feedback without ``MLMON_FEEDBACK_TOKEN`` (503)
├── StoreUnavailable        the inference store (SQLite / Elasticsearch) cannot be reached
├── InferenceLogUnavailable the local inference log cannot take an event (full or unwritable): the
│   └── InferenceLogFull      prediction is refused rather than acknowledged without being logged (503)
├── BackendUnavailable      Prometheus, SMTP or another dependency cannot be reached
├── BaselineNotFound        no baseline profile / saved dataset for a model version
├── ModelNotLoaded          the serving model artifact is missing or unreadable
└── InsufficientData        a window has too few rows for a decision

Each class names its ``code`` (the ``error`` member of an HTTP error body) explicitly; a subclass defined
elsewhere inherits its parent's code.
"""

from __future__ import annotations

from typing import ClassVar

ECHO_LIMIT = 80  # characters of a user-supplied string quoted in an error (a field name, a value)


def echo(text: str, limit: int = ECHO_LIMIT) -> str:
    """A user-supplied string as it may appear in an error: at most ``limit`` characters, marked when cut,
    with characters that cannot be encoded (lone surrogates) escaped."""
    if len(text) > limit:
        text = f"{text[:limit]}…({len(text)} chars)"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class MlmonError(Exception):
    """Base of every error mlmon raises on purpose."""

    code: ClassVar[str] = "mlmon_error"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(MlmonError):
    """A setting, spec file, feature repo or data file is missing or malformed.

    ``problems`` lists every problem as ``(location, message)`` so that a user sees all of them at once.
    """

    code = "config_error"
    http_status = 500

    def __init__(
        self,
        message: str,
        *,
        problems: list[tuple[str, str]] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.problems = problems or []

    def __str__(self) -> str:
        lines = [super().__str__()]
        lines += [f"  - {loc}: {msg}" for loc, msg in self.problems]
        return "\n".join(lines)


class FieldError(MlmonError):
    """Something a client sent is refused: ``field`` names where (``instances[3].x``, ``body``,
    ``content-type``), ``reason`` says why. A field name longer than ``ECHO_LIMIT`` is cut, and then not
    repeated in the message, so that an error never echoes more than a bounded part of a request."""

    code = "field_error"
    http_status = 400

    def __init__(self, field: str, reason: str, *, hint: str | None = None) -> None:
        short = echo(field)
        message = f"{short}: {reason}" if short == field else f"{reason} (a field name of {len(field)} characters)"
        super().__init__(message, hint=hint)
        self.field = short
        self.reason = reason


class InvalidInput(FieldError):
    """A request or record does not fit the model spec."""

    code = "invalid_input"
    http_status = 422


class PayloadTooLarge(FieldError):
    code = "payload_too_large"
    http_status = 413


class UnsupportedMediaType(FieldError):
    code = "unsupported_media_type"
    http_status = 415


class RequestTimeout(FieldError):
    code = "request_timeout"
    http_status = 408


class Unauthorized(MlmonError):
    code = "unauthorized"
    http_status = 401


class FeedbackDisabled(MlmonError):
    code = "feedback_disabled"
    http_status = 503


class StoreUnavailable(MlmonError):
    code = "store_unavailable"
    http_status = 503


class InferenceLogUnavailable(MlmonError):
    """The local inference log cannot take the events of a prediction (a disk error, or closed)."""

    code = "inference_log_unavailable"
    http_status = 503


class InferenceLogFull(InferenceLogUnavailable):
    """The local inference log reached ``MLMON_LOG_MAX_BYTES`` (the store has been down for a while)."""

    code = "inference_log_full"


class BackendUnavailable(MlmonError):
    code = "backend_unavailable"
    http_status = 503


class BaselineNotFound(MlmonError):
    code = "baseline_not_found"
    http_status = 404


class ModelNotLoaded(MlmonError):
    code = "model_not_loaded"
    http_status = 503


class InsufficientData(MlmonError):
    code = "insufficient_data"
    http_status = 422
