"""Inference events as lines of the local log: one compact JSON document per line, ASCII only.

``json.dumps`` escapes every non-ASCII character, so a line is always valid ASCII even when an event holds a
string that cannot be encoded as UTF-8 (a lone surrogate): such an event is logged like any other and it is
the store that refuses it later (then it goes to the dead-letter file, see ``shipper``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mlmon.store.base import InferenceEvent
from mlmon.store.base import _iso as iso_time

_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=lambda o: _plain(o))


def _plain(value: Any) -> Any:
    """numpy scalars and other odd values the encoder meets (``default`` hook)."""
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    return str(value)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def encode_doc(doc: dict[str, Any]) -> str:
    try:
        return _ENCODER.encode(doc)
    except ValueError:  # a NaN or infinity somewhere: JSON has none, the store would take it as missing
        return _ENCODER.encode(_finite(doc))


def encode(events: Sequence[InferenceEvent]) -> bytes:
    """The lines of ``events``, each ending in a newline: the JSON of ``InferenceEvent.to_doc`` of each, written
    per request rather than per event — the parts the events of one request share (times, model) are encoded
    once, and only the rest goes through the encoder per event (an event holding a non-finite number is encoded
    whole, with the number as null)."""
    dumps = _ENCODER.encode
    heads: dict[tuple[int, int, str, str], tuple[str, str]] = {}
    texts: dict[Any, str] = {}  # labels and kinds: a few distinct values

    def text(value: Any) -> str:
        out = texts.get(value)
        if out is None:
            out = texts[value] = dumps(value)
        return out

    lines: list[str] = []
    for e in events:
        key = (id(e.timestamp), id(e.received_at), e.model_name, e.model_version)
        head = heads.get(key)
        if head is None:
            received = None if e.received_at is None else iso_time(e.received_at)
            head = heads[key] = (
                f'{{"@timestamp":{dumps(iso_time(e.timestamp))},"received_at":{dumps(received)},"prediction_id":',
                f',"model":{dumps({"name": e.model_name, "version": e.model_version})},"features":',
            )
        try:
            score = "null" if e.score is None else dumps(e.score)
            lines.append(
                f"{head[0]}{dumps(e.prediction_id)}{head[1]}{dumps(e.features)}"
                f',"missing":{dumps(e.missing) if e.missing else "[]"}'
                f',"prediction":{{"label":{text(e.prediction_label)},"score":{score}}}'
                f',"response":{{"kind":{text(e.response_kind)}}},"latency_ms":{dumps(e.latency_ms)}}}'
            )
        except (ValueError, TypeError):  # NaN/infinity (JSON has none), or a mapping the encoder needs as a dict
            lines.append(encode_doc(e.to_doc()))
    lines.append("")
    return "\n".join(lines).encode("ascii")


def _events(docs: Sequence[Any]) -> list[InferenceEvent | Exception]:
    """``InferenceEvent.from_doc`` of each doc; the times of one request (the same text) are parsed once."""
    times: dict[str, datetime] = {}

    def parse(text: str) -> datetime:
        when = times.get(text)
        if when is None:
            when = times[text] = datetime.fromisoformat(text)
        return when

    out: list[InferenceEvent | Exception] = []
    for doc in docs:
        if isinstance(doc, Exception):
            out.append(doc)
            continue
        try:
            if not isinstance(doc, dict):
                raise ValueError("not a JSON object")
            out.append(InferenceEvent.from_doc(doc, parse))
        except (ValueError, KeyError, TypeError) as exc:
            out.append(exc)
    return out


def decode(line: bytes) -> InferenceEvent:
    """One line back to an event; ``ValueError`` (or ``KeyError``/``TypeError``) when it is not one."""
    return _event(json.loads(line))


def _event(doc: Any) -> InferenceEvent:
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    return InferenceEvent.from_doc(doc)


def decode_many(lines: Sequence[bytes]) -> list[InferenceEvent | Exception]:
    """Each line back to an event, or the error that says why it is not one. Parses the lines as one JSON
    array when it can (one parser call for a whole batch), line by line when one of them is broken."""
    try:
        docs = json.loads(b"[" + b",".join(lines) + b"]") if lines else []
    except ValueError:
        docs = None
    if docs is None or len(docs) != len(lines):  # a line holding "1,2" would shift the rest
        docs = []
        for line in lines:
            try:
                docs.append(json.loads(line))
            except ValueError as exc:
                docs.append(exc)
    return _events(docs)
