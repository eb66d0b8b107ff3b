"""Child processes the demo starts: each on a free loopback port, waited for with a bound, stopped by its pid."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from mlmon.instrument.multiprocess import child_environment

# scikit-learn's HistGradientBoosting and numpy's BLAS start a thread pool per call. On a small shared machine
# that oversubscribes the cores: a 1-row /predict measured 87 ms median and 2.4 s p95 with the default pools,
# 32 ms and 43 ms with one thread. The children the demo starts are single-request-at-a-time workers anyway.
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(200 <= response.status < 300)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Child:
    name: str
    args: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def start(self) -> Child:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.args,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_environment(self.env),
            cwd=self.cwd,
        )
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, url: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")
            if http_ok(url):
                return
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready at {url} after {timeout:.0f}s; see {self.log_path}")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self, ready_url: str, timeout: float = 60.0) -> None:
        self.stop()
        self.start()
        self.wait_ready(ready_url, timeout=timeout)


def python_module(
    name: str, module: str, log_path: Path, env: dict[str, str], extra: Sequence[str] = (), cwd: Path | None = None
) -> Child:
    """``python -m module`` with one thread per math library (see ``SINGLE_THREAD_ENV``) unless ``env`` says."""
    return Child(name, [sys.executable, "-m", module, *extra], log_path, {**SINGLE_THREAD_ENV, **env}, cwd)


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


def write_prometheus_config(
    path: Path, targets: dict[str, str], *, scrape_interval: str = "1s", rule_files: Sequence[str] = ()
) -> Path:
    """A minimal scrape config: ``targets`` maps a job name to ``host:port``."""
    lines = [
        "global:",
        f"  scrape_interval: {scrape_interval}",
        f"  evaluation_interval: {scrape_interval}",
    ]
    if rule_files:
        lines.append("rule_files:")
        lines += [f"  - {rule}" for rule in rule_files]
    lines.append("scrape_configs:")
    for job, target in targets.items():
        lines += [f"  - job_name: {job}", "    static_configs:", f"      - targets: ['{target}']"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def prometheus_child(binary: str, config: Path, data_dir: Path, port: int, log_path: Path) -> Child:
    return Child(
        "prometheus",
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={data_dir}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        log_path,
    )
