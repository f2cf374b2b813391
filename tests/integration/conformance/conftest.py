"""Run SDK firmware on a virtual device joined to an in-memory cloud link."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from elftools.elf.elffile import ELFFile

from openvisor.device import AppImage, Device, DeviceConfig
from openvisor.link.memory import MemoryHub, MemoryServiceLink
from openvisor.link.messages import Message


def elf_symbols(path: Path) -> dict[str, tuple[int, int]]:
    """Map symbol names of an ELF to (address, size)."""
    with open(path, "rb") as stream:
        table = ELFFile(stream).get_section_by_name(".symtab")
        return {s.name: (s["st_value"], s["st_size"]) for s in table.iter_symbols() if s.name}


@dataclass
class Run:
    """A device running one firmware image, with what it logged and sent."""

    device: Device
    service: MemoryServiceLink
    elf: Path
    server_logs: list[str] = field(default_factory=list)
    test_logs: list[str] = field(default_factory=list)
    uplink: list[Message] = field(default_factory=list)
    gpio_events: list[Any] = field(default_factory=list)

    def read(self, address: int, size: int) -> bytes:
        return bytes(self.device.machine.mem_read(address, size))

    def read_u32(self, address: int) -> int:
        value: int = struct.unpack("<I", self.read(address, 4))[0]
        return value

    def symbol(self, name: str) -> tuple[int, int]:
        return elf_symbols(self.elf)[name]

    def led_changes_ms(self) -> list[tuple[int, int]]:
        """(virtual millisecond, level) of each change of the user LED, PA5."""
        return [
            (event.cycle // 160_000, event.level)
            for event in self.gpio_events
            if event.port == "A" and event.pin == 5
        ]


def start_run(
    directory: Path,
    firmware: Callable[[str], Path],
    name: str,
    *,
    factory_test: bool = False,
    on_message: Callable[[Run, str, Message], None] | None = None,
) -> Run:
    """Boot firmware app ``name`` on a fresh device whose link to a service is online."""
    from openvisor.kernel.calls.server_log import ServerLog

    hub = MemoryHub()
    service = hub.service_link()
    service.start()
    device_id = "UV" + "c0" * 16
    link = hub.device_link(device_id)
    link.start()
    elf = firmware(name)
    device = Device(
        directory / name,
        image=AppImage.from_path(elf),
        link=link,
        config=DeviceConfig(factory_test=factory_test, seed=4321),
        device_id=device_id,
    )
    run = Run(device=device, service=service, elf=elf)

    def received(sender: str, message: Message) -> None:
        run.uplink.append(message)
        if on_message is not None:
            on_message(run, sender, message)

    service.on_message(received)
    device.machine_listeners.append(
        lambda machine: machine.peripherals.on_gpio(run.gpio_events.append)
    )
    device.kernel.test_log_listeners.append(run.test_logs.append)
    device.kernel.family_state(ServerLog).listeners.append(
        lambda record: run.server_logs.append(record.message.decode(errors="replace"))
    )
    device.boot()
    return run


@pytest.fixture(scope="session")
def start_firmware(firmware: Callable[[str], Path]) -> Callable[..., Run]:
    """Return start_run bound to the built firmware: (directory, name, **options) -> Run."""

    def start(directory: Path, name: str, **options: Any) -> Run:
        return start_run(directory, firmware, name, **options)

    return start


@pytest.fixture
def run_firmware(tmp_path: Path, firmware: Callable[[str], Path]) -> Iterator[Callable[..., Run]]:
    """Return a function booting a firmware app on a fresh device with an online link."""
    runs: list[Run] = []

    def start(name: str, **options: Any) -> Run:
        run = start_run(tmp_path / str(len(runs)), firmware, name, **options)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.device.kernel.flush()
