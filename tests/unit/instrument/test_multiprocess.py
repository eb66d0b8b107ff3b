"""Prometheus multi-process helpers: the directory is wiped of metric files only, dead processes' live gauges
are dropped, and a variable set after prometheus_client was imported switches nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlmon.instrument import multiprocess


def test_prepare_directory_deletes_metric_files_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(multiprocess.ENV, raising=False)
    target = tmp_path / "mp"
    target.mkdir()
    (target / "counter_123.db").write_bytes(b"old")
    (target / "gauge_livesum_123.db").write_bytes(b"old")
    (target / "notes.txt").write_text("keep")
    (target / "sub").mkdir()
    assert multiprocess.prepare_directory(target) == target.resolve()
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt", "sub"]
    assert multiprocess.ENV in __import__("os").environ
    assert multiprocess.prepare_directory(tmp_path / "new" / "dir").is_dir()  # created when missing


def test_remove_dead_drops_live_gauges_of_processes_that_are_gone(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(gone.stdout)
    alive = __import__("os").getpid()
    for name in (
        f"gauge_livesum_{dead}.db",
        f"gauge_livemax_{dead}.db",
        f"gauge_livesum_{alive}.db",
        f"counter_{dead}.db",  # a dead worker's counters stay in the sums
        f"gauge_max_{dead}.db",
    ):
        (tmp_path / name).write_bytes(b"")
    assert multiprocess.remove_dead(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"gauge_livesum_{alive}.db", f"counter_{dead}.db", f"gauge_max_{dead}.db"]
    )
    assert multiprocess.remove_dead(tmp_path / "missing") == 0


def test_a_variable_set_after_the_client_was_imported_is_not_multiprocess_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # this test process imported prometheus_client without the variable (as Feast's import sets it later)
    monkeypatch.setenv(multiprocess.ENV, str(tmp_path))
    assert multiprocess.directory() is None


def test_a_variable_set_before_start_is_multiprocess_mode(tmp_path: Path) -> None:
    code = "from mlmon.instrument import multiprocess; print(multiprocess.directory())"
    env = {**__import__("os").environ, multiprocess.ENV: str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.strip() == str(tmp_path), out.stderr


def test_child_environment_drops_the_multiprocess_directory_feast_set(monkeypatch: pytest.MonkeyPatch) -> None:
    # Feast sets both names at import; single-process children started from such a process must not share it.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/tmp/feast_metrics_x")
    monkeypatch.setenv("PROMETHEUS_MULTIPROCESS_DIR", "/tmp/feast_metrics_x")
    env = multiprocess.child_environment({"MLMON_PORT": "1"})
    assert "PROMETHEUS_MULTIPROC_DIR" not in env and "PROMETHEUS_MULTIPROCESS_DIR" not in env
    assert env["MLMON_PORT"] == "1"
    chosen = multiprocess.child_environment({"PROMETHEUS_MULTIPROC_DIR": "/srv/metrics"})
    assert chosen["PROMETHEUS_MULTIPROC_DIR"] == "/srv/metrics"  # asked for explicitly: kept
