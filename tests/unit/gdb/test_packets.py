"""Packet framing, checksums, escaping and acknowledgement rules."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from openvisor.gdb.packets import (
    EventKind,
    PacketLink,
    PacketReader,
    checksum,
    encode_packet,
    escape,
    unescape,
)


def test_encode_known_packet() -> None:
    assert encode_packet(b"g") == b"$g#67"
    assert encode_packet(b"OK") == b"$OK#9a"


def test_escape_special_bytes() -> None:
    assert escape(b"a#b$c}d*") == b"a}\x03b}\x04c}]d}\x0a"
    assert unescape(escape(b"a#b$c}d*")) == b"a#b$c}d*"


@given(st.binary(max_size=300))
def test_escape_round_trip(data: bytes) -> None:
    escaped = escape(data)
    assert b"#" not in escaped
    assert b"$" not in escaped
    assert unescape(escaped) == data


@given(st.binary(max_size=300), st.integers(min_value=1, max_value=7))
def test_reader_reassembles_split_input(data: bytes, chunk: int) -> None:
    frame = encode_packet(data)
    reader = PacketReader()
    events = []
    for start in range(0, len(frame), chunk):
        events += reader.feed(frame[start : start + chunk])
    assert len(events) == 1
    assert events[0].kind is EventKind.PACKET
    assert events[0].checksum_ok
    assert events[0].payload == data


def test_reader_sees_acks_and_interrupt() -> None:
    events = PacketReader().feed(b"+-\x03$g#67")
    kinds = [event.kind for event in events]
    assert kinds == [EventKind.ACK, EventKind.NAK, EventKind.INTERRUPT, EventKind.PACKET]


def test_reader_flags_bad_checksum() -> None:
    (event,) = PacketReader().feed(b"$g#00")
    assert event.kind is EventKind.PACKET
    assert not event.checksum_ok


def test_link_acks_good_and_naks_bad() -> None:
    link = PacketLink()
    events, outgoing = link.receive(b"$g#67$m0,4#00")
    assert [event.payload for event in events] == [b"g"]
    assert outgoing == b"+-"


def test_link_resends_on_nak() -> None:
    link = PacketLink()
    frame = link.send(b"OK")
    _events, outgoing = link.receive(b"-")
    assert outgoing == frame


def test_link_no_ack_mode_stays_silent() -> None:
    link = PacketLink()
    link.ack_mode = False
    events, outgoing = link.receive(b"$g#67$g#00")
    assert [event.payload for event in events] == [b"g"]
    assert outgoing == b""


def test_checksum_is_modulo_256() -> None:
    assert checksum(b"\xff\x02") == 1
