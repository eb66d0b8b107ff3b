"""One error hierarchy for mlmon, mapped to HTTP once at the edge (``model_server.errors``).

MlmonError
├── ConfigError          settings, spec file, feature repo or data file is wrong (user mistake)
├── InvalidInput         a request or a record does not fit the spec (field + reason)
├── StoreUnavailable     the inference store (SQLite / Elasticsearch) cannot be reached
├── BackendUnavailable   Prometheus, SMTP or another dependency cannot be reached
├── BaselineNotFound     no baseline profile / saved dataset for a model version
├── ModelNotLoaded       the serving model artifact is missing or unreadable
└── InsufficientData     a window has too few rows for a decision
"""

from __future__ import annotations


class MlmonError(Exception):
    """Base of every error mlmon raises on purpose."""

    http_status: int = 500

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


class InvalidInput(MlmonError):
    """A request or record does not fit the model spec."""

    http_status = 422

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class StoreUnavailable(MlmonError):
    http_status = 503


class BackendUnavailable(MlmonError):
    http_status = 503


class BaselineNotFound(MlmonError):
    http_status = 404


class ModelNotLoaded(MlmonError):
    http_status = 503


class InsufficientData(MlmonError):
    http_status = 422
