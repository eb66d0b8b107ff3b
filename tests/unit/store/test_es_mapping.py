"""The index template is explicit, composable, and uses nothing the test server or OpenSearch lacks."""

from __future__ import annotations

import json

from mlmon.spec import load_spec
from mlmon.store import es_mapping
from mlmon.store.es_mapping import index_template
from tests.conftest import REPO

SPEC = load_spec(REPO / "mlmon" / "demo" / "loan_default.yaml")


def test_index_template_maps_every_feature_explicitly() -> None:
    body = index_template(SPEC)
    assert body["index_patterns"] == ["mlmon-inference-loan_default-*"]
    assert body["composed_of"] == ["mlmon-inference-loan_default-mappings"]
    assert "data_stream" not in body
    mappings = body["template"]["mappings"]
    assert mappings["date_detection"] is False
    props = mappings["properties"]
    assert props["@timestamp"] == {"type": "date"}
    assert props["prediction_id"]["type"] == "keyword"
    assert props["model"]["properties"]["version"]["type"] == "keyword"
    assert props["prediction"]["properties"] == {"label": {"type": "keyword"}, "score": {"type": "double"}}
    assert props["response"]["properties"]["kind"]["type"] == "keyword"
    assert props["latency_ms"]["type"] == "double" and props["missing"]["type"] == "keyword"
    features = props["features"]["properties"]
    for feature in SPEC.features:
        want = "double" if feature.is_numeric else "keyword"
        assert features[feature.name]["type"] == want, feature.name
    dynamic = {next(iter(t)): next(iter(t.values())) for t in mappings["dynamic_templates"]}
    assert {d["match_mapping_type"]: d["mapping"]["type"] for d in dynamic.values()} == {
        "long": "double",
        "double": "double",
        "string": "keyword",
    }


def test_component_template_carries_the_same_mappings() -> None:
    component = es_mapping.component_template(SPEC)
    assert component["template"]["mappings"] == index_template(SPEC)["template"]["mappings"]
    assert component["template"]["settings"]["number_of_shards"] == 1


def _keys_and_types(node: object) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            found.add(key)
            if key == "type" and isinstance(value, str):
                found.add(value)
            found |= _keys_and_types(value)
    elif isinstance(node, list):
        for item in node:
            found |= _keys_and_types(item)
    return found


def test_no_feature_the_test_server_rejects() -> None:
    used = _keys_and_types(
        [
            index_template(SPEC),
            es_mapping.component_template(SPEC),
            es_mapping.labels_mappings(),
            es_mapping.reports_mappings(),
        ]
    )
    forbidden = {
        "flattened",
        "data_stream",
        "runtime",
        "script",
        "default_pipeline",
        "final_pipeline",
        "lifecycle",
        "index.lifecycle.name",
        "rollover_alias",
    }
    assert used.isdisjoint(forbidden), used & forbidden
    json.dumps(index_template(SPEC))  # plain JSON


def test_index_names() -> None:
    from datetime import date

    assert es_mapping.daily_index("m", date(2026, 3, 2)) == "mlmon-inference-m-2026.03.02"
    assert es_mapping.labels_index("m") == "mlmon-labels-m"
    assert es_mapping.reports_index("m", "drift") == "mlmon-drift-reports-m"
    assert es_mapping.reports_index("m", "stats") == "mlmon-stats-m"
