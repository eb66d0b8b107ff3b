"""Shared test helpers: real components on free loopback ports, stopped by process id.

A component that is missing fails the run when ``CI=true`` and is skipped elsewhere, with the install hint.
Fixtures for each component live in ``tests/fixtures/`` and are loaded below.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from mlmon.instrument.multiprocess import child_environment

REPO = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() == "true"

pytest_plugins = [
    "tests.fixtures.osmem",
    "tests.fixtures.prom",
    "tests.fixtures.smtp",
    "tests.fixtures.feast",
    "tests.fixtures.proxy",
    "tests.fixtures.nginx",
]

INSTALL_HINTS = {
    "prometheus": "apt-get install prometheus (or `make components` as root)",
    "promtool": "apt-get install prometheus (or `make components` as root)",
    "prometheus-alertmanager": "apt-get install prometheus-alertmanager (or `make components` as root)",
    "amtool": "apt-get install prometheus-alertmanager (or `make components` as root)",
    "nginx": "apt-get install nginx (or `make components` as root)",
    "openssl": "apt-get install openssl (or `make components` as root)",
}


def require_component(name: str, available: bool, hint: str | None = None) -> None:
    """Fail in CI, skip elsewhere, when a real component is not available."""
    if available:
        return
    message = f"{name} is not available: {hint or INSTALL_HINTS.get(name, 'see README')}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def require_binary(name: str) -> str:
    path = shutil.which(name)
    require_component(name, path is not None)
    assert path is not None
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll ``url`` until it answers 2xx; bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if 200 <= resp.status < 300:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout}s: {last}")


def wait_until(check: Callable[[], Any], timeout: float, what: str, step: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy; bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(step)
    raise TimeoutError(f"{what} not seen within {timeout}s (last: {last!r})")


def assert_never(check: Callable[[], Any], seconds: float, what: str, step: float = 0.2) -> None:
    """Fail as soon as ``check`` returns something truthy during ``seconds`` (bounded): the way to show that
    something does *not* happen (an inhibited alert is not mailed), instead of a sleep before one assertion."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen = check()
        assert not seen, f"{what}: {seen!r}"
        time.sleep(step)


class ManagedProcess:
    """A child process started for a test and stopped by its own pid (never by name)."""

    def __init__(
        self, args: Sequence[str], log_path: Path, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        self.args = list(args)
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.args,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_environment(env),
            cwd=cwd,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        self._log.close()


@contextlib.contextmanager
def managed(
    args: Sequence[str],
    log_path: Path,
    ready_url: str | None = None,
    timeout: float = 30.0,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[ManagedProcess]:
    process = ManagedProcess(args, log_path, env=env, cwd=cwd)
    try:
        if ready_url:
            try:
                wait_http(ready_url, timeout=timeout, proc=process.proc)
            except Exception as exc:
                raise RuntimeError(f"{args[0]} did not start: {exc}\n{process.log_text()[-3000:]}") from exc
        yield process
    finally:
        process.stop()
