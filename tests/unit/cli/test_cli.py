from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mlmon.instrument.multiprocess import child_environment

REPO = Path(__file__).resolve().parents[3]


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in child_environment().items() if not k.startswith("MLMON_")}
    return subprocess.run(
        [sys.executable, "-m", "mlmon", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **(env or {})},
        cwd=cwd,
    )


def test_help_lists_every_command() -> None:
    out = run_cli("--help")
    assert out.returncode == 0
    for command in (
        "demo",
        "register",
        "train",
        "serve",
        "stats",
        "drift",
        "replay",
        "check-config",
        "ingest",
        "backtest",
    ):
        assert command in out.stdout


def test_check_config_reports_every_problem_and_exits_non_zero(tmp_path: Path) -> None:
    out = run_cli(
        "check-config",
        env={"MLMON_STORE": "mysql://db", "MLMON_WINDOW": "7x", "MLMON_MODEL_SPEC": str(tmp_path / "none.yaml")},
    )
    assert out.returncode == 2
    assert "MLMON_STORE: must start with sqlite:/// or http(s)://" in out.stderr
    assert "MLMON_WINDOW: '7x' is not a duration" in out.stderr
    assert f"MLMON_MODEL_SPEC: model spec not found: {tmp_path / 'none.yaml'}" in out.stderr  # not hidden
    assert "Traceback" not in out.stderr


def test_check_config_spec_problems_have_locations(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        (REPO / "mlmon" / "demo" / "loan_default.yaml").read_text().replace("type: numeric", "type: number", 1)
    )
    out = run_cli("check-config", env={"MLMON_MODEL_SPEC": str(spec), "MLMON_FEEDBACK_TOKEN": "x" * 12})
    assert out.returncode == 2
    assert f"{spec}: features[0] (income).type" in out.stderr


def test_user_mistake_prints_message_not_traceback(tmp_path: Path) -> None:
    out = run_cli("train", "--rows", "rows.parquet", env={"MLMON_MODEL_SPEC": str(tmp_path / "missing.yaml")})
    assert out.returncode == 2
    assert "error: model spec not found" in out.stderr
    assert "Traceback" not in out.stderr


def test_serve_workers_out_of_range_is_one_line_and_exit_2() -> None:
    out = run_cli("serve", "--workers", "0")
    assert out.returncode == 2
    assert out.stderr.strip() == "error: --workers 0: must be between 1 and 64"
    out = run_cli("serve", "--help")
    assert out.returncode == 0 and "--workers N" in out.stdout
