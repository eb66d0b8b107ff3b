"""Index names and explicit mappings of the Elasticsearch/OpenSearch inference store.

    mlmon-inference-<model>-YYYY.MM.DD   one daily index per UTC day of the prediction's @timestamp
    mlmon-labels-<model>                 _id = prediction_id, last label wins
    mlmon-drift-reports-<model>          drift reports (the report body is kept, not indexed)
    mlmon-stats-<model>                  statistics reports
    mlmon-incidents-<model>              the shared incident state (one document, compare-and-set)

The daily indices get their mappings from one component template ``mlmon-inference-<model>-mappings`` used by
the composable index template ``mlmon-inference-<model>`` (pattern ``mlmon-inference-<model>-*``).
``index_template(spec)`` returns that index template's body; it repeats the full mappings inline under
``template.mappings`` so that the body alone says which fields exist (Kibana / compose checks read it);
Elasticsearch merges the identical mappings.
Only features of the spec are mapped explicitly; anything else is forced by dynamic templates to
``double`` (numbers) or ``keyword`` (strings), and ``date_detection`` is off.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from mlmon.spec import ModelSpec

TEMPLATE_PRIORITY = 200  # above Elasticsearch's built-in templates (100), below data-stream ones (500)
_KEYWORD = {"type": "keyword", "ignore_above": 1024}


def inference_prefix(model: str) -> str:
    return f"mlmon-inference-{model}-"


def inference_pattern(model: str) -> str:
    return f"{inference_prefix(model)}*"


def daily_index(model: str, day: date) -> str:
    return f"{inference_prefix(model)}{day:%Y.%m.%d}"


def labels_index(model: str) -> str:
    return f"mlmon-labels-{model}"


def reports_index(model: str, kind: str) -> str:
    return f"mlmon-drift-reports-{model}" if kind == "drift" else f"mlmon-stats-{model}"


def incidents_index(model: str) -> str:
    return f"mlmon-incidents-{model}"


def component_template_name(model: str) -> str:
    return f"mlmon-inference-{model}-mappings"


def index_template_name(model: str) -> str:
    return f"mlmon-inference-{model}"


def index_settings() -> dict[str, Any]:
    # One shard: a day of one model's predictions is small; replicas follow the cluster size (green on one node).
    return {"number_of_shards": 1, "auto_expand_replicas": "0-1", "index.mapping.total_fields.limit": 2000}


def inference_mappings(spec: ModelSpec) -> dict[str, Any]:
    features = {f.name: ({"type": "double"} if f.is_numeric else dict(_KEYWORD)) for f in spec.features}
    return {
        "dynamic": True,
        "date_detection": False,
        "dynamic_templates": [
            {"unknown_integers": {"match_mapping_type": "long", "mapping": {"type": "double"}}},
            {"unknown_numbers": {"match_mapping_type": "double", "mapping": {"type": "double"}}},
            {"unknown_strings": {"match_mapping_type": "string", "mapping": dict(_KEYWORD)}},
        ],
        "properties": {
            "@timestamp": {"type": "date"},
            "prediction_id": {"type": "keyword"},
            "model": {"properties": {"name": {"type": "keyword"}, "version": {"type": "keyword"}}},
            "features": {"properties": features},
            "missing": {"type": "keyword"},
            "prediction": {"properties": {"label": {"type": "keyword"}, "score": {"type": "double"}}},
            "response": {"properties": {"kind": {"type": "keyword"}}},
            "latency_ms": {"type": "double"},
            "received_at": {"type": "date"},  # server time of arrival; @timestamp is the event time
        },
    }


def component_template(spec: ModelSpec) -> dict[str, Any]:
    """Body of ``PUT _component_template/mlmon-inference-<model>-mappings``."""
    return {
        "template": {"settings": index_settings(), "mappings": inference_mappings(spec)},
        "_meta": {"owner": "mlmon", "model": spec.model},
    }


def index_template(spec: ModelSpec) -> dict[str, Any]:
    """Body of ``PUT _index_template/mlmon-inference-<model>`` (no data stream: plain daily indices)."""
    return {
        "index_patterns": [inference_pattern(spec.model)],
        "composed_of": [component_template_name(spec.model)],
        "priority": TEMPLATE_PRIORITY,
        "template": {"mappings": inference_mappings(spec)},
        "_meta": {"owner": "mlmon", "model": spec.model, "description": "mlmon inference log (daily indices)"},
    }


def labels_mappings() -> dict[str, Any]:
    return {
        "dynamic": False,
        "properties": {
            "prediction_id": {"type": "keyword"},
            "label": {"type": "keyword"},  # numbers (regression) keep their type in _source
            "observed_at": {"type": "date"},
            "@timestamp": {"type": "date"},  # the prediction's time, for window queries
        },
    }


def reports_mappings() -> dict[str, Any]:
    # Report bodies differ by kind and version; indexing them could hit mapping conflicts, so they are
    # stored (``enabled: false``). The summary fields come from the job's ``ReportRecord``.
    return {
        "dynamic": False,
        "properties": {
            "@timestamp": {"type": "date"},
            "kind": {"type": "keyword"},
            "model": {"type": "keyword"},
            "model_version": {"type": "keyword"},
            "status": {"type": "keyword"},
            "summary": {"type": "text"},
            "drift_detected": {"type": "boolean"},
            "findings": {"type": "keyword"},
            "written_ns": {"type": "long"},
            "report": {"type": "object", "enabled": False},
        },
    }


def incidents_mappings() -> dict[str, Any]:
    # The state document is the jobs' business (``state`` is stored, not indexed); a few fields are indexed so
    # that Kibana can show the open incident.
    return {
        "dynamic": False,
        "properties": {
            "@timestamp": {"type": "date"},
            "model": {"type": "keyword"},
            "status": {"type": "keyword"},
            "incident_id": {"type": "keyword"},
            "severity": {"type": "keyword"},
            "kind": {"type": "keyword"},
            "pending_notifications": {"type": "integer"},
            "state": {"type": "object", "enabled": False},
        },
    }
