"""Target description, memory map, access rules and fault signals."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from openvisor.gdb.target import (
    REGISTER_INDEX,
    REGISTERS,
    AppMapError,
    Signal,
    check_access,
    decode_register,
    encode_register,
    memory_map_xml,
    signal_for_fault,
    target_xml,
)


def test_target_xml_features() -> None:
    root = ET.fromstring(target_xml().split("\n", 2)[2])
    assert root.findtext("architecture") == "arm"
    features = {f.get("name"): [r.get("name") for r in f] for f in root.findall("feature")}
    assert features["org.gnu.gdb.arm.m-profile"] == [
        *(f"r{n}" for n in range(13)),
        "sp",
        "lr",
        "pc",
        "xpsr",
    ]
    assert features["org.gnu.gdb.arm.m-system"][:2] == ["msp", "psp"]
    assert features["org.gnu.gdb.arm.vfp"] == [*(f"d{n}" for n in range(16)), "fpscr"]


def test_target_xml_numbers_match_table() -> None:
    root = ET.fromstring(target_xml().split("\n", 2)[2])
    for reg in root.iter("reg"):
        assert int(reg.get("regnum", "-1")) == REGISTER_INDEX[reg.get("name", "")]
    assert REGISTER_INDEX["pc"] == 15
    assert REGISTERS[REGISTER_INDEX["d0"]].bits == 64


def test_memory_map_lists_app_regions() -> None:
    root = ET.fromstring(memory_map_xml().split("\n", 2)[2])
    regions = [(m.get("type"), m.get("start"), m.get("length")) for m in root.findall("memory")]
    assert regions == [("flash", "0x8000000", "0x100000"), ("ram", "0x20000000", "0x80000")]
    assert root.find("memory/property").text == "0x2000"


@pytest.mark.parametrize(
    ("address", "length", "write"),
    [
        (0x0800_0000, 4, False),
        (0x080F_FFFC, 4, False),
        (0x2000_0000, 4, True),
        (0x2007_FFFC, 4, True),
    ],
)
def test_access_inside_map(address: int, length: int, write: bool) -> None:
    check_access(address, length, write=write)


@pytest.mark.parametrize(
    ("address", "length", "write"),
    [
        (0x0800_0000, 4, True),  # flash is read only for the debugger
        (0x080F_FFFE, 4, False),  # crosses the end of flash
        (0x2007_FFFE, 4, True),  # crosses the end of SRAM
        (0x0C00_0000, 4, False),  # secure flash: the microvisor
        (0x3000_0000, 4, False),  # secure SRAM
        (0x0C1F_E000, 4, False),  # call gateway
        (0xE000_ED00, 4, False),  # system control space
        (0x2008_0000, 4, False),  # the microvisor's half of SRAM
    ],
)
def test_access_outside_map(address: int, length: int, write: bool) -> None:
    with pytest.raises(AppMapError, match="outside the application's map"):
        check_access(address, length, write=write)


def test_register_encoding_is_little_endian() -> None:
    pc = REGISTERS[REGISTER_INDEX["pc"]]
    assert encode_register(pc, 0x0800_0371) == b"71030008"
    assert decode_register(pc, b"71030008") == 0x0800_0371
    d0 = REGISTERS[REGISTER_INDEX["d0"]]
    assert decode_register(d0, encode_register(d0, 0x3FF0_0000_0000_0000)) == 0x3FF0_0000_0000_0000


@pytest.mark.parametrize(
    ("kind", "signal"),
    [
        ("memory", Signal.SIGSEGV),
        ("flash-write", Signal.SIGSEGV),
        ("stacking", Signal.SIGBUS),
        ("invalid-state", Signal.SIGILL),
        ("undefinstr", Signal.SIGILL),
        ("divbyzero", Signal.SIGFPE),
        ("something new", Signal.SIGSEGV),
    ],
)
def test_fault_signals(kind: str, signal: Signal) -> None:
    assert signal_for_fault(kind) is signal
