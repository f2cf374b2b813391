"""System calls with hostile arguments, from Thread and Handler mode: documented statuses only."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from openvisor.kernel.abi import CALL_ADDRESSES, MvStatus

SRAM_END = 0x2008_0000
WRAP = 0xFFFF_FFF0


def call(attacker: Any, name: str, *args: int, in_isr: bool = False) -> MvStatus:
    op = "call_in_isr" if in_isr else "call"
    return MvStatus(attacker.do(op, CALL_ADDRESSES[name] | 1, *args))


BAD_POINTERS = {
    "wrapping output": ("mvGetMicroseconds", (WRAP,), MvStatus.PARAMETERFAULT),
    "output straddling the SRAM end": (
        "mvGetMicroseconds",
        (SRAM_END - 4,),
        MvStatus.PARAMETERFAULT,
    ),
    "device id wrapping": ("mvGetDeviceId", (WRAP, 34), MvStatus.PARAMETERFAULT),
    "device id past the SRAM end": ("mvGetDeviceId", (SRAM_END - 16, 34), MvStatus.PARAMETERFAULT),
    "device id huge length": (
        "mvGetDeviceId",
        (0x2000_0000, 0xFFFF_FFFF),
        MvStatus.INVALIDBUFFERSIZE,
    ),
    "log buffer huge": ("mvServerLoggingInit", (0x2000_0000, 0xFFFF_FE00), MvStatus.PARAMETERFAULT),
    "log buffer wrapping": ("mvServerLoggingInit", (0xFFFF_FE00, 1024), MvStatus.PARAMETERFAULT),
    "log buffer in flash": ("mvServerLoggingInit", (0x0800_0000, 1024), MvStatus.PARAMETERFAULT),
    "log buffer in secure SRAM": (
        "mvServerLoggingInit",
        (0x3000_0000, 1024),
        MvStatus.PARAMETERFAULT,
    ),
}


@pytest.mark.parametrize("in_isr", [False, True], ids=["thread", "handler"])
@pytest.mark.parametrize(("name", "args", "status"), BAD_POINTERS.values(), ids=BAD_POINTERS.keys())
def test_bad_pointer_status(
    attacker: Any, name: str, args: tuple[int, ...], status: MvStatus, in_isr: bool
) -> None:
    assert call(attacker, name, *args, in_isr=in_isr) == status
    assert attacker.crashes == []


def test_output_at_sram_end_works(attacker: Any) -> None:
    assert call(attacker, "mvGetMicroseconds", SRAM_END - 8) == MvStatus.OKAY
    assert struct.unpack("<Q", attacker.read(SRAM_END - 8, 8))[0] > 0


def _setup_notifications(attacker: Any, buffer: int, size: int, irq: int) -> MvStatus:
    setup = attacker.arena + 1024
    attacker.write(setup, struct.pack("<III", irq, buffer, size))
    return call(attacker, "mvSetupNotifications", setup, attacker.arena + 1100)


def test_bad_notification_buffers_rejected(attacker: Any) -> None:
    first = attacker.arena + 4096
    assert _setup_notifications(attacker, first, 64, 60) == MvStatus.OKAY
    assert _setup_notifications(attacker, first + 32, 64, 61) == MvStatus.BUFFERALREADYINUSE
    assert _setup_notifications(attacker, first - 16, 32, 61) == MvStatus.BUFFERALREADYINUSE
    assert _setup_notifications(attacker, WRAP & ~0x3F, 64, 62) == MvStatus.PARAMETERFAULT
    assert _setup_notifications(attacker, SRAM_END - 16, 32, 62) == MvStatus.PARAMETERFAULT
    assert _setup_notifications(attacker, attacker.arena, 0xFFFF_FFF0, 62) in (
        MvStatus.PARAMETERFAULT,
        MvStatus.INVALIDBUFFERSIZE,
    )
    assert attacker.crashes == []


def test_notification_buffer_on_stack_accepted(attacker: Any) -> None:
    """The stack is app SRAM: the kernel accepts it, and whatever follows is a normal crash."""
    assert _setup_notifications(attacker, SRAM_END - 256, 256, 60) == MvStatus.OKAY
    assert call(attacker, "mvGetMicroseconds", attacker.arena) == MvStatus.OKAY


def test_log_flood_rate_limited(attacker: Any) -> None:
    assert call(attacker, "mvServerLoggingInit", attacker.arena + 8192, 4096) == MvStatus.OKAY
    accepted = attacker.do("log_flood", 0, 3000, max_us=5_000_000)
    assert 0 < accepted <= 50  # a burst of at most 50, then the rate limit
    assert attacker.crashes == []


def test_external_flash_edges(attacker: Any) -> None:
    handle_out = attacker.arena
    assert call(attacker, "mvExternalFlashOpen", handle_out) == MvStatus.OKAY
    handle = struct.unpack("<I", attacker.read(handle_out, 4))[0]
    buffer = attacker.arena + 256
    attacker.write(buffer, b"\x5a\x5a")
    last = 0x7F_FFFF
    assert call(attacker, "mvExternalFlashWriteBlocking", handle, last, 1, buffer) == MvStatus.OKAY
    attacker.write(buffer, b"\x00\x00")
    assert call(attacker, "mvExternalFlashReadBlocking", handle, last, 1, buffer) == MvStatus.OKAY
    assert attacker.read(buffer, 2) == b"\x5a\x00"
    for address, length in ((last, 2), (0xFFFF_FFFF, 1), (0xFFFF_FFFF, 2), (0x80_0000, 1)):
        for name in ("mvExternalFlashReadBlocking", "mvExternalFlashWriteBlocking"):
            status = call(attacker, name, handle, address, length, buffer)
            assert status == MvStatus.ADDRESSOUTOFRANGE, (name, hex(address), length)
    status = call(attacker, "mvExternalFlashEraseBlocking", handle, 0xFFFF_F000, 0x2000)
    assert status == MvStatus.ADDRESSOUTOFRANGE
    status = call(attacker, "mvExternalFlashReadBlocking", handle, 0, 0xFFFF_FFFF, buffer)
    assert status == MvStatus.PARAMETERFAULT
    assert call(attacker, "mvExternalFlashEraseBlocking", handle, 0x7F_F000, 0x1000) == 0
    assert attacker.crashes == []


def test_handler_tail_call_returns(attacker: Any) -> None:
    """`return mvX(...)` at the end of an IRQ handler branches with EXC_RETURN in LR."""
    out = attacker.arena
    attacker.write(out, bytes(8))
    address = CALL_ADDRESSES["mvGetMicroseconds"] | 1
    assert attacker.do("tail_call_in_isr", address, out) == 1  # the handler ran once
    assert struct.unpack("<Q", attacker.read(out, 8))[0] > 0
    assert attacker.do("tail_call_in_isr", address, out) == 2  # and the app goes on
    assert attacker.crashes == []
