"""The Prometheus client during an outage (a server that accepts connections and never answers: one timeout,
then fail fast and say so once) and with no samples for a window (no crash)."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator

import pytest

from mlmon.errors import BackendUnavailable
from mlmon.promql import PrometheusClient, Sample, histogram_bins


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP listener that accepts and never answers (a hung Prometheus)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                held.append(conn)
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    for conn in held:
        conn.close()
    listener.close()


def test_an_outage_costs_one_timeout_and_is_logged_once(silent_server: str, caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    client = PrometheusClient(silent_server, timeout=0.3, retry_after_s=30, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="mlmon.promql")
    with pytest.raises(BackendUnavailable, match="unreachable"):
        client.query("up")
    connections_before = len(caplog.records)
    for _ in range(20):  # the rest of a run's queries fail at once
        with pytest.raises(BackendUnavailable, match="not retried before 30s"):
            client.scalar("sum(up)")
    assert len(caplog.records) == connections_before == 1
    assert "skipped until it answers" in caplog.records[0].getMessage()
    now[0] = 31.0  # after retry_after_s it is asked again (and still hangs: no second warning)
    with pytest.raises(BackendUnavailable, match="unreachable"):
        client.query("up")
    assert len(caplog.records) == 1
    client.close()


def test_no_samples_for_the_window_is_an_empty_histogram() -> None:
    assert histogram_bins([]) == ([], [])
    bounds, counts = histogram_bins([Sample({"le": "0.5"}, 2.0), Sample({"le": "+Inf"}, 5.0)])
    assert (bounds, counts) == ([0.5], [2.0, 3.0])
