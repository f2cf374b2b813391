"""The stub's command table against a real emulated core running the debug app."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from openvisor.gdb.commands import GdbStub, StubHooks
from openvisor.gdb.machine_target import MachineTarget
from openvisor.gdb.packets import PacketReader, encode_packet
from openvisor.gdb.target import REGISTER_INDEX
from openvisor.machine import Machine

APP = "g_debug"


@pytest.fixture(scope="module")
def elf(firmware: Callable[[str], Path]) -> Path:
    return firmware(APP)


@pytest.fixture
def machine(elf: Path) -> Machine:
    core = Machine()
    core.load_elf(elf)
    core.reset()
    return core


@pytest.fixture
def stub(machine: Machine) -> GdbStub:
    instance = GdbStub(MachineTarget(lambda: machine))
    instance.link.ack_mode = False
    return instance


def symbol(elf: Path, name: str) -> int:
    from elftools.elf.elffile import ELFFile

    with open(elf, "rb") as handle:
        table = ELFFile(handle).get_section_by_name(".symtab")
        (entry,) = table.get_symbol_by_name(name)
        return int(entry["st_value"]) & ~1


def request(stub: GdbStub, payload: bytes) -> bytes:
    """Send one packet and return the payload of the single reply."""
    replies = PacketReader().feed(stub.receive(encode_packet(payload)))
    assert len(replies) == 1, replies
    return replies[0].payload


def run_until_stop(stub: GdbStub, limit: int = 200) -> bytes:
    for _ in range(limit):
        out = stub.poll(100_000)
        if out:
            (event,) = PacketReader().feed(out)
            return event.payload
    raise AssertionError("the core did not stop")


def test_ack_mode_then_no_ack(machine: Machine) -> None:
    stub = GdbStub(MachineTarget(lambda: machine))
    assert stub.receive(encode_packet(b"QStartNoAckMode")) == b"+$OK#9a"
    assert not stub.link.ack_mode
    assert stub.receive(encode_packet(b"?")) == b"$S05#b8"


def test_supported_features(stub: GdbStub) -> None:
    reply = request(stub, b"qSupported:multiprocess+;swbreak+;hwbreak+")
    features = reply.split(b";")
    assert b"qXfer:features:read+" in features
    assert b"qXfer:memory-map:read+" in features
    assert b"QStartNoAckMode+" in features
    assert b"swbreak+" in features
    assert b"PacketSize=4000" in features


def test_target_xml_in_chunks(stub: GdbStub) -> None:
    # Offsets and lengths are hex: 0x28 = 40 bytes.
    first = request(stub, b"qXfer:features:read:target.xml:0,28")
    assert first.startswith(b"m<?xml")
    assert len(first) == 41
    rest = request(stub, b"qXfer:features:read:target.xml:28,4000")
    assert rest.startswith(b"l")
    assert b"org.gnu.gdb.arm.m-profile" in rest


def test_unknown_packet_answers_empty(stub: GdbStub) -> None:
    assert request(stub, b"qSomethingNew") == b""


def test_malformed_packet_answers_error(stub: GdbStub) -> None:
    assert request(stub, b"mzz,4") == b"E01"
    assert request(stub, b"p999") == b"E01"


def test_registers_read_and_write(stub: GdbStub, machine: Machine) -> None:
    registers = request(stub, b"g")
    assert len(registers) == (17 + 6) * 8 + 16 * 16 + 8
    pc = int.from_bytes(
        bytes.fromhex(request(stub, b"p%x" % REGISTER_INDEX["pc"]).decode()), "little"
    )
    assert pc == machine.pc
    assert request(stub, b"P%x=78563412" % REGISTER_INDEX["r5"]) == b"OK"
    assert machine.reg_read("r5") == 0x12345678
    d1 = REGISTER_INDEX["d1"]
    assert request(stub, b"P%x=0000000000c05e40" % d1) == b"OK"
    assert request(stub, b"p%x" % d1) == b"0000000000c05e40"


def test_memory_inside_and_outside_map(stub: GdbStub, machine: Machine, elf: Path) -> None:
    counter = symbol(elf, "counter")
    assert request(stub, b"M%x,4:2a000000" % counter) == b"OK"
    assert machine.mem_read(counter, 4) == b"\x2a\x00\x00\x00"
    assert request(stub, b"m%x,4" % counter) == b"2a000000"
    # Binary write of a byte that travels escaped on the wire.
    assert request(stub, b"X%x,1:}" % counter) == b"OK"
    assert machine.mem_read(counter, 1) == b"}"
    assert request(stub, b"X%x,0:" % counter) == b"OK"
    assert request(stub, b"m30000000,4") == b"E02"
    assert request(stub, b"m0c000000,4") == b"E02"
    assert request(stub, b"M08000000,4:00000000") == b"E02"


def test_software_breakpoint_leaves_flash(stub: GdbStub, machine: Machine, elf: Path) -> None:
    main = symbol(elf, "main")
    flash_before = machine.mem_read(0x0800_0000, 0x1000)
    assert request(stub, b"Z0,%x,2" % main) == b"OK"
    assert machine.mem_read(0x0800_0000, 0x1000) == flash_before
    assert stub.receive(encode_packet(b"vCont;c")) == b""
    reply = run_until_stop(stub)
    assert reply.startswith(b"T05")
    assert b"swbreak" not in reply  # not negotiated in this session
    assert machine.pc == main
    assert request(stub, b"z0,%x,2" % main) == b"OK"


def test_step_executes_one_instruction(stub: GdbStub, machine: Machine) -> None:
    before = machine.pc
    assert stub.receive(encode_packet(b"vCont;s:1")) == b""
    reply = run_until_stop(stub)
    assert reply.startswith(b"T05")
    assert machine.pc != before
    assert 0 < machine.pc - before <= 4


def test_write_watchpoint_reports_address(stub: GdbStub, elf: Path) -> None:
    watched = symbol(elf, "watched")
    counter = symbol(elf, "counter")
    assert request(stub, b"Z2,%x,4" % watched) == b"OK"
    stub.receive(encode_packet(b"vCont;c"))
    # The first write is the startup code clearing .bss.
    reply = run_until_stop(stub)
    assert b"watch:%x;" % watched in reply
    stub.receive(encode_packet(b"vCont;c"))
    reply = run_until_stop(stub)
    assert b"watch:%x;" % watched in reply
    assert request(stub, b"m%x,4" % counter) == b"10000000"


def test_interrupt_byte_stops_running_core(stub: GdbStub) -> None:
    stub.receive(encode_packet(b"vCont;c"))
    assert stub.poll(100_000) == b""
    stub.receive(b"\x03")
    (event,) = PacketReader().feed(stub.poll(100_000))
    assert event.payload.startswith(b"T02")
    assert not stub.running


def test_fault_stops_with_signal(stub: GdbStub, machine: Machine, elf: Path) -> None:
    main = symbol(elf, "main")
    request(stub, b"Z1,%x,2" % main)
    stub.receive(encode_packet(b"vCont;c"))
    run_until_stop(stub)
    request(stub, b"z1,%x,2" % main)
    fault_request = symbol(elf, "fault_request")
    assert request(stub, b"M%x,4:02000000" % fault_request) == b"OK"
    stub.receive(encode_packet(b"c"))
    reply = run_until_stop(stub)
    assert reply.startswith(b"T04"), reply  # SIGILL: UDF enters the fault handler


def test_monitor_commands(stub: GdbStub, machine: Machine) -> None:
    reset_handler = int.from_bytes(machine.mem_read(0x0800_0004, 4), "little") & ~1
    machine.reg_write("pc", reset_handler + 8)
    events = PacketReader().feed(stub.receive(encode_packet(b"qRcmd," + b"reset".hex().encode())))
    assert len(events) == 2
    assert events[0].payload.startswith(b"O")
    assert events[1].payload == b"OK"
    console = bytes.fromhex(events[0].payload[1:].decode())
    assert b"restarted" in console
    assert machine.pc == reset_handler
    halt = PacketReader().feed(stub.receive(encode_packet(b"qRcmd," + b"halt".hex().encode())))
    assert halt[-1].payload == b"OK"
    other = PacketReader().feed(
        stub.receive(encode_packet(b"qRcmd," + b"frobnicate".hex().encode()))
    )
    assert b"Unknown monitor command" in bytes.fromhex(other[0].payload[1:].decode())


def test_detach_and_kill_close_session(machine: Machine) -> None:
    detached: list[str] = []
    stub = GdbStub(
        MachineTarget(lambda: machine),
        hooks=StubHooks(
            on_detach=lambda: detached.append("D"), on_kill=lambda: detached.append("k")
        ),
    )
    stub.link.ack_mode = False
    assert request(stub, b"D") == b"OK"
    assert stub.closed
    assert detached == ["D"]
    assert request(stub, b"vKill;1") == b"OK"
    assert detached == ["D", "k"]
