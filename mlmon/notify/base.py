"""The notifier interface the jobs depend on (email today; chat or webhooks would be one module each)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from mlmon.notify.findings import IncidentUpdate


class Notifier(Protocol):
    def notify(self, update: IncidentUpdate) -> bool:
        """Deliver ``update``; True when delivered or deliberately not needed. Never raises.

        An update with ``suppressed=True`` is only counted, never delivered (returns False).
        """
        ...
