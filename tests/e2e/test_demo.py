"""`mlmon demo` as a user runs it: a subprocess, in a temp working folder, with its state under MLMON_VAR_DIR.

``unit-change`` runs with the demo's own timings (what `make demo` shows); the other scenarios run through the
same code in tests/e2e/test_scenarios.py with shorter timings.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mlmon.embedded.mail import mail_paths, read_mail
from mlmon.instrument.multiprocess import child_environment
from tests.e2e.conftest import TrainedModels
from tests.fixtures.feast import SPEC_PATH

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEMO_TIMEOUT_S = 420.0


def run_demo(tmp_path: Path, models: TrainedModels, scenario: str, extra_env: dict[str, str]) -> tuple[int, str]:
    env = {k: v for k, v in child_environment().items() if not k.startswith("MLMON_")}
    env.update(
        {
            "MLMON_MODEL_SPEC": str(SPEC_PATH),
            "MLMON_FEAST_REPO": str(models.feast_repo),  # already holds the demo data: training reuses it
            "MLMON_MODEL_PATH": str(tmp_path / "models" / "loan_default"),
            "MLMON_VAR_DIR": str(tmp_path / "var"),
            **extra_env,
        }
    )
    args = [sys.executable, "-m", "mlmon", "demo", "--scenario", scenario, "--workdir", str(tmp_path / "var" / "demo")]
    # Own session: if the demo hangs, its whole process group (the demo and the services it started) is ended.
    proc = subprocess.Popen(
        args,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=DEMO_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        pytest.fail(f"mlmon demo did not finish in {DEMO_TIMEOUT_S:g}s:\n{out.decode(errors='replace')[-4000:]}")
    text = out.decode(errors="replace")
    print(text)
    return proc.returncode, text


def assert_services_stopped(output: str) -> None:
    assert "stopped every process the demo started" in output
    ports = [int(p) for p in re.findall(r"on http://127\.0\.0\.1:(\d+)", output)]
    assert len(ports) >= 3, output  # model server, statistics service, drift detector (and Prometheus)
    for port in ports:
        with socket.socket() as sock:
            sock.settimeout(1.0)
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"something still listens on {port}"


def test_demo_detects_the_unit_change(tmp_path: Path, trained_models: TrainedModels) -> None:
    code, output = run_demo(tmp_path, trained_models, "unit-change", {})
    assert code == 0, output
    assert "DETECTED 'unit-change'" in output
    inbox = tmp_path / "var" / "mail" / "unit-change"
    named = [m for m in map(read_mail, mail_paths(inbox)) if m.names(["seconds_since_last_application"])]
    assert named, f"no email in {inbox} names the feature:\n{output}"
    assert "drift" in (named[0].job or "") and named[0].severity in ("warning", "critical")
    assert named[0].kind == "data_integrity" and "unit change" in named[0].subject
    assert f"email: {named[0].path}" in output
    report = re.search(r"HTML drift report: (\S+)", output)
    assert report and Path(report.group(1)).is_file(), output
    assert_services_stopped(output)
    # The demo trains and serves from its own working folder.
    assert (
        tmp_path / "var" / "demo" / "models" / "loan_default" / "CURRENT"
    ).read_text().strip() == trained_models.standard
