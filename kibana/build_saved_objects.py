"""Writes Kibana saved objects (data views, searches, a dashboard) for a model spec.

``python kibana/build_saved_objects.py --spec my_spec.yaml --out my_objects.ndjson`` builds them for your own
model; without options it rewrites ``kibana/saved_objects.ndjson`` from the demo spec (what the compose stack
imports), and a unit test fails when that committed file differs from what this script produces. Shapes follow
the Kibana 8.x export format (stringified ``searchSourceJSON``/``panelsJSON``, objects linked only through
``references``), which Kibana 9 imports and migrates. Ids are fixed (``mlmon-*``) so that
``_import?overwrite=true`` is idempotent.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "mlmon" / "demo" / "loan_default.yaml"
OUTPUT = Path(__file__).resolve().parent / "saved_objects.ndjson"

# Kibana runs every migration newer than these on import; they are the versions of the 8.x export format.
CORE_VERSION = "8.8.0"
TYPE_VERSIONS = {"index-pattern": "8.0.0", "search": "8.0.0", "lens": "8.9.0", "dashboard": "8.9.0"}

DATA_VIEWS = {
    "mlmon-inference": ("mlmon-inference-*", "mlmon inference log"),
    "mlmon-labels": ("mlmon-labels-*", "mlmon ground-truth labels"),
    "mlmon-stats": ("mlmon-stats-*", "mlmon statistics reports"),
    "mlmon-drift-reports": ("mlmon-drift-reports-*", "mlmon drift reports"),
}
INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"


def _obj(type_: str, id_: str, attributes: dict[str, Any], references: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "type": type_,
        "id": id_,
        "attributes": attributes,
        "references": references,
        "coreMigrationVersion": CORE_VERSION,
        "typeMigrationVersion": TYPE_VERSIONS[type_],
    }


def _search_source(query: str, index_ref: bool = True) -> dict[str, str]:
    source: dict[str, Any] = {"query": {"query": query, "language": "kuery"}, "filter": []}
    if index_ref:
        source["indexRefName"] = INDEX_REF
    return {"searchSourceJSON": json.dumps(source, separators=(",", ":"))}


def data_view(id_: str, field_labels: dict[str, str] | None = None) -> dict[str, Any]:
    title, name = DATA_VIEWS[id_]
    attributes: dict[str, Any] = {"title": title, "name": name, "timeFieldName": "@timestamp"}
    if field_labels:
        attrs = {field: {"customLabel": label} for field, label in field_labels.items()}
        attributes["fieldAttrs"] = json.dumps(attrs, separators=(",", ":"))
    return _obj("index-pattern", id_, attributes, [])


def saved_search(
    id_: str, view: str, title: str, description: str, columns: list[str], query: str = ""
) -> dict[str, Any]:
    attributes = {
        "title": title,
        "description": description,
        "columns": columns,
        "sort": [["@timestamp", "desc"]],
        "kibanaSavedObjectMeta": _search_source(query),
    }
    refs = [{"name": INDEX_REF, "type": "index-pattern", "id": view}]
    return _obj("search", id_, attributes, refs)


def lens_over_time(
    id_: str, view: str, title: str, metric: dict[str, Any], query: str = "", series: str = "bar_stacked"
) -> dict[str, Any]:
    """A Lens XY chart of one metric per auto-sized time bucket (the simplest Lens state there is)."""
    layer = "layer1"
    columns = {
        "ts": {
            "label": "@timestamp",
            "dataType": "date",
            "operationType": "date_histogram",
            "sourceField": "@timestamp",
            "isBucketed": True,
            "scale": "interval",
            "params": {"interval": "auto", "includeEmptyRows": True, "dropPartials": False},
        },
        "value": {**metric, "isBucketed": False, "scale": "ratio"},
    }
    state = {
        "datasourceStates": {
            "formBased": {
                "layers": {layer: {"columnOrder": ["ts", "value"], "columns": columns, "incompleteColumns": {}}}
            }
        },
        "visualization": {
            "preferredSeriesType": series,
            "legend": {"isVisible": True, "position": "right"},
            "valueLabels": "hide",
            "layers": [
                {"layerId": layer, "layerType": "data", "seriesType": series, "xAccessor": "ts", "accessors": ["value"]}
            ],
        },
        "query": {"query": query, "language": "kuery"},
        "filters": [],
    }
    attributes = {"title": title, "description": "", "visualizationType": "lnsXY", "state": state}
    refs = [{"type": "index-pattern", "id": view, "name": f"indexpattern-datasource-layer-{layer}"}]
    return _obj("lens", id_, attributes, refs)


def dashboard(
    id_: str, title: str, description: str, panels: list[tuple[str, str, int, int, int, int]]
) -> dict[str, Any]:
    """``panels``: (type, saved object id, x, y, w, h) on Kibana's 48-column grid, all by reference."""
    panel_json = []
    refs = []
    for n, (type_, ref_id, x, y, w, h) in enumerate(panels, start=1):
        index = f"p{n}"
        panel_json.append(
            {
                "type": type_,
                "panelIndex": index,
                "gridData": {"x": x, "y": y, "w": w, "h": h, "i": index},
                "embeddableConfig": {"enhancements": {}},
                "panelRefName": f"panel_{index}",
            }
        )
        refs.append({"name": f"{index}:panel_{index}", "type": type_, "id": ref_id})
    attributes = {
        "title": title,
        "description": description,
        "timeRestore": True,
        "timeFrom": "now-24h",
        "timeTo": "now",
        "refreshInterval": {"pause": False, "value": 60000},
        "optionsJSON": json.dumps(
            {"useMargins": True, "syncColors": False, "hidePanelTitles": False}, separators=(",", ":")
        ),
        "panelsJSON": json.dumps(panel_json, separators=(",", ":")),
        "kibanaSavedObjectMeta": _search_source("", index_ref=False),
    }
    return _obj("dashboard", id_, attributes, refs)


def _kql_value(value: float) -> str:
    # plain digits: KQL range queries do not take exponent notation such as 2e+06
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def build(spec_path: Path = SPEC) -> list[dict[str, Any]]:
    from mlmon.spec import load_spec  # imported here: the module stays importable without the project

    spec = load_spec(spec_path)
    public = [f for f in spec.features if not f.pii]  # PII features (hashed) are never shown as columns
    numeric = [f for f in public if f.is_numeric]
    labels = {f"features.{f.name}": f"{f.name} ({f.unit})" for f in public if f.unit}
    out_of_range = " or ".join(
        f"features.{f.name} < {_kql_value(f.range[0])} or features.{f.name} > {_kql_value(f.range[1])}"
        for f in numeric
        if f.range is not None
    )
    feature_cols = [f"features.{f.name}" for f in public]
    outputs = ["prediction.label", "prediction.score", "response.kind"]

    objects = [
        data_view("mlmon-inference", labels),
        data_view("mlmon-labels"),
        data_view("mlmon-stats"),
        data_view("mlmon-drift-reports"),
        saved_search(
            "mlmon-search-recent-predictions",
            "mlmon-inference",
            "mlmon: recent predictions",
            "Newest predictions with their outputs, missing inputs and latency.",
            ["model.version", *outputs, "missing", "latency_ms"],
        ),
        saved_search(
            "mlmon-search-by-version",
            "mlmon-inference",
            "mlmon: predictions of a model version",
            "Replace * with a model version (mlmon's emails open this search with the version set).",
            ["model.version", "prediction_id", *outputs, *feature_cols],
            "model.version : *",
        ),
        saved_search(
            "mlmon-search-missing-inputs",
            "mlmon-inference",
            "mlmon: missing inputs and fallbacks",
            "Predictions with a missing input, or answered with a fallback or an empty response.",
            ["missing", "response.kind", "model.version", "prediction.label", "prediction.score"],
            'missing : * or response.kind : ("fallback" or "empty")',
        ),
        saved_search(
            "mlmon-search-out-of-range",
            "mlmon-inference",
            "mlmon: out-of-range inputs",
            f"Numeric inputs outside the ranges of the model spec ({spec.model}).",
            ["model.version", *[f"features.{f.name}" for f in numeric], "prediction.score"],
            out_of_range,
        ),
        # Report bodies are stored, not indexed (mlmon/store/es_mapping.py): a few summary fields are
        # indexed for filtering; open a row to read the whole report.
        saved_search(
            "mlmon-search-drift-reports",
            "mlmon-drift-reports",
            "mlmon: drift reports",
            "Drift runs of the drift detector, newest first; expand a row for the full report.",
            ["model_version", "status", "drift_detected", "findings", "summary"],
        ),
        saved_search(
            "mlmon-search-stats-reports",
            "mlmon-stats",
            "mlmon: statistics reports",
            "Window statistics runs of the statistics service, newest first; expand a row for the full report.",
            ["model_version", "findings", "summary"],
        ),
        saved_search(
            "mlmon-search-labels",
            "mlmon-labels",
            "mlmon: ground-truth labels",
            "Labels received through POST /feedback, by prediction id.",
            ["prediction_id", "label", "observed_at"],
        ),
        lens_over_time(
            "mlmon-lens-predictions-over-time",
            "mlmon-inference",
            "Predictions over time",
            {"label": "Predictions", "dataType": "number", "operationType": "count", "sourceField": "___records___"},
        ),
        lens_over_time(
            "mlmon-lens-missing-over-time",
            "mlmon-inference",
            "Predictions with a missing input over time",
            {
                "label": "With missing input",
                "dataType": "number",
                "operationType": "count",
                "sourceField": "___records___",
            },
            query="missing : *",
        ),
        lens_over_time(
            "mlmon-lens-score-over-time",
            "mlmon-inference",
            "Average score over time",
            {
                "label": "Average score",
                "dataType": "number",
                "operationType": "average",
                "sourceField": "prediction.score",
            },
            series="line",
        ),
        lens_over_time(
            "mlmon-lens-latency-over-time",
            "mlmon-inference",
            "Average latency (ms) over time",
            {
                "label": "Average latency (ms)",
                "dataType": "number",
                "operationType": "average",
                "sourceField": "latency_ms",
            },
            series="line",
        ),
    ]
    objects.append(
        dashboard(
            "mlmon-dashboard-overview",
            "mlmon: inputs and outputs",
            "Logged predictions: volume, missing inputs, scores, out-of-range inputs and drift reports.",
            [
                ("lens", "mlmon-lens-predictions-over-time", 0, 0, 24, 12),
                ("lens", "mlmon-lens-missing-over-time", 24, 0, 24, 12),
                ("lens", "mlmon-lens-score-over-time", 0, 12, 24, 12),
                ("lens", "mlmon-lens-latency-over-time", 24, 12, 24, 12),
                ("search", "mlmon-search-missing-inputs", 0, 24, 24, 16),
                ("search", "mlmon-search-out-of-range", 24, 24, 24, 16),
                ("search", "mlmon-search-drift-reports", 0, 40, 48, 14),
                ("search", "mlmon-search-recent-predictions", 0, 54, 48, 16),
            ],
        )
    )
    return objects


def render(objects: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(o, sort_keys=True, separators=(",", ":")) + "\n" for o in objects)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Kibana saved objects for a model spec")
    parser.add_argument("--spec", type=Path, default=SPEC, help="model spec YAML (default: the demo's)")
    parser.add_argument("--out", type=Path, default=OUTPUT, help="NDJSON file to write")
    args = parser.parse_args(argv)
    args.out.write_text(render(build(args.spec)), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
