"""Log batches from a hostile device: the consumer stores or drops them, never raises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from openvisor.cloud.db import session_scope
from openvisor.cloud.devicelink import DeviceLinkConsumer
from openvisor.cloud.models import LogEntry
from openvisor.cloud.service.httpproxy import ProxyPolicy
from openvisor.link import messages as msg
from openvisor.link.identity import DeviceIdentity
from openvisor.link.memory import MemoryHub


@pytest.fixture(params=["sqlite", "postgres"])
def consumer_and_device(request, tmp_path: Path, make_cloud) -> Any:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        cloud = make_cloud(f"sqlite:///{tmp_path / 'cloud.db'}")
    else:
        cloud = make_cloud(request.getfixturevalue("postgres_url"))
    hub = MemoryHub()
    consumer = DeviceLinkConsumer(
        hub.service_link(), sessions=cloud.sessions, box=cloud.box, proxy_policy=ProxyPolicy()
    )
    identity = DeviceIdentity.create(tmp_path / "device")
    cloud.provision(identity)
    yield cloud, consumer, identity.device_id
    consumer.stop()


def stored_logs(cloud: Any, device_id: str) -> list[LogEntry]:
    with session_scope(cloud.sessions) as session:
        rows = session.scalars(select(LogEntry).where(LogEntry.device_sid == device_id))
        return list(rows)


@pytest.mark.parametrize(
    ("record", "stored_text"),
    [
        (msg.LogRecord(seq=2**64, micros=1, text=b"seq past BIGINT"), None),
        (msg.LogRecord(seq=-(2**64), micros=1, text=b"seq below BIGINT"), None),
        (msg.LogRecord(seq=1, micros=1, text=b"nul \x00 inside"), "nul \ufffd inside"),
        (msg.LogRecord(seq=1, micros=2**80, text=b"huge uptime"), "huge uptime"),
        (
            msg.LogRecord(seq=1, micros=1, text=b"huge wall time", unix_micros=2**80),
            "huge wall time",
        ),
        (
            msg.LogRecord(seq=1, micros=1, text=b"negative wall time", unix_micros=-(2**62)),
            "negative wall time",
        ),
    ],
)
def test_hostile_log_record_handled(
    consumer_and_device: Any, record: msg.LogRecord, stored_text: str | None
) -> None:
    cloud, consumer, device_id = consumer_and_device
    consumer.handle_message(device_id, msg.LogBatch(records=(record,), sent_micros=-(2**70)))
    consumer.handle_message(
        device_id, msg.LogBatch(records=(msg.LogRecord(seq=5, micros=1, text=b"next"),))
    )

    rows = stored_logs(cloud, device_id)
    messages = [row.message for row in rows]
    assert "next" in messages
    if stored_text is None:
        assert len(rows) == 1
    else:
        assert stored_text in messages
    for row in rows:
        assert row.date_logged.year >= 2000
