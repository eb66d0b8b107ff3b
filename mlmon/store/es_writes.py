"""The documents and bulk calls of the Elasticsearch store's writes, and what a bulk answer means.

Events are bulk ``create`` operations with ``_id = prediction_id``: 409 is a duplicate (a replay), a per-item
400 about the document (a mapping conflict, a field too large) is a rejection of that event with the
server's reason; the store's own problems (missing or closed index, write block, privileges, 429 after the
retries inside ``streaming_bulk``) and transport errors are the store failing, and the caller may replay the
whole batch.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from elasticsearch import Elasticsearch
from elasticsearch.helpers import streaming_bulk

from mlmon.store import es_mapping
from mlmon.store.base import InferenceEvent, LabelRecord, ReportRecord, WriteResult
from mlmon.store.common import day_of, label_value, ms_to_iso, to_ms
from mlmon.store.normalize import to_jsonable

ID_CHUNK = 1000
BULK_RETRIES = 3  # per-item 429 retries inside streaming_bulk


def bulk(es: Elasticsearch, actions: list[dict[str, Any]], chunk_size: int) -> Iterator[tuple[bool, dict[str, Any]]]:
    """(ok, item) per action, in order; item errors are returned, not raised."""
    for ok, item in streaming_bulk(
        es,
        actions,
        chunk_size=chunk_size,
        max_retries=BULK_RETRIES,
        initial_backoff=0.5,
        max_backoff=5,
        raise_on_error=False,
        raise_on_exception=False,
    ):
        yield ok, next(iter(item.values()))


def event_action(model: str, event: InferenceEvent) -> dict[str, Any]:
    index = es_mapping.daily_index(model, day_of(to_ms(event.timestamp)))
    return {"_op_type": "create", "_index": index, "_id": event.prediction_id, "_source": event.to_doc()}


def tally(ok: bool, info: Mapping[str, Any], result: WriteResult) -> str | None:
    """Count one bulk item into ``result``; the reason when the item failed without being the event's fault
    (the store's side: a missing or closed index, a write block, missing privileges, overload)."""
    status = info.get("status")
    if ok:
        result.stored += 1
    elif status == 409:
        result.duplicates += 1
    elif (
        isinstance(status, int)
        and 400 <= status < 500
        and status not in _STORE_STATUS
        and _type(info) not in _STORE_SIDE
    ):
        result.rejected.append((str(info.get("_id")), reason(info)))  # the event itself (e.g. a mapping conflict)
    else:
        return reason(info)
    return None


_STORE_STATUS = {401, 403, 404, 408, 429}
_STORE_SIDE = {
    "index_not_found_exception",
    "index_closed_exception",
    "cluster_block_exception",
    "security_exception",
    "es_rejected_execution_exception",
}


def _event_fault(status: Any, info: Mapping[str, Any]) -> bool:
    """A 4xx about the document itself (e.g. a mapping conflict), not about the store."""
    client_error = isinstance(status, int) and 400 <= status < 500
    return client_error and status not in _STORE_STATUS and _type(info) not in _STORE_SIDE


def _type(info: Mapping[str, Any]) -> str | None:
    err = info.get("error")
    return str(err.get("type")) if isinstance(err, dict) else None


def reason(info: Mapping[str, Any]) -> str:
    err = info.get("error")
    if isinstance(err, dict):
        text = f"{err.get('type')}: {err.get('reason')}"
        cause = err.get("caused_by")
        if isinstance(cause, dict) and cause.get("reason"):
            text += f" ({cause.get('type')}: {cause.get('reason')})"
        return text
    return f"status {info.get('status')}: {err}"


def known_ids(es: Elasticsearch, pattern: str, ids: Sequence[str]) -> dict[str, int]:
    """Which prediction ids the inference indices hold, with their epoch ms."""
    known: dict[str, int] = {}
    for i in range(0, len(ids), ID_CHUNK):
        chunk = list(ids[i : i + ID_CHUNK])
        resp = es.search(
            index=pattern,
            query={"ids": {"values": chunk}},
            size=len(chunk),
            source_includes=["@timestamp"],
            ignore_unavailable=True,
            allow_no_indices=True,
        )
        for hit in resp["hits"]["hits"]:
            known[hit["_id"]] = to_ms(datetime.fromisoformat(hit["_source"]["@timestamp"]))
    return known


def label_action(index: str, label: LabelRecord, prediction_ms: int) -> dict[str, Any]:
    source = {
        "prediction_id": label.prediction_id,
        "label": label_value(label),
        "observed_at": ms_to_iso(to_ms(label.observed_at)),
        "@timestamp": ms_to_iso(prediction_ms),  # the prediction's time, for window queries and retention
    }
    return {"_op_type": "index", "_index": index, "_id": label.prediction_id, "_source": source}


def report_document(model: str, record: ReportRecord) -> dict[str, Any]:
    return {
        "@timestamp": ms_to_iso(to_ms(record.timestamp)),
        "kind": record.kind,
        "model": model,
        "model_version": record.model_version,
        "status": record.status,
        "summary": record.summary,
        "drift_detected": record.drift_detected,
        "findings": list(record.findings),
        "written_ns": time.time_ns(),
        "report": to_jsonable(record.body),
    }


def indices_before(indices: Sequence[str], model: str, cutoff: date) -> list[str]:
    """The daily inference indices of UTC days before ``cutoff``, sorted."""
    prefix = es_mapping.inference_prefix(model)
    old = []
    for index in indices:
        try:
            day = datetime.strptime(index.removeprefix(prefix), "%Y.%m.%d").date()
        except ValueError:
            continue  # not one of ours (e.g. a model whose name extends this one)
        if day < cutoff:
            old.append(index)
    return sorted(old)
