"""The incident state in Elasticsearch: one plain document (``_id = "state"``) in ``mlmon-incidents-<model>``,
replaced by compare-and-set with ``if_seq_no``/``if_primary_term`` (creation with ``op_type=create``).

No scripts: the jobs compute the new state themselves and the store only refuses a stale write (409), so it works
on Elasticsearch, OpenSearch and the osmem test server alike. ``GET`` by id is real-time, so a write is seen by
the next read without a refresh. A few fields are copied out of the state for Kibana (``es_mapping``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from elasticsearch import ConflictError, Elasticsearch, NotFoundError

from mlmon.store.base import StateRecord
from mlmon.store.normalize import to_jsonable

STATE_ID = "state"


def _revision(seq_no: int, primary_term: int) -> str:
    return f"{seq_no}:{primary_term}"


def read(es: Elasticsearch, index: str) -> StateRecord | None:
    try:
        doc = es.get(index=index, id=STATE_ID)
    except NotFoundError:
        return None
    source = doc["_source"]
    return StateRecord(body=source.get("state") or {}, revision=_revision(doc["_seq_no"], doc["_primary_term"]))


def document(model: str, body: Mapping[str, Any]) -> dict[str, Any]:
    incident = body.get("incident") if isinstance(body.get("incident"), Mapping) else None
    return {
        "@timestamp": datetime.now(UTC).isoformat(),
        "model": model,
        "status": "open" if incident else "none",
        "incident_id": incident.get("id") if incident else None,
        "severity": incident.get("severity") if incident else None,
        "kind": (incident.get("kind") or {}).get("code") if incident else None,
        "pending_notifications": len(body.get("outbox") or []),
        "state": to_jsonable(dict(body)),
    }


def write(es: Elasticsearch, index: str, model: str, body: Mapping[str, Any], revision: str | None) -> str | None:
    """Compare-and-set; the new revision, or None when the stored document is not at ``revision``."""
    doc = document(model, body)
    try:
        if revision is None:
            resp = es.index(index=index, id=STATE_ID, document=doc, op_type="create")
        else:
            seq_no, _, term = revision.partition(":")
            resp = es.index(index=index, id=STATE_ID, document=doc, if_seq_no=int(seq_no), if_primary_term=int(term))
    except ConflictError:
        return None
    return _revision(resp["_seq_no"], resp["_primary_term"])
