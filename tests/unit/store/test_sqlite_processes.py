"""One writer process and several reader processes on one SQLite file (WAL + busy timeout)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import REPO

WRITER = textwrap.dedent("""
    import sys
    from dataclasses import replace
    from mlmon.store.sqlite import SQLiteStore
    from tests.contract.conftest import SPEC, make_events
    store = SQLiteStore(sys.argv[1], SPEC)
    events = make_events(1000, seed=5)
    for i in range(0, 1000, 100):
        r = store.write_events(events[i:i + 100])
        assert r.stored == 100, r
    print("wrote", 1000)
""")
READER = textwrap.dedent("""
    import sys, time
    from mlmon.store.base import NumericBins
    from mlmon.store.sqlite import SQLiteStore
    from tests.contract.conftest import SPEC, EDGES_X
    from tests.contract.test_store_contract import ALL
    store = SQLiteStore(sys.argv[1], SPEC)
    last, reads, deadline = -1, 0, time.monotonic() + 60
    while time.monotonic() < deadline:
        n = store.count(ALL)
        b = store.binned_counts(ALL, [NumericBins("x", EDGES_X)])["x"]
        assert b.total >= n >= last, (n, last, b.total)  # never goes back, never a half-written batch
        assert n % 100 == 0, n
        last, reads = n, reads + 1
        if n == 1000:
            break
    print("reads", reads, "last", last)
    assert last == 1000
""")


def test_one_writer_several_readers(tmp_path: Path) -> None:
    db = str(tmp_path / "shared.db")
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER, db], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
        )
        for _ in range(2)
    ]
    writer = subprocess.run([sys.executable, "-c", WRITER, db], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert writer.returncode == 0, writer.stderr
    for reader in readers:
        out, err = reader.communicate(timeout=120)
        assert reader.returncode == 0, err
        assert "last 1000" in out
