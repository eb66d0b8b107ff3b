"""Delivery of a batch of local-log lines to the store: decode, write, and account for every line.

``LocalDelivery`` does it in the calling thread; ``ship_process.ProcessDelivery`` hands the lines to a child
process that runs a ``LocalDelivery`` (so that decoding and writing do not share the server's GIL). Either way
the shipper gets one ``Delivery``: how many lines from the front are done (stored, already stored, or
dead-lettered), and, when the store is unavailable, why — the lines after that point are shipped again later.

What happens to the lines of a batch:
- the store takes the events → stored (events it already held count as stored too);
- the store refuses some events (``WriteResult.rejected``) → dead letters with the reason; the rest is stored;
- ``StoreUnavailable`` (unreachable, timed out) → an outage: nothing after that point is done;
- any other exception → the batch is bisected until the event(s) that raise are isolated; each becomes a
  dead letter — unless the store then fails its ping, which makes it an outage after all;
- a line that is not an event (corrupt, or torn by a crash: ``None``) → a dead letter with its text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from mlmon.errors import StoreUnavailable
from mlmon.inference_log.codec import decode_many
from mlmon.inference_log.dead_letter import DeadLetter
from mlmon.store.base import InferenceEvent
from mlmon.store.protocols import EventSink

REASON_LIMIT = 500
TORN = "torn line: the process or machine crashed while writing it"


def short(text: str) -> str:
    return text if len(text) <= REASON_LIMIT else text[:REASON_LIMIT] + "…"


@dataclass
class Delivery:
    """The outcome of one batch: ``handled`` lines from the front are done; ``stored`` of them are in the store
    and ``letters`` are the dead letters among them; ``outage`` says why the store stopped (None: it took all);
    ``reached``: the store answered a write (a batch of corrupt lines only does not contact it)."""

    handled: int = 0
    stored: int = 0
    letters: list[DeadLetter] = field(default_factory=list)
    outage: str | None = None
    reached: bool = False


class Deliverer(Protocol):
    def deliver(self, log_name: str, lines: Sequence[bytes | None]) -> Delivery:
        """Ship ``lines`` of the log ``log_name`` (``None``: a torn line)."""
        ...

    def ping(self) -> bool: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class _Item:
    index: int  # of its line in the batch
    event: InferenceEvent


class LocalDelivery:
    """Decode and write in the calling thread."""

    def __init__(self, sink: EventSink) -> None:
        self.sink = sink

    def deliver(self, log_name: str, lines: Sequence[bytes | None]) -> Delivery:
        whole = {i: line for i, line in enumerate(lines) if line is not None}
        decoded = dict(zip(whole, decode_many(list(whole.values())), strict=True))
        items: list[_Item] = []
        unreadable: dict[int, DeadLetter] = {}
        for index, line in enumerate(lines):
            event = decoded.get(index)
            if isinstance(event, InferenceEvent):
                items.append(_Item(index, event))
            elif event is None:
                unreadable[index] = DeadLetter(TORN, log_name, line=line)
            else:
                unreadable[index] = DeadLetter(short(f"corrupt line in the local log: {event}"), log_name, line=line)
        out = Delivery()
        done = self._write(log_name, items, out)
        out.handled = len(lines) if done == len(items) else items[done].index  # lines before the first not done
        out.letters += [unreadable[i] for i in sorted(unreadable) if i < out.handled]
        return out

    def _write(self, log_name: str, items: list[_Item], out: Delivery) -> int:
        """Write ``items``; returns how many from the front are done. Stops at an outage. A batch that raises
        anything else is bisected down to the events that raise."""
        if not items:
            return 0
        try:
            result = self.sink.write_events([item.event for item in items])
        except StoreUnavailable as exc:
            out.outage = f"store unavailable: {exc}"
            return 0
        except Exception as exc:
            if len(items) > 1:
                half = len(items) // 2
                done = self._write(log_name, items[:half], out)
                if done < half:
                    return done
                return half + self._write(log_name, items[half:], out)
            if not self.ping():
                out.outage = f"store error ({exc.__class__.__name__}) and its ping fails"
                return 0
            out.reached = True  # it answers its ping: this event is what it cannot take
            event = items[0].event
            reason = short(f"{exc.__class__.__name__}: {exc}")
            out.letters.append(DeadLetter(reason, log_name, event.prediction_id, event.to_doc()))
            return 1
        out.reached = True
        out.stored += result.stored + result.duplicates
        if result.rejected:
            by_id = {item.event.prediction_id: item.event for item in items}
            for pid, reason in result.rejected:
                refused = by_id.get(pid)
                out.letters.append(DeadLetter(short(reason), log_name, pid, refused.to_doc() if refused else None))
        return len(items)

    def ping(self) -> bool:
        ping: Any = getattr(self.sink, "ping", None)
        if ping is None:
            return True
        try:
            return bool(ping())
        except Exception:
            return False

    def close(self) -> None:
        """Nothing to release: the sink belongs to the caller."""
