"""Base class of register-level peripheral models and the address decoder.

A peripheral declares its registers as ``REGISTERS`` (offset -> name) and
``RESET_VALUES``; the base class stores them, handles byte and halfword
accesses, and turns an access to any other offset into a read of zero with
one warning per register. Subclasses override `read_register` and
`write_register` for registers with behaviour.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ClassVar, Protocol

log = logging.getLogger(__name__)

MAX_UNMAPPED_WARNINGS = 64
"""Distinct unmodelled addresses the bus warns about before it stops warning."""


class Cancellable(Protocol):
    """A scheduled callback that can be cancelled."""

    def cancel(self) -> None:
        """Keep the callback from running."""


class Host(Protocol):
    """What a peripheral needs from the machine: time, events and interrupts."""

    clock_hz: int

    @property
    def cycles(self) -> int:
        """Virtual cycles since power-on."""
        ...

    def schedule(self, at_cycle: int, callback: Callable[[], None]) -> Cancellable:
        """Run `callback` when virtual time reaches `at_cycle`."""
        ...

    def pend_irq(self, irqn: int) -> None:
        """Pend external interrupt `irqn` once (an edge)."""
        ...

    def set_irq_level(self, irqn: int, asserted: bool) -> None:
        """Drive the level-sensitive line of external interrupt `irqn`."""
        ...


class Peripheral:
    """A memory-mapped peripheral with an explicit register map.

    Example::

        class Counter(Peripheral):
            REGISTERS = {0x0: "CR", 0x4: "CNT"}

        counter = Counter("CNT0", 0x4000_9000, host)
        counter.write(0x0, 4, 1)
    """

    REGISTERS: ClassVar[dict[int, str]] = {}
    RESET_VALUES: ClassVar[dict[int, int]] = {}
    SIZE: ClassVar[int] = 0x400

    def __init__(self, name: str, base: int, host: Host) -> None:
        self.name = name
        self.base = base
        self.size = self.SIZE
        self.host = host
        self._warned: set[int] = set()
        self.registers: dict[int, int] = {}
        self.reset()

    def reset(self) -> None:
        """Restore register reset values."""
        self.registers = {offset: self.RESET_VALUES.get(offset, 0) for offset in self.REGISTERS}

    # Bus side

    def read(self, offset: int, size: int) -> int:
        """Read `size` bytes (1, 2 or 4) at `offset`."""
        word_offset = offset & ~3
        if word_offset not in self.REGISTERS:
            self._warn_unmodelled(word_offset)
            return 0
        shift = (offset & 3) * 8
        return (self.read_register(word_offset) >> shift) & ((1 << (8 * size)) - 1)

    def write(self, offset: int, size: int, value: int) -> None:
        """Write `size` bytes (1, 2 or 4) at `offset`."""
        word_offset = offset & ~3
        if word_offset not in self.REGISTERS:
            self._warn_unmodelled(word_offset)
            return
        if size != 4:
            shift = (offset & 3) * 8
            mask = ((1 << (8 * size)) - 1) << shift
            current = self.registers.get(word_offset, 0)
            value = (current & ~mask) | ((value << shift) & mask)
        self.write_register(word_offset, value & 0xFFFFFFFF)

    # Register side, overridden by models

    def read_register(self, offset: int) -> int:
        """Return the value of the register at `offset`."""
        return self.registers.get(offset, 0)

    def write_register(self, offset: int, value: int) -> None:
        """Store a written value; models override this for side effects."""
        self.registers[offset] = value

    def _warn_unmodelled(self, offset: int) -> None:
        if offset not in self._warned:
            self._warned.add(offset)
            log.warning(
                "Access unmodelled register (peripheral=%s, address=%#010x): "
                "reads zero, writes ignored",
                self.name,
                self.base + offset,
            )


class PeripheralBus:
    """Decode addresses in 0x4000_0000-0x4FFF_FFFF to peripheral models."""

    PAGE_SHIFT = 10  # every STM32U5 peripheral is aligned to 1 KiB

    def __init__(self) -> None:
        self._pages: dict[int, Peripheral] = {}
        self.by_name: dict[str, Peripheral] = {}
        self._warned: set[int] = set()

    def attach(self, peripheral: Peripheral) -> None:
        """Map a peripheral at its base address."""
        first = peripheral.base >> self.PAGE_SHIFT
        last = (peripheral.base + peripheral.size - 1) >> self.PAGE_SHIFT
        for page in range(first, last + 1):
            self._pages[page] = peripheral
        self.by_name[peripheral.name] = peripheral

    def find(self, address: int) -> Peripheral | None:
        """Return the peripheral decoding `address`, or None."""
        return self._pages.get(address >> self.PAGE_SHIFT)

    def read(self, address: int, size: int) -> int:
        """Read from the peripheral at `address`; unmapped addresses read zero."""
        peripheral = self._pages.get(address >> self.PAGE_SHIFT)
        if peripheral is None:
            self._warn_unmapped(address)
            return 0
        return peripheral.read(address - peripheral.base, size)

    def write(self, address: int, size: int, value: int) -> None:
        """Write to the peripheral at `address`; unmapped addresses ignore writes."""
        peripheral = self._pages.get(address >> self.PAGE_SHIFT)
        if peripheral is None:
            self._warn_unmapped(address)
            return
        peripheral.write(address - peripheral.base, size, value)

    def reset(self) -> None:
        """Reset every attached peripheral."""
        for peripheral in self.by_name.values():
            peripheral.reset()

    def _warn_unmapped(self, address: int) -> None:
        word = address & ~3
        if word in self._warned or len(self._warned) > MAX_UNMAPPED_WARNINGS:
            return
        self._warned.add(word)
        if len(self._warned) > MAX_UNMAPPED_WARNINGS:
            # A scan of the address space would otherwise log (and remember)
            # every word of it.
            log.warning(
                "Stop warning about unmodelled peripheral registers (count=%d, last=%#010x)",
                MAX_UNMAPPED_WARNINGS,
                word,
            )
            return
        log.warning(
            "Access unmodelled peripheral register (address=%#010x): reads zero, writes ignored",
            word,
        )
