"""The GDB stub: a command table over the packet link and the target view.

:class:`GdbStub` does no I/O. ``receive`` takes bytes from GDB and returns
the bytes to send back; while the application runs, ``poll`` lets it run one
bounded slice and returns the stop reply once it stops. A failing command
answers an error packet (``E01`` bad arguments, ``E02`` outside the
application's map, ``E03`` target refused) and the session goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from openvisor.errors import DebugError
from openvisor.gdb.packets import EventKind, PacketLink
from openvisor.gdb.target import (
    REGISTER_INDEX,
    REGISTERS,
    AppMapError,
    DebugTarget,
    Signal,
    StopEvent,
    StopKind,
    WatchKind,
    check_access,
    decode_register,
    encode_register,
    memory_map_xml,
    target_xml,
)

log = logging.getLogger(__name__)

ERROR_ARGUMENTS = b"E01"
ERROR_MEMORY = b"E02"
ERROR_TARGET = b"E03"

PACKET_SIZE = 0x4000
SLICE_CYCLES = 200_000

_WATCH_KINDS = {2: WatchKind.WRITE, 3: WatchKind.READ, 4: WatchKind.ACCESS}
_EXPEDITED = ("r7", "sp", "lr", "pc")

Handler = Callable[[bytes], bytes | None]


@dataclass
class StubHooks:
    """Callbacks from the stub to the device when GDB detaches or kills the application."""

    on_detach: Callable[[], None] | None = None
    on_kill: Callable[[], None] | None = None


class _ArgumentError(DebugError):
    """A packet's arguments could not be parsed."""


def _parse_hex(text: bytes) -> int:
    try:
        return int(text, 16)
    except ValueError as exc:
        raise _ArgumentError(f"expected a hex number, got {text[:40]!r}") from exc


def _split_address_length(text: bytes) -> tuple[int, int]:
    address, _, length = text.partition(b",")
    return _parse_hex(address), _parse_hex(length)


class GdbStub:
    """A GDB remote stub for one application core.

    Example::

        stub = GdbStub(target)
        outgoing = stub.receive(b"$?#3f")   # b"+$S05#b8"
        while stub.running:
            outgoing += stub.poll()        # runs a slice, may return the stop reply
    """

    def __init__(self, target: DebugTarget, *, hooks: StubHooks | None = None) -> None:
        self.target = target
        self.hooks = hooks or StubHooks()
        self.link = PacketLink()
        self.running = False
        self.closed = False
        self._stepping = False
        self._interrupt_requested = False
        self._last_stop = StopEvent(StopKind.HALT, Signal.SIGTRAP)
        self._swbreak = False
        self._hwbreak = False
        self._console: list[bytes] = []
        self._table: dict[bytes, Handler] = {
            b"?": self._cmd_last_stop,
            b"g": self._cmd_read_registers,
            b"G": self._cmd_write_registers,
            b"p": self._cmd_read_register,
            b"P": self._cmd_write_register,
            b"m": self._cmd_read_memory,
            b"M": self._cmd_write_memory,
            b"X": self._cmd_write_binary,
            b"Z": self._cmd_insert_point,
            b"z": self._cmd_remove_point,
            b"c": self._cmd_continue,
            b"C": self._cmd_continue_signal,
            b"s": self._cmd_step,
            b"S": self._cmd_step_signal,
            b"H": self._cmd_ok,
            b"T": self._cmd_ok,
            b"D": self._cmd_detach,
            b"k": self._cmd_kill,
            b"qSupported": self._cmd_supported,
            b"qXfer:features:read:": self._cmd_xfer_features,
            b"qXfer:memory-map:read:": self._cmd_xfer_memory_map,
            b"qAttached": lambda _args: b"1",
            b"qSymbol": lambda _args: b"OK",
            b"qRcmd,": self._cmd_monitor,
            b"QStartNoAckMode": self._cmd_no_ack,
            b"vCont?": lambda _args: b"vCont;c;C;s;S",
            b"vCont;": self._cmd_vcont,
            b"vKill;": self._cmd_vkill,
        }
        # Longest prefix first, so "qXfer:memory-map:read:" wins over "q...".
        self._prefixes = sorted(self._table, key=len, reverse=True)

    # -- I/O entry points ----------------------------------------------------

    def receive(self, data: bytes) -> bytes:
        """Process bytes from GDB and return the bytes to send back."""
        events, outgoing = self.link.receive(data)
        out = bytearray(outgoing)
        for event in events:
            if event.kind is EventKind.INTERRUPT:
                if self.running:
                    self._interrupt_requested = True
                continue
            ack_mode_before = self.link.ack_mode
            reply = self._dispatch(event.payload)
            for line in self._console:
                out += self.link.send(line)
            self._console.clear()
            if reply is not None:
                out += self.link.send(reply)
            if ack_mode_before and not self.link.ack_mode:
                log.debug("Enter no-ack mode")
        return bytes(out)

    def poll(self, max_cycles: int = SLICE_CYCLES) -> bytes:
        """Run the core one slice if it is running; return the stop reply once it stops."""
        if not self.running:
            return b""
        if self._interrupt_requested:
            self._interrupt_requested = False
            return self._stopped(StopEvent(StopKind.INTERRUPT, Signal.SIGINT))
        try:
            event = self.target.step() if self._stepping else self.target.resume(max_cycles)
        except DebugError as exc:
            log.warning("Stop after a target error (error=%s)", exc)
            event = StopEvent(StopKind.FAULT, Signal.SIGSEGV, description=str(exc))
        if event is None:
            return b""
        return self._stopped(event)

    @property
    def stepping(self) -> bool:
        """Whether the resumed core is single-stepping (the stub steps it itself)."""
        return self.running and self._stepping

    def interrupt(self) -> None:
        """Ask a running core to stop, as the 0x03 byte does."""
        if self.running:
            self._interrupt_requested = True

    # -- dispatch ------------------------------------------------------------

    def _dispatch(self, payload: bytes) -> bytes | None:
        for prefix in self._prefixes:
            if payload.startswith(prefix):
                handler = self._table[prefix]
                args = payload[len(prefix) :]
                break
        else:
            # By RSP convention an empty reply means the packet is not supported.
            log.debug("Reply empty to unsupported packet (packet=%r)", payload[:40])
            return b""
        if self.running and prefix not in (b"?",):
            log.warning("Ignore packet while running (packet=%r)", payload[:40])
            return None
        try:
            return handler(args)
        except AppMapError as exc:
            log.info("Reject memory access (address=%#010x, length=%d)", exc.address, exc.length)
            return ERROR_MEMORY
        except _ArgumentError as exc:
            log.warning("Reject malformed packet (packet=%r, error=%s)", payload[:40], exc)
            return ERROR_ARGUMENTS
        except DebugError as exc:
            log.warning("Fail packet (packet=%r, error=%s)", payload[:40], exc)
            return ERROR_TARGET

    def _stopped(self, event: StopEvent) -> bytes:
        self.running = False
        self._stepping = False
        self._last_stop = event
        return self.link.send(self._stop_reply(event))

    def _stop_reply(self, event: StopEvent) -> bytes:
        reply = b"T%02x" % int(event.signal)
        if event.kind is StopKind.WATCHPOINT and event.watch_kind is not None:
            reply += b"%s:%x;" % (event.watch_kind.value.encode(), event.watch_address)
        elif event.kind is StopKind.BREAKPOINT and self._swbreak:
            reply += b"swbreak:;"
        for name in _EXPEDITED:
            reg = REGISTERS[REGISTER_INDEX[name]]
            value = self.target.read_register(name)
            reply += b"%02x:%s;" % (REGISTER_INDEX[name], encode_register(reg, value))
        return reply

    def _resume(self, *, step: bool) -> None:
        self.running = True
        self._stepping = step
        self._interrupt_requested = False

    # -- handlers -----------------------------------------------------------

    def _cmd_ok(self, _args: bytes) -> bytes:
        return b"OK"

    def _cmd_last_stop(self, _args: bytes) -> bytes:
        if self._last_stop.kind is StopKind.HALT:
            return b"S%02x" % int(self._last_stop.signal)
        return self._stop_reply(self._last_stop)

    def _cmd_supported(self, args: bytes) -> bytes:
        features = args.lstrip(b":").split(b";")
        self._swbreak = b"swbreak+" in features
        self._hwbreak = b"hwbreak+" in features
        reply = [
            b"PacketSize=%x" % PACKET_SIZE,
            b"qXfer:features:read+",
            b"qXfer:memory-map:read+",
            b"QStartNoAckMode+",
            b"vContSupported+",
        ]
        if self._swbreak:
            reply.append(b"swbreak+")
        if self._hwbreak:
            reply.append(b"hwbreak+")
        return b";".join(reply)

    def _cmd_no_ack(self, _args: bytes) -> bytes:
        # The OK still goes out acknowledged; the link drops acks afterwards.
        self.link.ack_mode = False
        return b"OK"

    def _xfer(self, document: str, args: bytes) -> bytes:
        _annex, _, span = args.partition(b":")
        offset, length = _split_address_length(span)
        data = document.encode("utf-8")
        chunk = data[offset : offset + length]
        more = offset + length < len(data)
        return (b"m" if more else b"l") + chunk

    def _cmd_xfer_features(self, args: bytes) -> bytes:
        if not args.startswith(b"target.xml:"):
            return b"E00"
        return self._xfer(target_xml(), args)

    def _cmd_xfer_memory_map(self, args: bytes) -> bytes:
        return self._xfer(memory_map_xml(), args)

    def _cmd_read_registers(self, _args: bytes) -> bytes:
        parts = [encode_register(reg, self.target.read_register(reg.name)) for reg in REGISTERS]
        return b"".join(parts)

    def _cmd_write_registers(self, args: bytes) -> bytes:
        offset = 0
        for reg in REGISTERS:
            width = reg.bits // 4
            field = args[offset : offset + width]
            if len(field) < width:
                break
            if not field.startswith(b"xx"):
                self.target.write_register(reg.name, decode_register(reg, field))
            offset += width
        return b"OK"

    def _register_at(self, text: bytes) -> int:
        regnum = _parse_hex(text)
        if regnum >= len(REGISTERS):
            raise _ArgumentError(f"register number {regnum} is not in the target description")
        return regnum

    def _cmd_read_register(self, args: bytes) -> bytes:
        reg = REGISTERS[self._register_at(args)]
        return encode_register(reg, self.target.read_register(reg.name))

    def _cmd_write_register(self, args: bytes) -> bytes:
        number, _, value = args.partition(b"=")
        reg = REGISTERS[self._register_at(number)]
        self.target.write_register(reg.name, decode_register(reg, value))
        return b"OK"

    def _cmd_read_memory(self, args: bytes) -> bytes:
        address, length = _split_address_length(args)
        length = min(length, PACKET_SIZE // 2)
        check_access(address, length, write=False)
        return self.target.read_memory(address, length).hex().encode("ascii")

    def _cmd_write_memory(self, args: bytes) -> bytes:
        header, _, data = args.partition(b":")
        address, length = _split_address_length(header)
        try:
            raw = bytes.fromhex(data.decode("ascii"))
        except ValueError as exc:
            raise _ArgumentError("memory data is not hex") from exc
        return self._write(address, length, raw)

    def _cmd_write_binary(self, args: bytes) -> bytes:
        header, _, raw = args.partition(b":")
        address, length = _split_address_length(header)
        if length == 0:
            # GDB probes for X support with an empty write.
            return b"OK"
        return self._write(address, length, raw)

    def _write(self, address: int, length: int, raw: bytes) -> bytes:
        if len(raw) != length:
            raise _ArgumentError(f"write announces {length} bytes but carries {len(raw)}")
        check_access(address, length, write=True)
        self.target.write_memory(address, raw)
        return b"OK"

    def _parse_point(self, args: bytes) -> tuple[int, int, int]:
        fields = args.split(b";")[0].split(b",")
        if len(fields) < 3:
            raise _ArgumentError(f"breakpoint packet needs type,address,kind: {args[:40]!r}")
        return _parse_hex(fields[0]), _parse_hex(fields[1]), _parse_hex(fields[2])

    def _cmd_insert_point(self, args: bytes) -> bytes:
        point_type, address, size = self._parse_point(args)
        if point_type in (0, 1):
            check_access(address, 2, write=False)
            self.target.insert_breakpoint(address)
            return b"OK"
        if point_type in _WATCH_KINDS:
            check_access(address, max(size, 1), write=False)
            self.target.insert_watchpoint(address, size, _WATCH_KINDS[point_type])
            return b"OK"
        return b""

    def _cmd_remove_point(self, args: bytes) -> bytes:
        point_type, address, size = self._parse_point(args)
        if point_type in (0, 1):
            self.target.remove_breakpoint(address)
            return b"OK"
        if point_type in _WATCH_KINDS:
            self.target.remove_watchpoint(address, size, _WATCH_KINDS[point_type])
            return b"OK"
        return b""

    def _cmd_continue(self, args: bytes) -> None:
        self._resume_at(args, step=False)

    def _cmd_step(self, args: bytes) -> None:
        self._resume_at(args, step=True)

    def _cmd_continue_signal(self, args: bytes) -> None:
        # "C sig[;addr]": the application has no signals to deliver, so sig is dropped.
        self._resume_at(args.partition(b";")[2], step=False)

    def _cmd_step_signal(self, args: bytes) -> None:
        self._resume_at(args.partition(b";")[2], step=True)

    def _resume_at(self, address: bytes, *, step: bool) -> None:
        if address:
            self.target.write_register("pc", _parse_hex(address))
        self._resume(step=step)

    def _cmd_vcont(self, args: bytes) -> bytes | None:
        # One thread: the first action that names no thread, or any thread, applies.
        for action in args.split(b";"):
            verb, _, thread = action.partition(b":")
            if thread not in (b"", b"-1", b"0", b"1", b"p1.1", b"p1.-1"):
                continue
            if verb[:1] in (b"c", b"C"):
                self._resume(step=False)
                return None
            if verb[:1] in (b"s", b"S"):
                self._resume(step=True)
                return None
            if verb[:1] == b"t":
                return b"OK"
        raise _ArgumentError(f"no vCont action applies to the application: {args[:40]!r}")

    def _cmd_detach(self, _args: bytes) -> bytes:
        self.closed = True
        if self.hooks.on_detach is not None:
            self.hooks.on_detach()
        return b"OK"

    def _cmd_kill(self, _args: bytes) -> bytes | None:
        self.closed = True
        if self.hooks.on_kill is not None:
            self.hooks.on_kill()
        return None

    def _cmd_vkill(self, args: bytes) -> bytes:
        # Unlike 'k', 'vKill;pid' expects a reply before GDB drops the connection.
        self._cmd_kill(args)
        return b"OK"

    def _cmd_monitor(self, args: bytes) -> bytes:
        try:
            command = bytes.fromhex(args.decode("ascii")).decode("utf-8").strip()
        except ValueError as exc:
            raise _ArgumentError("monitor command is not hex") from exc
        if command == "reset":
            self.target.reset()
            self._last_stop = StopEvent(StopKind.HALT, Signal.SIGTRAP)
            text = "Application restarted and held at its reset vector\n"
        elif command == "halt":
            text = "Application halted\n"
        elif command in ("help", ""):
            text = "monitor reset: restart the application and hold it at its reset vector\n"
            text += "monitor halt: keep the application halted\n"
        else:
            text = f"Unknown monitor command {command!r}: use 'monitor help'\n"
        # Console output travels as an 'O' packet before the final reply.
        self._console.append(b"O" + text.encode("utf-8").hex().encode("ascii"))
        return b"OK"
