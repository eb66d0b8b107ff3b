"""Prometheus multi-process collection: one coherent ``/metrics`` for a server with several worker processes.

prometheus_client's multiprocess mode is on when ``PROMETHEUS_MULTIPROC_DIR`` is set in a process's environment
before ``prometheus_client`` is imported: every metric value then lives in a memory-mapped file of that
directory (one per metric type and process), and ``/metrics`` merges the files of all processes — counters and
histograms summed, each gauge as its ``multiprocess_mode`` says (every gauge of mlmon states one).

The directory must be emptied before the workers start (files of an earlier run would be summed in):
``mlmon serve --workers N`` does it in the master process; for your own app see ``prepare_directory`` and the
README. A worker that stops cleanly removes its ``live*`` gauge files (``mark_stopped``); those of a killed
worker are removed at the next scrape (``remove_dead``), while its counters stay in the sums (counters
never go down).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from prometheus_client import CollectorRegistry, multiprocess, values

ENV = "PROMETHEUS_MULTIPROC_DIR"
_CLIENT_ENVS = (ENV, "PROMETHEUS_MULTIPROCESS_DIR")  # the client's older name, which Feast sets too
_LIVE_FILE = re.compile(r"^gauge_live[a-z]+_(\d+)\.db$")


def directory() -> Path | None:
    """The multi-process directory this process writes its metrics to, or None (single-process mode). The
    variable counts only when it was set before ``prometheus_client`` was imported — the client decides then
    (a library that sets it at import, as Feast does, switches nothing in a running process)."""
    value = os.environ.get(ENV)
    if not value or values.ValueClass is values.MutexValue:
        return None
    return Path(value)


def child_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process that runs its own single-process server: this process's environment
    without the multi-process variables, unless ``extra`` sets them. Feast sets them at import (to a temporary
    directory of its own), and servers started from such a process would otherwise all write to, and each
    report, the sum of one shared directory."""
    env = {k: v for k, v in os.environ.items() if k not in _CLIENT_ENVS}
    env.update(extra or {})
    return env


def prepare_directory(path: str | Path) -> Path:
    """Create ``path`` and delete the metric files (``*.db``) an earlier run left there; sets
    ``PROMETHEUS_MULTIPROC_DIR`` for the worker processes started after this call. Only ``*.db`` files directly
    in ``path`` are deleted, so a mistaken path loses nothing else."""
    target = Path(path).resolve()
    target.mkdir(parents=True, exist_ok=True)
    for entry in target.glob("*.db"):
        if entry.is_file():
            entry.unlink(missing_ok=True)
    os.environ[ENV] = str(target)
    return target


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_dead(path: Path) -> int:
    """Remove the ``live*`` gauge files of processes that no longer run (a killed worker cannot clean up after
    itself; uvicorn has no hook for it). Returns how many processes were cleaned up."""
    dead: set[int] = set()
    try:
        names = os.listdir(path)
    except OSError:
        return 0
    for name in names:
        match = _LIVE_FILE.match(name)
        if match and not _alive(int(match[1])):
            dead.add(int(match[1]))
    for pid in dead:
        multiprocess.mark_process_dead(pid, str(path))  # type: ignore[no-untyped-call]
    return len(dead)


def mark_stopped(pid: int | None = None) -> None:
    """A worker that stops: its ``live*`` gauges (requests in flight, log depth) leave the merged view."""
    path = directory()
    if path is not None:
        multiprocess.mark_process_dead(pid if pid is not None else os.getpid(), str(path))  # type: ignore[no-untyped-call]


class MultiProcessView:
    """The registry ``/metrics`` serves in multi-process mode: the merged files of every process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(self.registry, path=str(path))  # type: ignore[no-untyped-call]

    def refresh(self) -> CollectorRegistry:
        remove_dead(self.path)
        return self.registry
