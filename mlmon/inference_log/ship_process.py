"""Shipping from a child process: ``ProcessDelivery`` sends the raw lines of each batch to a child process,
which decodes them and writes them to the store (``delivery.LocalDelivery``) and sends the ``Delivery`` back.

Why: decoding, checking and writing an event costs the GIL about as much as serving it. In the server's
process, under saturating 256-row batches, the shipper thread got a third of the GIL and shipped ~10k events/s
while the request threads acknowledged ~25k/s; the child runs on another core.

Lifecycle: the shipper thread starts the child at its first call (and again after one died); the child dies
with that thread (``PR_SET_PDEATHSIG``: a kill -9 of the server takes it along) and ends when its pipe closes.
A child that ends or cannot start is an outage like any other: the batch stays in the local log and is retried.
Nothing changes for durability: the shipper moves its checkpoint only on the ``Delivery`` it gets back, and the
store writes by ``prediction_id``, so a batch the child wrote but could not answer for is not stored twice.

The child builds its own sink with ``sink_factory`` (pickled: e.g. ``open_store`` with the settings and spec).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from mlmon.inference_log.delivery import Delivery, LocalDelivery, short
from mlmon.instrument.multiprocess import child_environment
from mlmon.store.protocols import EventSink

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
# -c rather than -m: this module is imported by its package first, which runpy warns about
_CHILD = "import sys; from mlmon.inference_log.ship_process import main; main(sys.argv[1:])"


class _ChildGone(Exception):
    pass


class ProcessDelivery:
    """``Deliverer`` that runs the delivery in a child process (one per shipper)."""

    def __init__(self, sink_factory: Callable[[], EventSink]) -> None:
        self._factory_bytes = pickle.dumps(sink_factory)  # fails here, in the caller, if it cannot be pickled
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def deliver(self, log_name: str, lines: Sequence[bytes | None]) -> Delivery:
        try:
            answer = self._call(("deliver", log_name, list(lines)))
        except _ChildGone as exc:
            return Delivery(outage=str(exc))
        assert isinstance(answer, Delivery)
        return answer

    def ping(self) -> bool:
        try:
            return bool(self._call(("ping",)))
        except _ChildGone:
            return False

    def close(self) -> None:
        """End the child: close its pipe (it exits at once when idle), kill it if it does not."""
        self._end()

    # -- the child -------------------------------------------------------------------------------------------
    def _call(self, request: tuple[Any, ...]) -> Any:
        conn = self._conn or self._start()
        try:
            conn.send(request)
            return conn.recv()
        except (OSError, EOFError) as exc:
            code = self._end()
            raise _ChildGone(f"the shipping process ended (exit code {code}): {exc.__class__.__name__}") from None

    def _start(self) -> Connection:
        ours, theirs = socket.socketpair()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD, str(theirs.fileno()), str(os.getpid())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env=child_environment(),
            )
        except OSError as exc:
            ours.close()
            raise _ChildGone(f"cannot start the shipping process: {exc}") from None
        finally:
            theirs.close()
        self._conn = Connection(ours.detach())
        self._conn.send_bytes(self._factory_bytes)
        log.info("inference log shipper: shipping process %d started", self._proc.pid)
        return self._conn

    def _end(self) -> int | None:
        """Close the pipe, wait for the child (killed by pid if stuck in a store call); its exit code."""
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if conn is not None:
            conn.close()
        if proc is None:
            return None
        try:
            return proc.wait(5.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(5.0)


def _die_with_parent(parent: int) -> None:
    """SIGKILL this process when the thread that started it ends (Linux); exit now if it already has."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        sys.exit(0)


def serve(conn: Connection) -> None:
    """Answer requests until the pipe closes."""
    factory = pickle.loads(conn.recv_bytes())
    delivery: LocalDelivery | None = None
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        answer: Any
        try:
            if delivery is None:
                delivery = LocalDelivery(factory())
            answer = delivery.deliver(*request[1:]) if request[0] == "deliver" else delivery.ping()
        except Exception as exc:  # the sink cannot even be built (a wrong setting): the store is unavailable
            log.exception("shipping process: cannot write to the store")
            reason = short(f"cannot open the store: {exc.__class__.__name__}: {exc}")
            answer = Delivery(outage=reason) if request[0] == "deliver" else False
        conn.send(answer)


def main(argv: list[str]) -> None:
    fd, parent = int(argv[0]), int(argv[1])
    _die_with_parent(parent)
    for sig in (signal.SIGINT, signal.SIGTERM):  # for the server (a Ctrl-C, a stop of the group): it ends us
        signal.signal(sig, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(Connection(fd))
