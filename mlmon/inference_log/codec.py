"""Inference events as lines of the local log: one compact JSON document (UTF-8) per line.

Lines are written and read with orjson, several times faster than the standard library's ``json`` on these
documents (the encoding and decoding of the log were about a third of the server's GIL time at 256-row
batches). What orjson refuses goes through the standard library instead, so that every event is logged:
a string holding a lone surrogate (not encodable as UTF-8) is written as a ``\\ud800`` escape — the store
refuses it later and it goes to the dead-letter file (see ``shipper``) — and an integer beyond 64 bits or a key
that is not a string are written as ``json.dumps`` writes them. NaN and infinity are written as null either way
(JSON has none; the store would take them as missing).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from mlmon.store.base import InferenceEvent
from mlmon.store.base import _iso as iso_time

_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=lambda o: _plain(o))
_LINE = orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY


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
    """One document with the standard library (ASCII, non-finite numbers as null)."""
    try:
        return _ENCODER.encode(doc)
    except ValueError:  # a NaN or infinity somewhere
        return _ENCODER.encode(_finite(doc))


def encode(events: Sequence[InferenceEvent]) -> bytes:
    """The lines of ``events``, each ending in a newline: the JSON of ``InferenceEvent.to_doc`` of each. The
    parts the events of one request share (times, model) are formatted once."""
    heads: dict[tuple[int, int, str, str], tuple[str, str | None, dict[str, str]]] = {}
    dumps = orjson.dumps
    lines: list[bytes] = []
    for e in events:
        key = (id(e.timestamp), id(e.received_at), e.model_name, e.model_version)
        head = heads.get(key)
        if head is None:
            received = None if e.received_at is None else iso_time(e.received_at)
            head = heads[key] = (iso_time(e.timestamp), received, {"name": e.model_name, "version": e.model_version})
        doc = {
            "@timestamp": head[0],
            "received_at": head[1],
            "prediction_id": e.prediction_id,
            "model": head[2],
            "features": e.features,
            "missing": e.missing,
            "prediction": {"label": e.prediction_label, "score": e.score},
            "response": {"kind": e.response_kind},
            "latency_ms": e.latency_ms,
        }
        try:
            lines.append(dumps(doc, default=_plain, option=_LINE))
        except TypeError:  # orjson.JSONEncodeError: a lone surrogate, a huge integer, a key that is not a string
            lines.append(encode_doc(e.to_doc()).encode("ascii") + b"\n")
    return b"".join(lines)


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


def _loads(line: bytes) -> Any:
    """One line: orjson, or the standard library for what orjson refuses but JSON allows (a lone surrogate
    escape)."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)


def decode_many(lines: Sequence[bytes]) -> list[InferenceEvent | Exception]:
    """Each line back to an event, or the error that says why it is not one. Parses the lines as one JSON
    array when it can (one parser call for a whole batch), line by line when one of them is broken."""
    docs: list[Any] | None
    try:
        docs = orjson.loads(b"[" + b",".join(lines) + b"]") if lines else []
    except orjson.JSONDecodeError:
        docs = None
    if docs is None or len(docs) != len(lines):  # a line holding "1,2" would shift the rest
        docs = []
        for line in lines:
            try:
                docs.append(_loads(line))
            except ValueError as exc:
                docs.append(exc)
    return _events(docs)
