"""The alerting-as-code files are valid for the real tools, and every alert is tested by promtool."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, require_binary
from tests.fixtures.prom import ALERTMANAGER_YML, PROMETHEUS_YML, repo_rule_files

pytestmark = pytest.mark.integration

TESTS_DIR = REPO / "prometheus" / "tests"


def run(*args: str, cwd: Path = REPO) -> str:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{output}"
    return output


def alerting_rules() -> list[dict[str, Any]]:
    rules = []
    for path in repo_rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules += [r for r in group["rules"] if "alert" in r]
    return rules


def test_promtool_check_config_on_a_copy_with_resolved_rule_paths(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    assert config["rule_files"] == ["rules/*.yml"]
    config["rule_files"] = [str(REPO / "prometheus" / pattern) for pattern in config["rule_files"]]
    copy = tmp_path / "prometheus.yml"
    copy.write_text(yaml.safe_dump(config))
    output = run(promtool, "check", "config", str(copy))
    assert f"SUCCESS: {len(repo_rule_files())} rule files found" in output
    jobs = {c["job_name"]: c["static_configs"][0]["targets"] for c in config["scrape_configs"]}
    assert jobs == {
        "model-server": ["model-server:8000"],
        "stats-service": ["stats-service:8001"],
        "drift-detector": ["drift-detector:8002"],
    }
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]


def test_promtool_check_rules() -> None:
    promtool = require_binary("promtool")
    output = run(promtool, "check", "rules", *map(str, repo_rule_files()))
    assert "FAILED" not in output


def test_promtool_unit_tests_pass() -> None:
    promtool = require_binary("promtool")
    files = sorted(TESTS_DIR.glob("*.yml"))
    assert files
    output = run(promtool, "test", "rules", *map(str, files))
    assert output.count("SUCCESS") == len(files)


def test_every_alert_has_labels_annotations_and_a_firing_and_quiet_promtool_case() -> None:
    fired: set[str] = set()
    quiet: set[str] = set()
    for path in TESTS_DIR.glob("*.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = []
    for rule in alerting_rules():
        name = rule["alert"]
        names.append(name)
        assert rule["labels"]["severity"] in {"critical", "warning", "info", "{{ $labels.severity }}"}, name
        assert rule["labels"]["signal"] in {"service", "output", "pipeline", "monitor", "input"}, name
        for key in ("summary", "description", "runbook_url"):
            assert rule["annotations"].get(key), f"{name} has no {key}"
        assert rule["annotations"]["runbook_url"].endswith("#" + name.lower()), name
        assert name in fired, f"{name} has no promtool case where it fires"
        assert name in quiet, f"{name} has no promtool case where it stays quiet"
        # the model is carried through: by-model aggregations keep it, per-target rules have instance
        expr = rule["expr"]
        if "by (" in expr:
            assert all("model" in by for by in re.findall(r"by \(([^)]*)\)", expr)), name
    assert len(names) == len(set(names))
    runbooks = (REPO / "prometheus" / "RUNBOOKS.md").read_text().lower()
    for name in names:
        assert f"## {name.lower()}" in runbooks, f"RUNBOOKS.md lacks a section for {name}"


def test_required_alerts_exist() -> None:
    exprs = {r["alert"]: " ".join(r["expr"].split()) for r in alerting_rules()}
    assert 'mlmon_drift_detected{role="output"}) == 1' in exprs["MlmonOutputDrift"]
    assert 'mlmon_drift_detected{role="input"}) == 1' in exprs["MlmonInputDrift"]
    assert "(mlmon_slo_breach) == 1" in exprs["MlmonSloBreach"]
    assert exprs["MlmonMonitorStale"] == (
        "time() - mlmon_job_last_success_timestamp_seconds > 3 * mlmon_job_interval_seconds"
    )
    recording = yaml.safe_load((REPO / "prometheus" / "rules" / "recording.yml").read_text())
    for rule in recording["groups"][0]["rules"]:
        assert re.fullmatch(r"[a-z_]+:[a-z_]+:[a-z0-9_]+", rule["record"]), rule["record"]


def test_amtool_check_config_and_routing(tmp_path: Path) -> None:
    amtool = require_binary("amtool")
    output = run(amtool, "check-config", str(ALERTMANAGER_YML))
    assert "SUCCESS" in output
    config = yaml.safe_load(ALERTMANAGER_YML.read_text())
    assert config["global"]["smtp_smarthost"] == "mailpit:1025"
    assert config["global"]["smtp_require_tls"] is False
    assert config["route"]["group_by"] == ["model", "alertname"]
    text = ALERTMANAGER_YML.read_text()
    assert not re.search(r"^\s*(match|match_re|source_match|target_match)\s*:", text, re.M), "deprecated syntax"
    inhibit = config["inhibit_rules"][0]
    assert inhibit == {
        "source_matchers": ['signal="output"'],
        "target_matchers": ['signal="input"'],
        "equal": ["model"],
    }
    # routing as amtool sees it
    routed = run(
        amtool,
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_YML}",
        "severity=critical",
        "model=m1",
        "alertname=MlmonOutputDrift",
    )
    assert "email-oncall" in routed
    routed = run(
        amtool,
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_YML}",
        "severity=info",
        "model=m1",
        "alertname=MlmonInputDrift",
    )
    assert "email-team" in routed
