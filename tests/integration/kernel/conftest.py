"""A driver for the k_harness firmware: make any call from compiled code on a real device.

The firmware's main loop calls ``harness.fn(args...)`` whenever ``harness.seq``
changes and stores R0 in ``harness.result``; the driver writes requests into
its RAM between CPU slices. See firmware/apps/k_harness/main.c.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from elftools.elf.elffile import ELFFile

from openvisor.device import AppImage, Device, DeviceConfig, DeviceState
from openvisor.kernel.abi import CALL_ADDRESSES

# Offsets of struct harness_request members (all uint32_t).
SEQ, DONE, FN, ARGS, RESULT, IN_ISR, LOCKUP_MODE, IRQ_COUNT = (0, 4, 8, 12, 28, 32, 36, 40)
CANARY = b"\xa5" * 16
WAKE_IRQ = 52  # TIM8_UP: wakes the firmware from WFI after a request is written


class Harness:
    """One booted device running k_harness, with helpers to call and inspect memory."""

    def __init__(self, device: Device, elf_path: Path) -> None:
        self.device = device
        self.symbols: dict[str, int] = {}
        with open(elf_path, "rb") as stream:
            for symbol in ELFFile(stream).get_section_by_name(".symtab").iter_symbols():
                if symbol.name:
                    self.symbols[symbol.name] = symbol["st_value"]
        self.block = self.symbols["harness"]
        self.arena = self.symbols["arena"]

    @property
    def machine(self) -> Any:
        """The machine of the current boot."""
        return self.device.machine

    def read(self, address: int, size: int) -> bytes:
        return bytes(self.machine.mem_read(address, size))

    def write(self, address: int, data: bytes) -> None:
        if data:
            self.machine.mem_write(address, data)

    def read_u32(self, address: int) -> int:
        return struct.unpack("<I", self.read(address, 4))[0]

    def write_u32(self, address: int, value: int) -> None:
        self.write(address, struct.pack("<I", value & 0xFFFF_FFFF))

    def field(self, offset: int) -> int:
        return self.read_u32(self.block + offset)

    def buffer(self, offset: int, size: int, *, fill: bytes = b"\x00") -> int:
        """An arena buffer at ``offset`` with canary bytes before and after it."""
        address = self.arena + offset
        self.write(address - len(CANARY), CANARY)
        self.write(address, (fill * size)[:size])
        self.write(address + size, CANARY)
        return address

    def canaries_intact(self, address: int, size: int) -> bool:
        return (
            self.read(address - len(CANARY), len(CANARY)) == CANARY
            and self.read(address + size, len(CANARY)) == CANARY
        )

    def settle(self, micros: int = 5_000) -> None:
        """Run the app for a while (past its startup code into the main loop)."""
        self.device.run_for(micros / 1e6)

    def post(self, target: str | int, *args: int, in_isr: bool = False) -> None:
        """Ask the firmware to make the call ``target`` (a name or an address); do not wait.

        For calls that end the app (restart, deep sleep, testing complete) the
        request numbering starts again, since the next boot zeroes the block.
        """
        if isinstance(target, str):
            address = CALL_ADDRESSES[target] if target.startswith("mv") else self.symbols[target]
        else:
            address = target
        padded = [*args, 0, 0, 0, 0][:4]
        self.seq = self.field(SEQ) + 1
        self.write_u32(self.block + FN, address | 1)
        for index, value in enumerate(padded):
            self.write_u32(self.block + ARGS + 4 * index, value)
        self.write_u32(self.block + IN_ISR, 1 if in_isr else 0)
        self.write_u32(self.block + SEQ, self.seq)
        self.machine.pend_irq(WAKE_IRQ)

    def call(
        self, target: str | int, *args: int, in_isr: bool = False, max_us: int = 200_000
    ) -> int:
        """Make the call ``target`` from the firmware and return its status."""
        self.post(target, *args, in_isr=in_isr)
        end = self.device.kernel.micros() + max_us
        while self.device.kernel.micros() < end:
            self.device.step(1_000)
            if self.device.state is not DeviceState.RUNNING:
                raise AssertionError(f"the app stopped during the call (state {self.device.state})")
            if self.field(DONE) == self.seq:
                return self.field(RESULT)
        raise AssertionError(f"call {target} did not return within {max_us} µs of virtual time")


@pytest.fixture
def make_harness(
    tmp_path: Path, firmware: Callable[[str], Path]
) -> Iterator[Callable[..., Harness]]:
    """Return a factory booting k_harness on a fresh device.

    ``DeviceConfig`` fields go as keyword arguments. ``image`` replaces the
    k_harness ELF (e.g. a bundle built from it, so the symbols still match);
    ``link`` joins the device to a device link, started before the boot.
    """
    elf_path = firmware("k_harness")
    created: list[Device] = []

    def make(
        state_dir: Path | None = None,
        *,
        image: AppImage | None = None,
        link: Any = None,
        device_id: str | None = None,
        **config: object,
    ) -> Harness:
        config.setdefault("seed", 1234)
        device = Device(
            state_dir or tmp_path / f"device{len(created)}",
            image=image or AppImage.from_path(elf_path),
            link=link,
            config=DeviceConfig(**config),  # type: ignore[arg-type]
            device_id=device_id,
        )
        created.append(device)
        if link is not None:
            link.start()
        device.boot()
        harness = Harness(device, elf_path)
        harness.settle()
        return harness

    yield make
    for device in created:
        device.kernel.flush()


@pytest.fixture
def harness(make_harness: Callable[..., Harness]) -> Harness:
    """k_harness booted on a fresh device outside factory test mode."""
    return make_harness()
