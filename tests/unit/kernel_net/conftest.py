"""A RAM-backed stand-in for the machine, and helpers to lay out call arguments.

Handlers only read and write app memory, pend IRQs and read the clock, so a
bytearray map of flash and SRAM exercises them without an emulator. The
integration tests run the same calls from compiled firmware.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from openvisor.kernel import gateway
from openvisor.kernel.abi import CALL_ADDRESSES
from openvisor.kernel.kernel import Kernel
from openvisor.kernel.net.state import NetState, attach
from openvisor.kernel.structs import Layout
from openvisor.link.memory import MemoryDeviceLink, MemoryHub, MemoryServiceLink
from openvisor.link.messages import Message

FLASH = 0x0800_0000
SRAM = 0x2000_0000
DEVICE = "UV" + "5" * 32
IRQ = 51


class RamMachine:
    """App flash and SRAM as bytearrays, with the calls the kernel makes on a machine."""

    def __init__(self) -> None:
        self.flash = bytearray(1 << 20)
        self.sram = bytearray(512 << 10)
        self.now_us = 0
        self.pended: list[int] = []
        self.gateway_handler: Any = None

    def _region(self, address: int, size: int) -> tuple[bytearray, int]:
        if SRAM <= address and address + size <= SRAM + len(self.sram):
            return self.sram, address - SRAM
        if FLASH <= address and address + size <= FLASH + len(self.flash):
            return self.flash, address - FLASH
        raise AssertionError(f"kernel touched unchecked memory {address:#x}+{size}")

    def mem_read(self, address: int, size: int) -> bytes:
        region, offset = self._region(address, size)
        return bytes(region[offset : offset + size])

    def mem_write(self, address: int, data: bytes) -> None:
        region, offset = self._region(address, len(data))
        region[offset : offset + len(data)] = data

    def reg_read(self, name: str) -> int:
        return 0

    def micros(self) -> int:
        return self.now_us

    def pend_irq(self, irqn: int) -> None:
        self.pended.append(irqn)

    def request_stop(self) -> None:
        pass


@dataclass
class App:
    """A kernel on a `RamMachine`, with a bump allocator in SRAM."""

    kernel: Kernel
    machine: RamMachine
    hub: MemoryHub
    link: MemoryDeviceLink
    service: MemoryServiceLink
    received: list[Message] = field(default_factory=list)
    next_free: int = SRAM + 0x1000

    def alloc(self, size: int, align: int = 8) -> int:
        address = (self.next_free + align - 1) // align * align
        self.next_free = address + max(size, 1)
        return address

    def put(self, data: bytes, align: int = 4) -> int:
        address = self.alloc(len(data), align)
        self.machine.mem_write(address, data)
        return address

    def put_struct(self, layout: Layout, **values: int) -> int:
        full = {member: 0 for member in layout.members}
        full.update({key.replace("__", "."): value for key, value in values.items()})
        return self.put(layout.pack(full))

    def read_struct(self, address: int, layout: Layout) -> dict[str, int]:
        return layout.unpack(self.machine.mem_read(address, layout.size))

    def u32(self, address: int) -> int:
        value: int = struct.unpack("<I", self.machine.mem_read(address, 4))[0]
        return value

    def call(self, name: str, *args: int) -> int:
        regs = (list(args) + [0, 0, 0, 0])[:4]
        return gateway.dispatch(self.kernel, CALL_ADDRESSES[name], tuple(regs))  # type: ignore[arg-type]

    def pump(self) -> int:
        return self.kernel.run_pending()

    def notifications(self, centre_buffer: int, slots: int) -> list[tuple[int, int]]:
        """Return (event_type, tag) of every non-empty record in a centre's ring."""
        records = []
        for index in range(slots):
            raw = self.machine.mem_read(centre_buffer + 16 * index, 16)
            _, event, tag = struct.unpack("<QII", raw)
            if event:
                records.append((event, tag))
        return records

    @property
    def net(self) -> NetState:
        return self.kernel.family_state(NetState)


def build_app(state_dir: Path) -> App:
    """Create a kernel with an in-memory link and a recording service, on a `RamMachine`."""
    hub = MemoryHub()
    service = hub.service_link()
    received: list[Message] = []
    service.on_message(lambda device_id, message: received.append(message))
    service.start()
    link = hub.device_link(DEVICE, state_dir=state_dir)
    kernel = Kernel(device_id=DEVICE, state_dir=state_dir / "kernel", link=link, seed=1)
    machine = RamMachine()
    kernel.attach(machine)
    attach(kernel)
    link.start()
    kernel.run_pending()
    return App(kernel, machine, hub, link, service, received)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    yield build_app(tmp_path)


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[[], App]:
    """Return a factory of fresh apps, each with its own state directory."""
    count = iter(range(1_000_000))
    return lambda: build_app(tmp_path / f"app{next(count)}")


Responder = Callable[[str, Message], None]
