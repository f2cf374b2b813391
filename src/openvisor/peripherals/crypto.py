"""RNG and CRC: the data-processing peripherals HAL code commonly uses (RM0456 ch. 37, 20)."""

from __future__ import annotations

import random
from typing import ClassVar

from openvisor.peripherals.base import Host, Peripheral

RNG_CR_RNGEN = 1 << 2
RNG_CR_IE = 1 << 3
RNG_SR_DRDY = 1 << 0
RNG_IRQ = 94


class Rng(Peripheral):
    """True random number generator, modelled by a seeded pseudo-random source.

    DR always has data ready while RNGEN is set; the seed makes runs repeatable.
    """

    REGISTERS: ClassVar[dict[int, str]] = {0x00: "CR", 0x04: "SR", 0x08: "DR", 0x10: "HTCR"}

    def __init__(self, name: str, base: int, host: Host, *, seed: int | None = None) -> None:
        self.seed = seed
        self._random = random.Random(seed)
        super().__init__(name, base, host)

    def read_register(self, offset: int) -> int:
        """Return the register; DR draws a new 32-bit value."""
        enabled = self.registers[0x00] & RNG_CR_RNGEN
        if offset == 0x04:
            return RNG_SR_DRDY if enabled else 0
        if offset == 0x08:
            return self._random.getrandbits(32) if enabled else 0
        return super().read_register(offset)

    def write_register(self, offset: int, value: int) -> None:
        """Store the value; enabling the interrupt with data ready pends RNG."""
        if offset in (0x04, 0x08):
            return
        super().write_register(offset, value)
        if offset == 0x00 and value & RNG_CR_RNGEN and value & RNG_CR_IE:
            # NOTE: an edge, not a level: DRDY never drops here, so a level
            # would enter the handler without end.
            self.host.pend_irq(RNG_IRQ)


CRC_CR_RESET = 1 << 0


def _reflect(value: int, width: int) -> int:
    result = 0
    for _ in range(width):
        result = (result << 1) | (value & 1)
        value >>= 1
    return result


class Crc(Peripheral):
    """CRC calculation unit with programmable polynomial, size and bit reversal.

    Each write to DR feeds as many bytes as the access is wide (byte,
    halfword or word), most significant byte first, as the hardware does.
    """

    REGISTERS: ClassVar[dict[int, str]] = {
        0x00: "DR",
        0x04: "IDR",
        0x08: "CR",
        0x10: "INIT",
        0x14: "POL",
    }
    RESET_VALUES: ClassVar[dict[int, int]] = {
        0x00: 0xFFFF_FFFF,
        0x10: 0xFFFF_FFFF,
        0x14: 0x04C1_1DB7,
    }

    @property
    def _width(self) -> int:
        return {0: 32, 1: 16, 2: 8, 3: 7}[(self.registers[0x08] >> 3) & 3]

    def write(self, offset: int, size: int, value: int) -> None:
        """Write a register; DR accesses feed data of the access width."""
        if offset & ~3 == 0x00:
            self._feed(value & ((1 << (8 * size)) - 1), size)
            return
        super().write(offset, size, value)

    def read_register(self, offset: int) -> int:
        """Return the register; DR reads the result with REV_OUT applied."""
        if offset == 0x00:
            width = self._width
            result = self.registers[0x00] & ((1 << width) - 1)
            if self.registers[0x08] & (1 << 7):
                result = _reflect(result, width)
            return result
        return super().read_register(offset)

    def write_register(self, offset: int, value: int) -> None:
        """Store the value; CR.RESET loads INIT into the result."""
        if offset == 0x08:
            if value & CRC_CR_RESET:
                self.registers[0x00] = self.registers[0x10]
            value &= ~CRC_CR_RESET
        elif offset == 0x04:
            value &= 0xFFFF_FFFF
        elif offset == 0x10:
            self.registers[0x00] = value
        super().write_register(offset, value)

    def _feed(self, data: int, size: int) -> None:
        width = self._width
        rev_in = (self.registers[0x08] >> 5) & 3
        bits = 8 * size
        if rev_in == 1:
            data = sum(_reflect((data >> (8 * i)) & 0xFF, 8) << (8 * i) for i in range(size))
        elif rev_in == 2 and size >= 2:
            data = sum(
                _reflect((data >> (16 * i)) & 0xFFFF, 16) << (16 * i) for i in range(size // 2)
            )
        elif rev_in == 3 or (rev_in == 2 and size == 1):
            data = _reflect(data, bits)
        polynomial = self.registers[0x14] & ((1 << width) - 1)
        top = 1 << (width - 1)
        mask = (1 << width) - 1
        crc = self.registers[0x00] & mask
        for bit in range(bits - 1, -1, -1):
            feedback = ((crc & top) != 0) ^ ((data >> bit) & 1)
            crc = (crc << 1) & mask
            if feedback:
                crc ^= polynomial
        self.registers[0x00] = crc
