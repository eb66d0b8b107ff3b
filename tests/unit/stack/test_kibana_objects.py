"""Kibana saved objects: NDJSON structure, references inside the bundle, and every field against the mappings.

Kibana cannot run here. The mappings come from the store's own template functions (``mlmon.store.es_mapping``:
``index_template(spec)``, ``labels_mappings()``, ``reports_mappings()``); the documented inference fields below
are checked against them too, so the docs, Kibana and the store agree both ways.
"""

from __future__ import annotations

import importlib.util
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from mlmon.notify import links
from mlmon.store import es_mapping
from tests.conftest import REPO

KIBANA = REPO / "kibana"
BUNDLE = KIBANA / "saved_objects.ndjson"
SPEC = REPO / "mlmon" / "demo" / "loan_default.yaml"
NUMERIC = {"double", "float", "half_float", "scaled_float", "long", "integer", "short", "byte"}
SORTABLE = NUMERIC | {"date", "date_nanos", "keyword", "boolean"}
VIEW_INDEX = {  # data view id -> which mapping its pattern gets
    "mlmon-inference": "inference",
    "mlmon-labels": "labels",
    "mlmon-stats": "reports",
    "mlmon-drift-reports": "reports",
}

# Documented fields of an inference document (README, Kibana): the store must map every one of them.
DOC_INFERENCE = {
    "@timestamp": "date",
    "prediction_id": "keyword",
    "model.name": "keyword",
    "model.version": "keyword",
    "missing": "keyword",
    "prediction.label": "keyword",
    "prediction.score": "double",
    "response.kind": "keyword",
    "latency_ms": "double",
    "received_at": "date",
}


def flatten(properties: dict[str, Any], prefix: str = "") -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        if "properties" in spec:
            fields[path] = "object"
            fields.update(flatten(spec["properties"], f"{path}."))
        else:
            fields[path] = spec.get("type", "object")
            for sub, sub_spec in spec.get("fields", {}).items():
                fields[f"{path}.{sub}"] = sub_spec["type"]
    return fields


def _spec() -> Any:
    from mlmon.spec import load_spec

    return load_spec(SPEC)


def documented_inference_fields() -> dict[str, str]:
    fields = dict(DOC_INFERENCE)
    for f in _spec().features:
        fields[f"features.{f.name}"] = "double" if f.is_numeric else "keyword"  # booleans: "true"/"false"
    return fields


def mappings() -> dict[str, dict[str, str]]:
    """Fields per index kind, from the store's own mappings."""
    return {
        "inference": flatten(es_mapping.index_template(_spec())["template"]["mappings"]["properties"]),
        "labels": flatten(es_mapping.labels_mappings()["properties"]),
        "reports": flatten(es_mapping.reports_mappings()["properties"]),
    }


def load_bundle() -> list[dict[str, Any]]:
    objects = []
    for n, line in enumerate(BUNDLE.read_text(encoding="utf-8").splitlines(), start=1):
        assert line.strip(), f"line {n} is empty"
        obj = json.loads(line)
        assert isinstance(obj, dict), f"line {n} is not an object"
        objects.append(obj)
    return objects


def nested(obj: dict[str, Any], *path: str) -> Any:
    node: Any = obj["attributes"]
    for key in path:
        node = node[key]
    return json.loads(node)


def kql_fields(query: str) -> list[tuple[str, str]]:
    """(field, operator) pairs of a KQL query; values are not fields."""
    assert query.count('"') % 2 == 0, f"unbalanced quotes in {query!r}"
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', query)
    assert bare.count("(") == bare.count(")"), f"unbalanced parentheses in {query!r}"
    return re.findall(r"([@A-Za-z_][\w.@]*)\s*(<=|>=|<|>|:)", bare)


def by_key(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["type"], o["id"]): o for o in objects}


def refs_named(obj: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {r["name"]: r for r in obj["references"]}


def test_every_line_is_a_saved_object_with_a_fixed_id() -> None:
    objects = load_bundle()
    keys = [(o["type"], o["id"]) for o in objects]
    assert len(keys) == len(set(keys)), "duplicate saved objects"
    for o in objects:
        assert o["id"].startswith("mlmon-"), o["id"]
        assert o["type"] in {"index-pattern", "search", "lens", "dashboard"}, o["type"]
        assert isinstance(o["attributes"], dict) and isinstance(o["references"], list)
        assert o.get("coreMigrationVersion") and o.get("typeMigrationVersion"), o["id"]
        assert o["attributes"]["title"]
    types = [o["type"] for o in objects]
    assert types.count("index-pattern") == 4 and types.count("dashboard") >= 1
    assert types.count("search") >= 3 and types.count("lens") >= 1


def test_committed_bundle_matches_the_generator() -> None:
    spec = importlib.util.spec_from_file_location("build_saved_objects", KIBANA / "build_saved_objects.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert BUNDLE.read_text(encoding="utf-8") == module.render(module.build(SPEC)), (
        "kibana/saved_objects.ndjson is stale: run python kibana/build_saved_objects.py"
    )


def test_data_views() -> None:
    views = {o["id"]: o["attributes"] for o in load_bundle() if o["type"] == "index-pattern"}
    assert {v["title"] for v in views.values()} == {
        "mlmon-inference-*",
        "mlmon-labels-*",
        "mlmon-stats-*",
        "mlmon-drift-reports-*",
    }
    assert set(views) == set(VIEW_INDEX)
    fields = mappings()
    for view_id, attrs in views.items():
        assert attrs["timeFieldName"] == "@timestamp"
        assert fields[VIEW_INDEX[view_id]]["@timestamp"] == "date", view_id


def test_data_view_patterns_match_the_store_index_names() -> None:
    titles = {o["id"]: o["attributes"]["title"] for o in load_bundle() if o["type"] == "index-pattern"}
    names = {
        "mlmon-inference": es_mapping.daily_index("loan_default", date(2026, 1, 2)),
        "mlmon-labels": es_mapping.labels_index("loan_default"),
        "mlmon-stats": es_mapping.reports_index("loan_default", "stats"),
        "mlmon-drift-reports": es_mapping.reports_index("loan_default", "drift"),
    }
    for view_id, index in names.items():
        pattern = re.escape(titles[view_id]).replace(r"\*", ".*")
        assert re.fullmatch(pattern, index), f"{titles[view_id]} does not match {index}"
        others = [v for v in titles if v != view_id]
        assert not any(re.fullmatch(re.escape(titles[o]).replace(r"\*", ".*"), index) for o in others)


def test_references_resolve_inside_the_bundle() -> None:
    objects = load_bundle()
    index = by_key(objects)
    for o in objects:
        names = [r["name"] for r in o["references"]]
        assert len(names) == len(set(names)), f"{o['id']}: duplicate reference names"
        for ref in o["references"]:
            assert (ref["type"], ref["id"]) in index, f"{o['id']} -> {ref['type']}/{ref['id']} is not in the bundle"
        used: set[str] = set()
        if o["type"] in ("search", "dashboard"):
            source = nested(o, "kibanaSavedObjectMeta", "searchSourceJSON")
            assert "index" not in source, f"{o['id']}: indexes are referenced, never named inline"
            if o["type"] == "search":
                assert source["indexRefName"] in names, o["id"]
                assert refs_named(o)[source["indexRefName"]]["type"] == "index-pattern"
                used.add(source["indexRefName"])
        if o["type"] == "lens":
            layers = o["attributes"]["state"]["datasourceStates"]["formBased"]["layers"]
            for layer_id, layer in layers.items():
                ref = f"indexpattern-datasource-layer-{layer_id}"
                assert refs_named(o).get(ref, {}).get("type") == "index-pattern", f"{o['id']}: no {ref}"
                used.add(ref)
                assert set(layer["columnOrder"]) == set(layer["columns"]), o["id"]
            for vis_layer in o["attributes"]["state"]["visualization"]["layers"]:
                columns = layers[vis_layer["layerId"]]["columns"]
                assert vis_layer["xAccessor"] in columns
                assert set(vis_layer["accessors"]) <= set(columns)
        if o["type"] == "dashboard":
            cells: set[tuple[int, int]] = set()
            for panel in nested(o, "panelsJSON"):
                ref = f"{panel['panelIndex']}:{panel['panelRefName']}"
                assert ref in names, f"{o['id']}: panel {panel['panelIndex']} has no reference {ref}"
                assert refs_named(o)[ref]["type"] == panel["type"]
                used.add(ref)
                grid = panel["gridData"]
                assert grid["i"] == panel["panelIndex"] and grid["x"] + grid["w"] <= 48
                mine = {
                    (x, y)
                    for x in range(grid["x"], grid["x"] + grid["w"])
                    for y in range(grid["y"], grid["y"] + grid["h"])
                }
                assert not mine & cells, f"{o['id']}: panel {panel['panelIndex']} overlaps another"
                cells |= mine
            nested(o, "optionsJSON")
        assert used == set(names), f"{o['id']}: references nobody uses: {set(names) - used}"


def _field_uses(o: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, how it is used) for one saved object."""
    uses: list[tuple[str, str]] = []
    attrs = o["attributes"]
    if o["type"] == "index-pattern":
        uses.append((attrs["timeFieldName"], "time"))
        if "fieldAttrs" in attrs:
            uses += [(f, "column") for f in json.loads(attrs["fieldAttrs"])]
    elif o["type"] == "search":
        uses += [(c, "column") for c in attrs["columns"]]
        uses += [(field, "sort") for field, _ in attrs["sort"]]
        query = nested(o, "kibanaSavedObjectMeta", "searchSourceJSON")["query"]
        assert query["language"] == "kuery"
        uses += [(f, "range" if op != ":" else "match") for f, op in kql_fields(query["query"])]
    elif o["type"] == "lens":
        state = attrs["state"]
        for layer in state["datasourceStates"]["formBased"]["layers"].values():
            for column in layer["columns"].values():
                if column["sourceField"] != "___records___":
                    uses.append((column["sourceField"], column["operationType"]))
        uses += [(f, "range" if op != ":" else "match") for f, op in kql_fields(state["query"]["query"])]
    return uses


def _view_of(o: dict[str, Any]) -> str:
    if o["type"] == "index-pattern":
        return str(o["id"])
    (view,) = {r["id"] for r in o["references"] if r["type"] == "index-pattern"}
    return str(view)


def test_every_field_exists_in_the_index_mapping() -> None:
    fields = mappings()
    checked = 0
    for o in load_bundle():
        if o["type"] == "dashboard":
            continue
        known = fields[VIEW_INDEX[_view_of(o)]]
        for field, how in _field_uses(o):
            where = f"{o['id']}: {field} ({how}); mapping of the {VIEW_INDEX[_view_of(o)]} indices"
            assert field in known, f"{where} is not in the index mapping"
            kind = known[field]
            assert kind != "object", f"{where} is an object, not a field"
            if how in ("time", "date_histogram"):
                assert kind in ("date", "date_nanos"), where
            if how == "sort":
                assert kind in SORTABLE, where
            if how in ("average", "sum", "min", "max", "median", "range"):
                assert kind in NUMERIC | {"date"}, where
            checked += 1
    assert checked > 40


def test_searches_cover_the_documented_questions() -> None:
    searches = {o["id"]: o for o in load_bundle() if o["type"] == "search"}

    def query(i: str) -> str:
        return str(nested(searches[i], "kibanaSavedObjectMeta", "searchSourceJSON")["query"]["query"])

    assert "mlmon-search-recent-predictions" in searches
    assert "model.version" in query("mlmon-search-by-version")
    missing = query("mlmon-search-missing-inputs")
    assert "missing : *" in missing and "fallback" in missing
    # one range clause per bound of every numeric feature with a range in the spec
    bounded = [f for f in _spec().features if f.is_numeric and f.range is not None and not f.pii]
    assert len(kql_fields(query("mlmon-search-out-of-range"))) == 2 * len(bounded)
    for o in searches.values():  # PII features are never shown
        for f in _spec().features:
            if f.pii:
                assert f"features.{f.name}" not in o["attributes"]["columns"]


def test_store_mapping_has_the_documented_fields() -> None:
    """The contract both ways: what Kibana and the docs rely on is what the store maps."""
    actual = mappings()["inference"]
    for field, kind in documented_inference_fields().items():
        assert field in actual, f"es_mapping.index_template does not map {field}"
        same = {kind, actual[field]} <= NUMERIC or actual[field] == kind
        assert same, f"{field}: mapped as {actual[field]}, documented as {kind}"


def test_notification_links_point_at_this_bundle() -> None:
    views = {o["id"] for o in load_bundle() if o["type"] == "index-pattern"}
    assert links.KIBANA_INDEX_PATTERN in views
    dashboards = {json.loads(p.read_text())["uid"] for p in (REPO / "grafana" / "dashboards").glob("*.json")}
    assert links.GRAFANA_DASHBOARD_UID in dashboards


def test_the_field_check_can_fail() -> None:
    with pytest.raises(AssertionError):
        kql_fields('features.age > 3 and (model.version : "x"')
    assert kql_fields('missing : * or response.kind : ("a:b" or "c")') == [("missing", ":"), ("response.kind", ":")]
    assert Path(BUNDLE).is_file()


def test_objects_are_built_for_any_spec(tmp_path: Path) -> None:
    """A team's own spec gets its own searches: built from its features, not the demo's."""
    module = importlib.util.module_from_spec(
        importlib.util.spec_from_file_location("build_saved_objects", KIBANA / "build_saved_objects.py")  # type: ignore[arg-type]
    )
    spec = importlib.util.spec_from_file_location("build_saved_objects", KIBANA / "build_saved_objects.py")
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(module)
    out = tmp_path / "objects.ndjson"
    assert module.main(["--spec", str(REPO / "examples" / "bike_rentals" / "spec.yaml"), "--out", str(out)]) == 0
    text = out.read_text()
    assert "features.temperature_c" in text and "features.income" not in text
