from __future__ import annotations

import logging
from pathlib import Path

from mlmon.inference_log.spool import Spool
from mlmon.store.base import InferenceEvent
from tests.unit.inference_log.helpers import make_events


def _ids(events: list[InferenceEvent]) -> list[str]:
    return [e.prediction_id for e in events]


def _read_all(spool: Spool) -> list[str]:
    return [pid for seg in spool.seal() for pid in _ids(spool.read(seg))]


def test_round_trip_keeps_order_across_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10_000_000, segment_bytes=2_000)
    events = make_events(60)
    for i in range(0, 60, 7):
        assert spool.append(events[i : i + 7]).spooled == len(events[i : i + 7])
    segments = spool.seal()
    assert len(segments) > 3  # several small segments, replayed by sequence number
    assert [s.seq for s in segments] == sorted(s.seq for s in segments)
    back = [e for seg in segments for e in spool.read(seg)]
    assert _ids(back) == _ids(events)
    assert back[5] == events[5]  # every field survives the JSON round trip
    assert spool.size_bytes == sum(p.stat().st_size for p in tmp_path.glob("*.jsonl"))
    for seg in segments:
        spool.remove(seg)
    assert spool.is_empty() and spool.size_bytes == 0 and not list(tmp_path.glob("*.jsonl"))


def test_size_limit_drops_and_reports(tmp_path: Path) -> None:
    one = len(make_events(1)[0].to_doc().__repr__())  # rough size of a line, only to pick a small limit
    spool = Spool(tmp_path, max_bytes=max(1024, one * 5), segment_bytes=1024)
    result = spool.append(make_events(50))
    assert result.spooled > 0 and result.dropped > 0
    assert result.spooled + result.dropped == 50
    assert spool.size_bytes <= spool.max_bytes
    assert len(_read_all(spool)) == result.spooled


def test_torn_last_line_is_skipped_and_logged(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    spool = Spool(tmp_path, max_bytes=1_000_000)
    events = make_events(5)
    spool.append(events)
    spool.close()
    segment = next(tmp_path.glob("*.jsonl"))
    with segment.open("ab") as fh:  # a crash in the middle of a write
        fh.write(b'{"prediction_id": "torn", "@timest')
    restarted = Spool(tmp_path, max_bytes=1_000_000)
    with caplog.at_level(logging.WARNING, logger="mlmon.inference_log.spool"):
        assert _read_all(restarted) == _ids(events)
    assert "torn line" in caplog.text


def test_corrupt_line_in_the_middle_is_skipped(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    spool = Spool(tmp_path, max_bytes=1_000_000)
    first, second = make_events(2), make_events(2, start=10)
    spool.append(first)
    spool.close()
    segment = next(tmp_path.glob("*.jsonl"))
    with segment.open("ab") as fh:
        fh.write(b"not json at all\n")
    spool = Spool(tmp_path, max_bytes=1_000_000)
    spool.append(second)
    with caplog.at_level(logging.WARNING, logger="mlmon.inference_log.spool"):
        assert _read_all(spool) == _ids(first) + _ids(second)
    assert "corrupt" in caplog.text


def test_restart_finds_old_segments_and_appends_after_them(tmp_path: Path) -> None:
    old = make_events(10)
    spool = Spool(tmp_path, max_bytes=1_000_000)
    spool.append(old)
    size = spool.size_bytes
    spool.close()  # the process ends with events still spooled

    restarted = Spool(tmp_path, max_bytes=1_000_000)
    assert not restarted.is_empty()
    assert restarted.size_bytes == size
    new = make_events(3, start=100)
    restarted.append(new)
    assert _read_all(restarted) == _ids(old) + _ids(new)
    assert len(list(tmp_path.glob("*.jsonl"))) == 2  # the old segment is never appended to
