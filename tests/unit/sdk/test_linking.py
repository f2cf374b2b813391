"""Linking against the SDK: every call reaches its gateway entry, in Thumb state."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from elftools.elf.elffile import ELFFile

SDK = Path(__file__).resolve().parents[3] / "sdk"


def _caller_source(mv_abi: ModuleType) -> str:
    """A program that calls every public call with zero arguments."""
    lines = ['#include "mv_syscalls.h"', "", "int main(void)", "{"]
    for call in mv_abi.PUBLIC_CALLS:
        args = ", ".join(f"({param.ctype})0" for param in call.params)
        lines.append(f"    (void){call.name}({args});")
    lines += ["    return 0;", "}", ""]
    return "\n".join(lines)


def _link(compile_source: Callable[..., Any], mv_abi: ModuleType, tmp_path: Path) -> ELFFile:
    flags = [
        str(SDK / "startup" / "startup.c"),
        f"-T{SDK / 'ld' / 'app.ld'}",
        f"-L{SDK / 'ld'}",
        "--specs=nano.specs",
        "--specs=nosys.specs",
    ]
    result = compile_source(_caller_source(mv_abi), flags=flags, link=True)
    assert result.returncode == 0, result.stderr
    return ELFFile(open(tmp_path / "unit.elf", "rb"))


def test_call_symbols_are_gateway_addresses(
    compile_source: Callable[..., Any], sdk_tool: Callable[[str], ModuleType], tmp_path: Path
) -> None:
    mv_abi = sdk_tool("mv_abi")
    elf = _link(compile_source, mv_abi, tmp_path)
    symbols = {s.name: s["st_value"] for s in elf.get_section_by_name(".symtab").iter_symbols()}
    for call in mv_abi.PUBLIC_CALLS:
        assert symbols[call.name] == call.address | 1, call.name
    elf.stream.close()


def test_calls_branch_through_thumb_veneers(
    compile_source: Callable[..., Any], sdk_tool: Callable[[str], ModuleType], tmp_path: Path
) -> None:
    # The gateway is out of BL range of flash, so the linker adds a veneer per
    # call: LDR.W PC, [PC] followed by the target address with the Thumb bit.
    mv_abi = sdk_tool("mv_abi")
    elf = _link(compile_source, mv_abi, tmp_path)
    text = elf.get_section_by_name(".text")
    data, base = text.data(), text["sh_addr"]
    veneers = {
        s.name: s["st_value"]
        for s in elf.get_section_by_name(".symtab").iter_symbols()
        if s.name.endswith("_veneer")
    }
    for call in mv_abi.PUBLIC_CALLS:
        address = veneers[f"__{call.name}_veneer"] & ~1
        offset = address - base
        assert data[offset : offset + 4] == bytes.fromhex("5ff800f0"), call.name
        (target,) = struct.unpack_from("<I", data, offset + 4)
        assert target == call.address | 1, call.name
    elf.stream.close()


def test_stack_top_defaults_to_end_of_sram(
    compile_source: Callable[..., Any], sdk_tool: Callable[[str], ModuleType], tmp_path: Path
) -> None:
    elf = _link(compile_source, sdk_tool("mv_abi"), tmp_path)
    vectors = elf.get_section_by_name(".isr_vector")
    initial_sp, reset = struct.unpack_from("<II", vectors.data())
    assert vectors["sh_addr"] == 0x0800_0000
    assert initial_sp == 0x2008_0000
    assert reset & 1 == 1
    elf.stream.close()


def test_cmsis_and_numbered_handlers(compile_source: Callable[..., Any], tmp_path: Path) -> None:
    # TIM8_BRK (IRQ 51) defined by CMSIS name, TIM1_BRK (IRQ 41) by number.
    source = """
volatile int hits;
void TIM8_BRK_IRQHandler(void) { hits++; }
void IRQ41_Handler(void) { hits += 2; }
int main(void) { return hits; }
"""
    flags = [
        str(SDK / "startup" / "startup.c"),
        f"-T{SDK / 'ld' / 'app.ld'}",
        f"-L{SDK / 'ld'}",
        "--specs=nano.specs",
        "--specs=nosys.specs",
    ]
    result = compile_source(source, flags=flags, link=True)
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "unit.elf", "rb") as stream:
        elf = ELFFile(stream)
        symbols = {s.name: s["st_value"] for s in elf.get_section_by_name(".symtab").iter_symbols()}
        vectors = elf.get_section_by_name(".isr_vector").data()
    entry = lambda irqn: struct.unpack_from("<I", vectors, 4 * (16 + irqn))[0]
    assert entry(51) == symbols["TIM8_BRK_IRQHandler"] | 1
    # IRQ 41's CMSIS default forwards to the numbered handler the app defined.
    assert entry(41) == symbols["TIM1_BRK_IRQHandler"] | 1
    assert symbols["IRQ41_Handler"] != symbols["Default_Handler"]
    assert entry(0) == symbols["WWDG_IRQHandler"] | 1
