"""The notifier interface the incident tracker depends on (email today; chat or webhooks would be one module each)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from mlmon.notify.notice import Notice


class Notifier(Protocol):
    def send(self, notice: Notice) -> bool:
        """Deliver ``notice``; True when delivered (or deliberately not needed, e.g. no recipients), False when
        it should be tried again later. Never raises."""
        ...

    def record(self, model: str, outcome: str) -> None:
        """Count an outcome decided outside a delivery (``suppressed``: dropped by the cooldown)."""
        ...
