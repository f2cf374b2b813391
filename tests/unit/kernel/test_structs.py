"""Structure layouts: sizes, codecs, and agreement with the SDK header's C layout."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from openvisor.kernel import structs
from openvisor.kernel.structs import ALL_LAYOUTS, Layout

ROOT = Path(__file__).resolve().parents[3]
HEADER = ROOT / "sdk" / "include" / "mv_syscalls.h"


def test_every_spec_structure_has_a_layout() -> None:
    names = {layout.name for layout in ALL_LAYOUTS}
    assert len(names) == 35
    assert "MvMqttConnectRequest" in names
    assert "MvWifiConfigOut" in names


@pytest.mark.parametrize("layout", ALL_LAYOUTS, ids=lambda layout: layout.name)
def test_codec_size_matches_layout(layout: Layout) -> None:
    assert layout.codec.size == layout.size


@pytest.mark.parametrize("layout", ALL_LAYOUTS, ids=lambda layout: layout.name)
def test_pack_unpack_round_trip(layout: Layout) -> None:
    values = {member: (index + 1) * 3 for index, member in enumerate(layout.members)}
    data = layout.pack(values)
    assert len(data) == layout.size
    assert layout.unpack(data) == values


def test_one_byte_enum_sits_at_its_offset() -> None:
    data = bytearray(structs.MQTT_CONNECT_REQUEST.size)
    data[24] = 1  # authentication.method
    data[12:14] = (8883).to_bytes(2, "little")  # port, uint16_t
    decoded = structs.MQTT_CONNECT_REQUEST.unpack(bytes(data))
    assert decoded["authentication.method"] == 1
    assert decoded["port"] == 8883
    assert decoded["protocol_version"] == 0


def test_notification_record_layout() -> None:
    record = structs.NOTIFICATION.pack({"microseconds": 0x1122334455, "event_type": 2, "tag": 7})
    assert record == bytes.fromhex("55443322110000000200000007000000")


def test_overlapping_members_are_rejected() -> None:
    with pytest.raises(ValueError, match="overlaps"):
        Layout("Bad", 8, [(0, "I", "a"), (2, "I", "b")])


def test_offset_of_unknown_member() -> None:
    with pytest.raises(KeyError):
        structs.SIZED_STRING.offset_of("nope")


@pytest.mark.skipif(not HEADER.exists(), reason="sdk/include/mv_syscalls.h is not written yet")
@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc")
def test_layouts_match_sdk_header(tmp_path: Path) -> None:
    lines = ["#include <stddef.h>", '#include "mv_syscalls.h"']
    for layout in ALL_LAYOUTS:
        lines.append(
            f'_Static_assert(sizeof(struct {layout.name}) == {layout.size}, "{layout.name} size");'
        )
        for offset, letter, member in layout.fields:
            width = {"Q": 8, "I": 4, "H": 2, "B": 1}[letter]
            lines.append(
                f"_Static_assert(offsetof(struct {layout.name}, {member}) == {offset}, "
                f'"{layout.name}.{member} offset");'
            )
            lines.append(
                f"_Static_assert(sizeof(((struct {layout.name} *)0)->{member}) == {width}, "
                f'"{layout.name}.{member} width");'
            )
    source = tmp_path / "layouts.c"
    source.write_text("\n".join(lines) + "\n")
    result = subprocess.run(
        [
            "arm-none-eabi-gcc",
            "-mcpu=cortex-m33",
            "-mthumb",
            "-std=gnu11",
            f"-I{HEADER.parent}",
            "-fsyntax-only",
            str(source),
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
