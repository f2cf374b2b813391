"""Notification centres and fast interrupts, driven from compiled firmware."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from openvisor.kernel.abi import MvEventType, MvStatus
from openvisor.kernel.calls.notifications import NotificationCentres

TIM8_BRK = 51
IRQ_COUNT_OFFSET = 40


def setup_centre(
    harness: Any, *, irq: int = TIM8_BRK, slots: int = 4, offset: int = 0
) -> tuple[int, int, int]:
    """Open a centre; return (status, handle, ring address)."""
    ring = harness.buffer(offset + 1024, 16 * slots)
    setup = harness.buffer(offset, 12)
    harness.write(setup, struct.pack("<III", irq, ring, 16 * slots))
    out = harness.buffer(offset + 64, 4)
    status = harness.call("mvSetupNotifications", setup, out)
    return status, harness.read_u32(out), ring


def records(harness: Any, ring: int, slots: int) -> list[tuple[int, int, int]]:
    data = harness.read(ring, 16 * slots)
    return [struct.unpack_from("<QII", data, 16 * i) for i in range(slots)]


def test_trigger_writes_record_and_runs_irq(harness: Any) -> None:
    status, handle, ring = setup_centre(harness)
    assert status == MvStatus.OKAY
    assert handle != 0
    before_irqs = harness.field(IRQ_COUNT_OFFSET)
    assert (
        harness.call("mvTempTriggerNotification", handle, MvEventType.CHANNELDATAREADABLE, 77) == 0
    )
    harness.device.run_for(0.001)
    micros, event_type, tag = records(harness, ring, 4)[0]
    assert event_type == MvEventType.CHANNELDATAREADABLE
    assert tag == 77
    assert 0 < micros <= harness.device.kernel.micros()
    assert harness.field(IRQ_COUNT_OFFSET) == before_irqs + 1
    assert harness.canaries_intact(ring, 64)


def test_full_ring_is_overwritten(harness: Any) -> None:
    _, handle, ring = setup_centre(harness, slots=2)
    for tag in (1, 2, 3):
        assert harness.call("mvTempTriggerNotification", handle, 1, tag) == MvStatus.OKAY
    assert [record[2] for record in records(harness, ring, 2)] == [3, 2]
    assert harness.canaries_intact(ring, 32)


def test_post_from_kernel_side(harness: Any) -> None:
    _, handle, ring = setup_centre(harness)
    centres = harness.device.kernel.family_state(NotificationCentres)
    assert centres.post(handle, MvEventType.NETWORKSTATUSCHANGED, 9) is True
    assert records(harness, ring, 4)[0][1:] == (MvEventType.NETWORKSTATUSCHANGED, 9)
    assert centres.post(0x1234_5678, MvEventType.NETWORKSTATUSCHANGED, 9) is False


@pytest.mark.parametrize("size", [0, 16, 40, 31])
def test_setup_rejects_bad_size(harness: Any, size: int) -> None:
    ring = harness.buffer(1024, 64)
    setup = harness.buffer(0, 12)
    harness.write(setup, struct.pack("<III", TIM8_BRK, ring, size))
    out = harness.buffer(64, 4)
    assert harness.call("mvSetupNotifications", setup, out) == MvStatus.INVALIDBUFFERSIZE
    assert harness.read_u32(out) == 0


@pytest.mark.parametrize(
    "ring",
    [0x0800_0000, 0x3000_0000, 0x2008_0000 - 32, None],
    ids=["flash", "secure", "straddle", "misaligned"],
)
def test_setup_rejects_bad_ring(harness: Any, ring: int | None) -> None:
    ring = ring if ring is not None else harness.arena + 1026
    setup = harness.buffer(0, 12)
    harness.write(setup, struct.pack("<III", TIM8_BRK, ring, 64))
    out = harness.buffer(64, 4)
    assert harness.call("mvSetupNotifications", setup, out) == MvStatus.PARAMETERFAULT
    assert harness.read_u32(out) == 0
    assert harness.canaries_intact(out, 4)


def test_setup_rejects_bad_setup_and_handle_pointers(harness: Any) -> None:
    out = harness.buffer(64, 4)
    assert harness.call("mvSetupNotifications", 0x6000_0000, out) == MvStatus.PARAMETERFAULT
    setup = harness.buffer(0, 12)
    ring = harness.buffer(1024, 64)
    harness.write(setup, struct.pack("<III", TIM8_BRK, ring, 64))
    assert harness.call("mvSetupNotifications", setup, 0x0800_0000) == MvStatus.PARAMETERFAULT
    assert harness.device.kernel.family_state(NotificationCentres).centres() == []


def test_setup_rejects_shared_buffer_and_irq(harness: Any) -> None:
    status, _, ring = setup_centre(harness)
    assert status == MvStatus.OKAY
    setup = harness.buffer(256, 12)
    out = harness.buffer(320, 4)
    harness.write(setup, struct.pack("<III", TIM8_BRK + 1, ring + 16, 32))
    assert harness.call("mvSetupNotifications", setup, out) == MvStatus.BUFFERALREADYINUSE
    other = harness.buffer(4096, 32)
    harness.write(setup, struct.pack("<III", TIM8_BRK, other, 32))
    assert harness.call("mvSetupNotifications", setup, out) == MvStatus.INVALIDINTERRUPT
    harness.write(setup, struct.pack("<III", 125, other, 32))
    assert harness.call("mvSetupNotifications", setup, out) == MvStatus.INVALIDINTERRUPT
    assert harness.read_u32(out) == 0


def test_at_most_32_centres(harness: Any) -> None:
    for index in range(32):
        status, _, _ = setup_centre(harness, irq=index, slots=2, offset=index * 128 + 8192)
        assert status == MvStatus.OKAY, index
    status, _, _ = setup_centre(harness, irq=40, slots=2, offset=40 * 128 + 8192)
    assert status == MvStatus.TOOMANYNOTIFICATIONBUFFERS


def test_close_zeroes_handle_and_stops_posting(harness: Any) -> None:
    _, handle, ring = setup_centre(harness)
    slot = harness.buffer(200, 4)
    harness.write_u32(slot, handle)
    assert harness.call("mvCloseNotifications", slot) == MvStatus.OKAY
    assert harness.read_u32(slot) == 0
    assert harness.call("mvTempTriggerNotification", handle, 1, 1) == MvStatus.INVALIDHANDLE
    assert records(harness, ring, 4)[0] == (0, 0, 0)
    harness.write_u32(slot, handle)
    assert harness.call("mvCloseNotifications", slot) == MvStatus.INVALIDHANDLE
    assert harness.call("mvCloseNotifications", 0x0800_0000) == MvStatus.PARAMETERFAULT


def test_fast_interrupt_bookkeeping(harness: Any) -> None:
    status, _, _ = setup_centre(harness)
    assert status == MvStatus.OKAY
    assert harness.call("mvSetFastInterrupt", TIM8_BRK) == MvStatus.INVALIDINTERRUPT
    assert harness.call("mvEnableFastInterrupt", 53) == MvStatus.INVALIDINTERRUPT
    assert harness.call("mvSetFastInterrupt", 53) == MvStatus.OKAY
    assert harness.call("mvEnableFastInterrupt", 53) == MvStatus.OKAY
    assert harness.call("mvDisableAllFastInterrupts") == MvStatus.OKAY
    assert harness.call("mvEnableAllFastInterrupts") == MvStatus.OKAY
    assert harness.call("mvDisableFastInterrupt", 53) == MvStatus.OKAY
    assert harness.call("mvClearFastInterrupt", 53) == MvStatus.OKAY
    assert harness.call("mvDisableFastInterrupt", 53) == MvStatus.INVALIDINTERRUPT
    for call in ("mvSetFastInterrupt", "mvClearFastInterrupt", "mvEnableFastInterrupt"):
        assert harness.call(call, 125) == MvStatus.INVALIDINTERRUPT


def test_fast_irq_cannot_serve_a_centre(harness: Any) -> None:
    assert harness.call("mvSetFastInterrupt", TIM8_BRK) == MvStatus.OKAY
    status, handle, _ = setup_centre(harness)
    assert status == MvStatus.INVALIDINTERRUPT
    assert handle == 0
