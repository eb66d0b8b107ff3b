"""Who owns which log directory: one per process, held with ``flock`` for the process's lifetime.

Under ``<root>`` (one per model) each process creates its own directory and keeps an exclusive ``flock`` on
its ``LOCK`` file until it exits — however it exits: the kernel drops the lock of a killed process. A
directory whose lock can be taken therefore belongs to nobody (a dead worker's, or one left by a clean
shutdown that could not ship everything): any process may adopt it, ship its events and delete it. Several
uvicorn/gunicorn workers each get their own directory this way, and a restart ships what the previous
process left.

Races, and how they are closed:
- a new directory is prepared as ``.new-<name>`` (lock taken) and only then renamed into view, so no one can
  adopt it between its creation and its locking;
- an adopter that takes a lock checks that the ``LOCK`` file is still the one in the directory (the previous
  adopter may have deleted the directory in between) and lets go otherwise.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import shutil
import time
from pathlib import Path

from mlmon.inference_log.segments import LOCK_NAME, fsync_dir

log = logging.getLogger(__name__)

NEW_PREFIX = ".new-"
STALE_NEW_S = 60.0  # a .new- directory with a free lock older than this is a crash during creation


def create_own(root: Path) -> tuple[Path, int]:
    """A fresh, locked log directory under ``root``: (its path, the file descriptor holding the lock)."""
    root.mkdir(parents=True, exist_ok=True)
    name = f"p{os.getpid()}-{secrets.token_hex(4)}"
    staging = root / f"{NEW_PREFIX}{name}"
    staging.mkdir()
    fd = os.open(staging / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        final = root / name
        os.rename(staging, final)
    except OSError:
        os.close(fd)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fsync_dir(root)
    return final, fd


def try_lock(directory: Path) -> int | None:
    """The lock of a directory nobody holds, or None (held, gone, or not a log directory)."""
    path = directory / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)  # never O_CREAT: a missing LOCK is not ours to make
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.fstat(fd).st_ino != os.stat(path).st_ino:
            raise FileNotFoundError(path)  # replaced or deleted while we waited: not the directory's lock
    except OSError:
        os.close(fd)
        return None
    return fd


def orphans(root: Path, skip: set[str]) -> list[tuple[Path, int]]:
    """Log directories under ``root`` whose lock is free, locked now for the caller, oldest first.
    Leftovers of a crash during creation are removed."""
    if not root.is_dir():
        return []
    found: list[tuple[float, Path, int]] = []
    for entry in root.iterdir():
        if entry.name in skip or not entry.is_dir():
            continue
        if entry.name.startswith(NEW_PREFIX):
            _remove_stale_staging(entry)
            continue
        if entry.name.startswith("."):
            continue
        fd = try_lock(entry)
        if fd is None:
            continue
        try:
            age = entry.stat().st_mtime
        except OSError:
            os.close(fd)
            continue
        found.append((age, entry, fd))
    found.sort(key=lambda item: item[0])
    return [(path, fd) for _, path, fd in found]


def _remove_stale_staging(entry: Path) -> None:
    with contextlib.suppress(OSError):
        if time.time() - entry.stat().st_mtime < STALE_NEW_S:
            return
    fd = try_lock(entry)
    if fd is None:
        return
    try:
        if not any(p.name != LOCK_NAME for p in entry.iterdir()):  # nothing was ever appended there
            shutil.rmtree(entry, ignore_errors=True)
            log.info("removed %s, left by a crash while a log directory was created", entry)
    finally:
        os.close(fd)
