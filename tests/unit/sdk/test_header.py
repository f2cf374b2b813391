"""sdk/include/mv_syscalls.h: compiles as C and C++, pins every layout, matches the ABI."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from openvisor.kernel import abi, structs

HEADER = Path(__file__).resolve().parents[3] / "sdk" / "include" / "mv_syscalls.h"
INCLUDE = '#include "mv_syscalls.h"\n'


def _header_text() -> str:
    return HEADER.read_text()


def _prototypes() -> dict[str, list[str]]:
    """Map each declared call to its parameter types, spelled as in the header."""
    text = re.sub(r"\s+", " ", _header_text())
    found: dict[str, list[str]] = {}
    for name, params in re.findall(r"enum MvStatus (mv\w+)\(([^)]*)\);", text):
        types = []
        for param in params.split(","):
            param = param.strip()
            if param == "void":
                continue
            match = re.fullmatch(r"(.*?)\s*(\**)\s*(\w+)", param)
            assert match, f"cannot parse parameter {param!r} of {name}"
            stars = match.group(2)
            types.append(match.group(1).strip() + (" " + stars if stars else ""))
        found[name] = types
    return found


def _asserted_layouts() -> dict[str, tuple[int, dict[str, int]]]:
    """Sizes and member offsets pinned by MV_ASSERT_SIZE / MV_ASSERT_OFFSET."""
    text = re.sub(r"\s+", " ", _header_text())
    layouts: dict[str, tuple[int, dict[str, int]]] = {}
    for name, size in re.findall(r"MV_ASSERT_SIZE\(struct (\w+), (\d+)\);", text):
        layouts[name] = (int(size), {})
    for name, member, offset in re.findall(
        r"MV_ASSERT_OFFSET\(struct (\w+), ([\w.]+), (\d+)\);", text
    ):
        layouts[name][1][member] = int(offset)
    return layouts


def _kernel_layouts() -> list[structs.Layout]:
    return [value for value in vars(structs).values() if isinstance(value, structs.Layout)]


@pytest.mark.parametrize(
    ("language", "standard"),
    [("c", "-std=gnu11"), ("c", "-std=c11"), ("c++", "-std=gnu++17"), ("c++", "-std=c++11")],
)
def test_header_compiles(compile_source: Callable[..., Any], language: str, standard: str) -> None:
    source = INCLUDE + "int unit_marker;\n"
    result = compile_source(source, cplusplus=language == "c++", flags=[standard])
    assert result.returncode == 0, result.stderr


def test_header_compiles_pedantic_cplusplus(compile_source: Callable[..., Any]) -> None:
    result = compile_source(INCLUDE, cplusplus=True, flags=["-std=c++17", "-Wpedantic"])
    assert result.returncode == 0, result.stderr


def test_static_asserts_catch_wide_enums(compile_source: Callable[..., Any]) -> None:
    # Without short enums the one-byte enums grow to four bytes; the header must refuse that.
    result = compile_source(INCLUDE, flags=["-fno-short-enums"])
    assert result.returncode != 0
    assert "static assertion failed" in result.stderr
    assert "sizeof(enum MvWakeReason) == (1)" in result.stderr


def test_header_declares_every_public_call(sdk_tool: Callable[[str], ModuleType]) -> None:
    mv_abi = sdk_tool("mv_abi")
    declared = _prototypes()
    expected = {call.name: [p.ctype for p in call.params] for call in mv_abi.PUBLIC_CALLS}
    assert sorted(declared) == sorted(expected)
    for name, types in expected.items():
        assert declared[name] == types, name


def test_reserved_entry_has_no_declaration() -> None:
    assert "mvTemporaryStructTest" not in _header_text()


def test_call_table_matches_kernel(sdk_tool: Callable[[str], ModuleType]) -> None:
    mv_abi = sdk_tool("mv_abi")
    assert {call.name: call.address for call in mv_abi.CALLS} == abi.CALL_ADDRESSES


def test_status_codes_match_kernel(sdk_tool: Callable[[str], ModuleType]) -> None:
    mv_abi = sdk_tool("mv_abi")
    assert mv_abi.MV_STATUS == {status.name: status.value for status in abi.MvStatus}


@pytest.mark.parametrize(
    "enum",
    [
        value
        for value in vars(abi).values()
        if isinstance(value, type)
        and value.__module__ == abi.__name__
        and issubclass(value, abi.IntEnum)
        and value.__name__.startswith("Mv")
    ],
    ids=lambda enum: enum.__name__,
)
def test_enum_constants_match_kernel(enum: type[Any]) -> None:
    prefix = "MV_" + enum.__name__[2:].upper() + "_"
    text = _header_text()
    body = re.search(rf"enum {enum.__name__} \{{(.*?)\}};", text, re.DOTALL)
    assert body, f"enum {enum.__name__} is missing from the header"
    constants = {
        name: int(value, 0)
        for name, value in re.findall(rf"{prefix}(\w+) = (0x[0-9a-f]+)", body.group(1))
        if not name.startswith("_")
    }
    assert constants == {member.name: member.value for member in enum}


def test_every_kernel_layout_is_pinned() -> None:
    pinned = _asserted_layouts()
    kernel = {layout.name: layout for layout in _kernel_layouts()}
    assert sorted(pinned) == sorted(kernel)
    for name, layout in kernel.items():
        size, offsets = pinned[name]
        assert size == layout.size, name
        assert offsets == {member: offset for offset, _, member in layout.fields}, name


def test_compiler_agrees_with_kernel_layouts(compile_source: Callable[..., Any]) -> None:
    # The compiler, not the header's own asserts, computes each offset here.
    lines = [INCLUDE]
    for layout in _kernel_layouts():
        lines.append(f'_Static_assert(sizeof(struct {layout.name}) == {layout.size}, "size");')
        for offset, letter, member in layout.fields:
            lines.append(
                f"_Static_assert(offsetof(struct {layout.name}, {member}) == {offset}, "
                f'"{layout.name}.{member}");'
            )
            width = {"B": 1, "H": 2, "I": 4, "Q": 8}[letter]
            lines.append(
                f"_Static_assert(sizeof(((struct {layout.name} *)0)->{member}) == {width}, "
                f'"{layout.name}.{member} width");'
            )
    result = compile_source("\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
