"""A driver for the x_attack firmware: hostile operations from compiled code on a real device.

The firmware's main loop runs ``attack.op`` whenever ``attack.seq`` changes;
the driver writes requests into its RAM between CPU slices. See
firmware/apps/x_attack/main.c.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from elftools.elf.elffile import ELFFile

from openvisor.device import AppImage, Device, DeviceConfig, DeviceState
from openvisor.kernel.crash import CrashLog, CrashReport

# Offsets of the members of struct attack_request (all uint32_t).
FIELDS = {
    "seq": 0,
    "done": 4,
    "op": 8,
    "address": 12,
    "args": 16,
    "result": 32,
    "hardfault_mode": 36,
    "exc_return": 40,
    "irq_count": 44,
    "tick_count": 48,
    "progress": 52,
    "hardfaults": 56,
}
WAKE_IRQ = 52  # TIM8_UP

OPS = {
    "call": 1,
    "read32": 2,
    "read16": 3,
    "read8": 4,
    "write32": 5,
    "write16": 6,
    "write8": 7,
    "svc_on_sp": 8,
    "svc_on_psp": 9,
    "msplim": 10,
    "svc": 11,
    "udf": 12,
    "systick": 13,
    "vtor": 14,
    "flood": 15,
    "wfi_masked": 16,
    "log_flood": 17,
    "call_in_isr": 18,
    "unmodelled": 19,
    "loop": 20,
    "tail_call_in_isr": 21,
    "fault_under_ticks": 22,
}


class Attacker:
    """One booted device running x_attack."""

    def __init__(self, device: Device, elf_path: Path) -> None:
        self.device = device
        self.symbols: dict[str, int] = {}
        with open(elf_path, "rb") as stream:
            for symbol in ELFFile(stream).get_section_by_name(".symtab").iter_symbols():
                if symbol.name:
                    self.symbols[symbol.name] = symbol["st_value"]
        self.block = self.symbols["attack"]
        self.arena = self.symbols["arena"]
        self.seq = 0

    @property
    def machine(self) -> Any:
        return self.device.machine

    @property
    def crashes(self) -> list[CrashReport]:
        """The crash reports kept (the newest 32)."""
        return list(self.device.kernel.family_state(CrashLog).reports)

    @property
    def crash_count(self) -> int:
        """Crashes since the device was created."""
        return int(self.device.kernel.family_state(CrashLog).crash_count)

    def read(self, address: int, size: int) -> bytes:
        return bytes(self.machine.mem_read(address, size))

    def write(self, address: int, data: bytes) -> None:
        self.machine.mem_write(address, data)

    def field(self, name: str, index: int = 0) -> int:
        """Read a member of the request block (``index`` for ``args``)."""
        address = self.block + FIELDS[name] + 4 * index
        return int(struct.unpack("<I", self.read(address, 4))[0])

    def set_field(self, name: str, value: int, index: int = 0) -> None:
        address = self.block + FIELDS[name] + 4 * index
        self.write(address, struct.pack("<I", value & 0xFFFF_FFFF))

    def settle(self, micros: int = 5_000) -> None:
        self.device.run_for(micros / 1e6)

    def post(self, op: str, address: int = 0, *args: int) -> None:
        """Ask the firmware to run ``op``; do not wait."""
        self.seq = self.field("seq") + 1
        self.set_field("op", OPS[op])
        self.set_field("address", address)
        for index, value in enumerate([*args, 0, 0, 0, 0][:4]):
            self.set_field("args", value, index)
        self.set_field("seq", self.seq)
        self.machine.pend_irq(WAKE_IRQ)

    def do(self, op: str, address: int = 0, *args: int, max_us: int = 200_000) -> int:
        """Run ``op`` and return its result; fail if the app stops or takes too long."""
        self.post(op, address, *args)
        end = self.device.kernel.micros() + max_us
        while self.device.kernel.micros() < end:
            self.device.step(1_000)
            if self.device.state is not DeviceState.RUNNING:
                raise AssertionError(f"the app stopped during {op} (state {self.device.state})")
            if self.field("done") == self.seq:
                return self.field("result")
        raise AssertionError(f"{op} did not finish within {max_us} µs of virtual time")

    def crash(self, op: str, address: int = 0, *args: int, seconds: float = 0.2) -> CrashReport:
        """Run ``op``, expect it to crash the app, and return the crash report."""
        before = self.crash_count
        self.post(op, address, *args)
        self.device.run_for(seconds, until=lambda: self.crash_count > before)
        assert self.crash_count == before + 1, f"{op} at {address:#010x} did not crash the app"
        return self.crashes[-1]

    def restarts(self, seconds: float = 1.2) -> None:
        """Run through the crash back-off and assert that the app started again."""
        boots = self.device.boot_count
        self.device.run_for(seconds, until=lambda: self.device.boot_count > boots)
        assert self.device.boot_count == boots + 1
        assert self.device.state is DeviceState.RUNNING
        self.settle()
        assert self.do("read32", self.block + FIELDS["seq"]) == self.seq


@pytest.fixture
def make_attacker(
    tmp_path: Path, firmware: Callable[[str], Path]
) -> Iterator[Callable[..., Attacker]]:
    """Return a factory booting x_attack on a fresh device (``DeviceConfig`` fields as kwargs)."""
    elf_path = firmware("x_attack")
    created: list[Device] = []

    def make(**config: Any) -> Attacker:
        config.setdefault("seed", 4321)
        device = Device(
            tmp_path / f"device{len(created)}",
            image=AppImage.from_path(elf_path),
            config=DeviceConfig(**config),
        )
        created.append(device)
        device.boot()
        attacker = Attacker(device, elf_path)
        attacker.settle()
        return attacker

    yield make
    for device in created:
        device.kernel.flush()


@pytest.fixture
def attacker(make_attacker: Callable[..., Attacker]) -> Attacker:
    """x_attack booted on a fresh device."""
    return make_attacker()
