"""GDB remote serial protocol framing: packets, checksums, acks and the interrupt byte.

A packet on the wire is ``$<payload>#<checksum>``, where the checksum is the
sum of the payload bytes modulo 256 as two lower-case hex digits. Inside a
payload the bytes ``#``, ``$``, ``}`` and ``*`` are escaped as ``}`` followed
by the byte XOR 0x20. Outside packets the receiver acknowledges each packet
with ``+`` (good checksum) or ``-`` (resend), until both sides agree on
no-ack mode (``QStartNoAckMode``). A lone 0x03 byte outside a packet asks
the target to stop (Ctrl-C in GDB).

The classes here do no I/O: :class:`PacketReader` turns received bytes into
events and :class:`PacketLink` adds the acknowledgement rules on top.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

log = logging.getLogger(__name__)
trace = logging.getLogger(__name__ + ".trace")

INTERRUPT_BYTE = 0x03
ESCAPE_BYTE = ord("}")
ESCAPE_XOR = 0x20
_MUST_ESCAPE = frozenset(b"#$}*")

# A payload longer than this is not a GDB packet: the stub advertises a
# PacketSize of 16 KiB, and a client that ignores it is dropped rather than
# buffered without bound.
MAX_PACKET_BYTES = 64 * 1024


class EventKind(Enum):
    """Kind of one unit of received bytes."""

    PACKET = "packet"
    ACK = "ack"
    NAK = "nak"
    INTERRUPT = "interrupt"


@dataclass(frozen=True)
class Event:
    """One received unit: a packet (with its unescaped payload), an ack, a nak or Ctrl-C."""

    kind: EventKind
    payload: bytes = b""
    checksum_ok: bool = True


def checksum(data: bytes) -> int:
    """Return the RSP checksum of the escaped payload bytes."""
    return sum(data) & 0xFF


def escape(data: bytes) -> bytes:
    """Escape the bytes that may not appear raw inside a packet."""
    out = bytearray()
    for byte in data:
        if byte in _MUST_ESCAPE:
            out.append(ESCAPE_BYTE)
            out.append(byte ^ ESCAPE_XOR)
        else:
            out.append(byte)
    return bytes(out)


def unescape(data: bytes) -> bytes:
    """Undo :func:`escape`; a trailing lone escape byte is dropped."""
    out = bytearray()
    escaped = False
    for byte in data:
        if escaped:
            out.append(byte ^ ESCAPE_XOR)
            escaped = False
        elif byte == ESCAPE_BYTE:
            escaped = True
        else:
            out.append(byte)
    return bytes(out)


def encode_packet(payload: bytes) -> bytes:
    """Frame a payload as ``$payload#cs``, escaping it first."""
    body = escape(payload)
    return b"$" + body + b"#" + b"%02x" % checksum(body)


class PacketReader:
    """Split a received byte stream into packets, acks, naks and interrupts.

    Example::

        reader = PacketReader()
        events = reader.feed(b"+$g#67\\x03")
        # [ACK, PACKET(b"g"), INTERRUPT]
    """

    def __init__(self) -> None:
        self._body = bytearray()
        self._checksum = bytearray()
        self._state = "idle"

    def feed(self, data: bytes) -> list[Event]:
        """Consume received bytes and return the complete events they finish."""
        events: list[Event] = []
        for byte in data:
            event = self._feed_byte(byte)
            if event is not None:
                events.append(event)
        return events

    def _feed_byte(self, byte: int) -> Event | None:
        if self._state == "idle":
            return self._feed_idle(byte)

        if self._state == "body":
            if byte == ord("#"):
                self._state = "checksum"
            elif len(self._body) >= MAX_PACKET_BYTES:
                log.warning("Drop oversized packet (size=%d)", len(self._body))
                self._reset()
            else:
                self._body.append(byte)
            return None

        self._checksum.append(byte)
        if len(self._checksum) < 2:
            return None
        body = bytes(self._body)
        try:
            expected = int(self._checksum.decode("ascii"), 16)
        except (UnicodeDecodeError, ValueError):
            expected = -1
        self._reset()
        ok = expected == checksum(body)
        trace.debug("<- $%s#%s ok=%s", body[:200], "%02x" % (expected & 0xFF), ok)
        return Event(EventKind.PACKET, unescape(body), checksum_ok=ok)

    def _feed_idle(self, byte: int) -> Event | None:
        if byte == ord("$"):
            self._state = "body"
            return None
        if byte == ord("+"):
            return Event(EventKind.ACK)
        if byte == ord("-"):
            return Event(EventKind.NAK)
        if byte == INTERRUPT_BYTE:
            return Event(EventKind.INTERRUPT)
        # Line noise between packets is ignored, as the protocol allows.
        return None

    def _reset(self) -> None:
        self._body.clear()
        self._checksum.clear()
        self._state = "idle"


class PacketLink:
    """Acknowledgement rules of one RSP connection, without I/O.

    ``receive`` takes bytes from the peer and returns the packets to act on
    plus the bytes to send back (acks and resends); ``send`` frames a reply.
    After ``QStartNoAckMode`` has been answered, ``ack_mode`` is cleared and
    neither side sends ``+`` or ``-`` any more.

    Example::

        link = PacketLink()
        packets, outgoing = link.receive(b"$g#67")
        # packets == [Event(PACKET, b"g")], outgoing == b"+"
    """

    def __init__(self) -> None:
        self.ack_mode = True
        self._reader = PacketReader()
        self._last_sent = b""

    def receive(self, data: bytes) -> tuple[list[Event], bytes]:
        """Return the packet and interrupt events in ``data`` and the bytes to send back."""
        events: list[Event] = []
        outgoing = bytearray()
        for event in self._reader.feed(data):
            if event.kind is EventKind.PACKET:
                if not event.checksum_ok:
                    if self.ack_mode:
                        outgoing += b"-"
                    log.warning("Drop packet with a bad checksum (size=%d)", len(event.payload))
                    continue
                if self.ack_mode:
                    outgoing += b"+"
                events.append(event)
            elif event.kind is EventKind.NAK:
                if self.ack_mode and self._last_sent:
                    outgoing += self._last_sent
            elif event.kind is EventKind.INTERRUPT:
                events.append(event)
        return events, bytes(outgoing)

    def send(self, payload: bytes) -> bytes:
        """Return the framed packet for ``payload``, kept for a resend on ``-``."""
        frame = encode_packet(payload)
        self._last_sent = frame
        trace.debug("-> %s", frame[:200])
        return frame
