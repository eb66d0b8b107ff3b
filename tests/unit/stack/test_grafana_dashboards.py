"""Grafana provisioning and dashboards: structure, PromQL validity (promtool) and metric names.

Grafana cannot run here; every panel query is written into a recording-rules file and checked with the real
``promtool check rules``, and every metric and label it names is compared with the metric list of mlmon.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, require_binary
from tests.unit.stack.promql import usage
from tests.unit.test_stack_files import load_compose, metric_labels

GRAFANA = REPO / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
BUILTIN_DURATIONS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}
_GRAFANA_VAR = re.compile(r"\$(?:\{(\w+)(?::[^}]*)?\}|(\w+))")


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, expression) of every panel target."""
    out = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            out.append((f"{board['uid']} / {panel['title']} / {target['refId']}", target["expr"]))
    return out


def variable_selectors(board: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(variable name, selector, label) of every ``label_values(selector, label)`` variable."""
    out = []
    for var in board["templating"]["list"]:
        if var["type"] != "query":
            continue
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
        assert match, f"{board['uid']}: variable {var['name']}: {query!r} is not label_values(selector, label)"
        out.append((var["name"], match[1], match[2]))
    return out


def substitute(expr: str, defined: set[str]) -> str:
    """Grafana variables -> concrete values, as Grafana does before sending the query."""

    def sub(m: re.Match[str]) -> str:
        name = m[1] or m[2]
        if name in BUILTIN_DURATIONS:
            return BUILTIN_DURATIONS[name]
        assert name in defined, f"${name} is not a variable of the dashboard"
        return "value"

    return _GRAFANA_VAR.sub(sub, expr)


def test_there_are_dashboards_for_every_topic() -> None:
    uids = {load(p)["uid"] for p in DASHBOARDS}
    assert {
        "mlmon-overview",
        "mlmon-golden-signals",
        "mlmon-outputs",
        "mlmon-drift",
        "mlmon-evaluation",
        "mlmon-health",
    } <= uids
    assert len(uids) == len(DASHBOARDS), "dashboard uids must be unique"


def test_committed_dashboards_match_the_generator(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("build_dashboards", GRAFANA / "build_dashboards.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rendered = module.render_all()
    assert sorted(rendered) == [p.name for p in DASHBOARDS]
    for name, text in rendered.items():
        assert (GRAFANA / "dashboards" / name).read_text(encoding="utf-8") == text, (
            f"{name} is stale: run python grafana/build_dashboards.py"
        )


def test_provisioning_matches_compose_mounts() -> None:
    grafana = load_compose()["services"]["grafana"]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"] if v.startswith("./"))
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "mlmon.yml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert Path(home).parent.as_posix() == provider["options"]["path"]
    assert (GRAFANA / "dashboards" / Path(home).name).is_file()
    sources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus" and source["uid"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"  # the compose service


def test_dashboard_structure() -> None:
    for path in DASHBOARDS:
        board = load(path)
        where = path.name
        assert board["title"].startswith("mlmon") and board["tags"] == ["mlmon"], where
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), f"{where}: duplicate panel ids"
        cells: set[tuple[int, int]] = set()
        for panel in board["panels"]:
            pos = panel["gridPos"]
            assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24, f"{where}: {panel['title']}"
            mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
            assert not mine & cells, f"{where}: {panel['title']} overlaps another panel"
            cells |= mine
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}, where
            assert panel["targets"] and panel.get("description"), f"{where}: {panel['title']}"
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "prometheus"
                assert target["expr"].strip()
        for var in board["templating"]["list"]:
            assert var["datasource"]["uid"] == "prometheus", where


def test_output_distribution_uses_the_prediction_histogram() -> None:
    board = load(GRAFANA / "dashboards" / "mlmon-outputs.json")
    heatmaps = [p for p in board["panels"] if p["type"] == "heatmap"]
    assert heatmaps
    for panel in heatmaps:
        (target,) = panel["targets"]
        assert "mlmon_prediction_bucket" in target["expr"] and "by (le)" in target["expr"]
        assert target["format"] == "heatmap"


def test_every_metric_and_label_is_one_mlmon_exports() -> None:
    checked = 0
    for path in DASHBOARDS:
        board = load(path)
        defined = {v["name"] for v in board["templating"]["list"]}
        exprs = [(w, e) for w, e in queries(board)]
        exprs += [(f"{board['uid']} / ${name}", sel) for name, sel, _ in variable_selectors(board)]
        for where, expr in exprs:
            used = usage(substitute(expr, defined))
            assert used.selectors, f"{where}: no metric in {expr!r}"
            names: set[str] = set()
            for metric, matcher_labels in used.selectors:
                labels = metric_labels(metric)
                assert labels is not None, f"{where}: {metric!r} is not a metric mlmon exports"
                unknown = set(matcher_labels) - labels
                assert not unknown, f"{where}: {metric} has no label {sorted(unknown)}"
                names |= labels
                checked += 1
            unknown = used.grouping_labels - names - {"job"}  # `job` is the scrape job
            assert not unknown, f"{where}: grouping by {sorted(unknown)}, which no metric of it has"
        for name, selector, label in variable_selectors(board):
            metric = usage(substitute(selector, defined)).selectors[0][0]
            labels = metric_labels(metric)
            assert labels is not None and label in labels, f"{path.name}: ${name} reads {metric}.{label}"
    assert checked > 40


def _rules_file(tmp_path: Path, exprs: list[tuple[str, str]]) -> Path:
    rules = [
        {"record": f"mlmon_dashboard:query_{n}", "expr": expr, "labels": {"source": where[:200]}}
        for n, (where, expr) in enumerate(exprs)
    ]
    path = tmp_path / "dashboards.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "grafana", "rules": rules}]}, sort_keys=False))
    return path


def _promtool(promtool: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)


def test_every_panel_query_is_valid_promql(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    exprs = []
    for path in DASHBOARDS:
        board = load(path)
        defined = {v["name"] for v in board["templating"]["list"]}
        exprs += [(where, substitute(expr, defined)) for where, expr in queries(board)]
        exprs += [(f"{board['uid']} / ${name}", substitute(sel, defined)) for name, sel, _ in variable_selectors(board)]
    result = _promtool(promtool, _rules_file(tmp_path, exprs))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout, result.stdout


def test_promtool_check_rejects_a_broken_query(tmp_path: Path) -> None:
    """The check above can fail: the same path rejects a query with a syntax error."""
    promtool = require_binary("promtool")
    broken = 'sum by (le) (rate(mlmon_prediction_bucket{model="x"}[5m])'  # missing ")"
    result = _promtool(promtool, _rules_file(tmp_path, [("broken", broken)]))
    assert result.returncode != 0
    with pytest.raises(AssertionError):
        substitute('rate(mlmon_requests_total{model="$undefined"}[5m])', {"model"})
