"""The persistent outbox of durable messages."""

from __future__ import annotations

from pathlib import Path

from openvisor.link.messages import LogBatch, LogRecord, Report
from openvisor.link.outbox import Outbox


def _log(seq: int) -> LogBatch:
    return LogBatch(records=(LogRecord(seq=seq, micros=seq, text=b"x"),))


def test_survives_reload(tmp_path: Path) -> None:
    box = Outbox(tmp_path)
    first = box.put(_log(1))
    box.put(Report(report_kind="crash", body={"pc": 1}))
    box.remove(first)

    again = Outbox(tmp_path)
    assert len(again) == 1
    assert isinstance(again.items()[0][1], Report)
    assert again.put(_log(2)) > first + 1


def test_drops_oldest_when_full(tmp_path: Path) -> None:
    box = Outbox(tmp_path, max_messages=3)
    for seq in range(5):
        box.put(_log(seq))
    kept = [message.records[0].seq for _, message in box.items()]
    assert kept == [2, 3, 4]
    assert box.dropped == 2
    assert len(list(tmp_path.glob("*.cbor"))) == 3


def test_unreadable_entry_is_dropped(tmp_path: Path) -> None:
    box = Outbox(tmp_path)
    box.put(_log(1))
    (tmp_path / "0000000000000099.cbor").write_bytes(b"\xff")
    again = Outbox(tmp_path)
    assert len(again) == 1
    assert not (tmp_path / "0000000000000099.cbor").exists()


def test_memory_only() -> None:
    box = Outbox(None)
    seq = box.put(_log(1))
    assert len(box) == 1
    box.remove(seq)
    assert len(box) == 0
