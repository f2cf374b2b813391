"""A real machine as the host of peripheral models, idling in WFI."""

from __future__ import annotations

import struct

import pytest

from openvisor.machine import Machine

IDLE_IMAGE = struct.pack("<II", 0x2008_0000, 0x0800_0009) + struct.pack("<HH", 0xBF30, 0xE7FD)


@pytest.fixture
def machine() -> Machine:
    """Return a reset machine whose app sleeps in WFI."""
    machine = Machine(tcg_buffer_size=4 * 1024 * 1024)
    machine.load_image(IDLE_IMAGE)
    machine.reset()
    return machine
