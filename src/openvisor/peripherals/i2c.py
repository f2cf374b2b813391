"""I2C controller in master mode with pluggable target devices (RM0456 ch. 65).

A transfer completes byte by byte as the program writes TXDR or reads
RXDR: START in CR2 addresses a device, TXIS/RXNE report the next byte,
and the end of NBYTES raises TC (software end), TCR (reload) or STOPF
(AUTOEND). An address that no device acknowledges sets NACKF and stops.
"""

from __future__ import annotations

import logging
from typing import ClassVar, Protocol

from openvisor.peripherals.base import Host, Peripheral

log = logging.getLogger(__name__)

CR1_PE = 1 << 0
CR1_TXIE = 1 << 1
CR1_RXIE = 1 << 2
CR1_NACKIE = 1 << 4
CR1_STOPIE = 1 << 5
CR1_TCIE = 1 << 6

CR2_RD_WRN = 1 << 10
CR2_START = 1 << 13
CR2_STOP = 1 << 14
CR2_RELOAD = 1 << 24
CR2_AUTOEND = 1 << 25

ISR_TXE = 1 << 0
ISR_TXIS = 1 << 1
ISR_RXNE = 1 << 2
ISR_NACKF = 1 << 4
ISR_STOPF = 1 << 5
ISR_TC = 1 << 6
ISR_TCR = 1 << 7
ISR_BUSY = 1 << 15
ISR_DIR = 1 << 16


class I2cDevice(Protocol):
    """A target on the bus, addressed by its 7-bit address."""

    address: int

    def start(self, read: bool) -> None:
        """Begin a transfer in the given direction (after START or repeated START)."""

    def write_byte(self, value: int) -> None:
        """Receive one byte from the controller."""

    def read_byte(self) -> int:
        """Send one byte to the controller."""

    def stop(self) -> None:
        """End the transfer (STOP)."""


class I2c(Peripheral):
    """An I2C controller with devices attached by 7-bit address."""

    REGISTERS: ClassVar[dict[int, str]] = {
        0x00: "CR1",
        0x04: "CR2",
        0x08: "OAR1",
        0x0C: "OAR2",
        0x10: "TIMINGR",
        0x14: "TIMEOUTR",
        0x18: "ISR",
        0x1C: "ICR",
        0x20: "PECR",
        0x24: "RXDR",
        0x28: "TXDR",
        0x30: "AUTOCR",
    }

    def __init__(self, name: str, base: int, host: Host, *, event_irqn: int) -> None:
        self.event_irqn = event_irqn
        self.devices: dict[int, I2cDevice] = {}
        super().__init__(name, base, host)

    def attach(self, device: I2cDevice) -> None:
        """Connect a device at its address."""
        self.devices[device.address] = device

    def reset(self) -> None:
        """Restore reset values and end any transfer."""
        super().reset()
        self.registers[0x18] = ISR_TXE
        self._device: I2cDevice | None = None
        self._remaining = 0
        self._rx_value = 0

    def read_register(self, offset: int) -> int:
        """Return the register; RXDR reading advances a read transfer."""
        if offset == 0x24:
            value = self._rx_value
            isr = self.registers[0x18]
            if isr & ISR_RXNE:
                self.registers[0x18] &= ~ISR_RXNE
                self._remaining -= 1
                if self._remaining > 0 and self._device is not None:
                    self._rx_value = self._device.read_byte() & 0xFF
                    self.registers[0x18] |= ISR_RXNE
                else:
                    self._end_of_bytes()
            self._update_irq()
            return value
        return super().read_register(offset)

    def write_register(self, offset: int, value: int) -> None:
        """Store the value; CR2 START/STOP, TXDR and ICR drive the transfer."""
        if offset == 0x18:
            if value & ISR_TXE:
                self.registers[0x18] |= ISR_TXE  # software may flush TXDR
            return
        if offset == 0x1C:
            # ICR: ADDRCF(3) NACKCF(4) STOPCF(5) BERRCF(8) ARLOCF(9) OVRCF(10).
            self.registers[0x18] &= ~(value & 0x3F38)
            self._update_irq()
            return
        if offset == 0x28:
            self.registers[0x28] = value & 0xFF
            self._transmit(value & 0xFF)
            self._update_irq()
            return
        if offset == 0x00 and not value & CR1_PE:
            super().write_register(offset, value)
            self.reset()
            self.registers[0x00] = value
            return
        super().write_register(offset, value)
        if offset == 0x04:
            if value & CR2_START:
                self._start(value)
            elif value & CR2_STOP:
                self._stop()
            self.registers[0x04] &= ~(CR2_START | CR2_STOP)
        self._update_irq()

    def _start(self, cr2: int) -> None:
        address = (cr2 >> 1) & 0x7F
        read = bool(cr2 & CR2_RD_WRN)
        self._remaining = (cr2 >> 16) & 0xFF
        isr = self.registers[0x18] & ~(ISR_TC | ISR_TCR | ISR_NACKF | ISR_STOPF | ISR_RXNE)
        isr |= ISR_BUSY
        isr = isr | ISR_DIR if read else isr & ~ISR_DIR
        self.registers[0x18] = isr
        device = self.devices.get(address)
        if device is None:
            log.debug("NACK address (bus=%s, address=%#04x)", self.name, address)
            self._device = None
            self.registers[0x18] |= ISR_NACKF
            self._stop()
            return
        self._device = device
        device.start(read)
        if read:
            if self._remaining > 0:
                self._rx_value = device.read_byte() & 0xFF
                self.registers[0x18] |= ISR_RXNE
            else:
                self._end_of_bytes()
        elif self._remaining > 0:
            self.registers[0x18] |= ISR_TXIS | ISR_TXE
        else:
            self._end_of_bytes()

    def _transmit(self, value: int) -> None:
        isr = self.registers[0x18]
        if not isr & ISR_TXIS or self._device is None:
            return
        self.registers[0x18] = isr & ~ISR_TXIS
        self._device.write_byte(value)
        self._remaining -= 1
        if self._remaining > 0:
            self.registers[0x18] |= ISR_TXIS
        else:
            self._end_of_bytes()

    def _end_of_bytes(self) -> None:
        cr2 = self.registers[0x04]
        if cr2 & CR2_RELOAD:
            self.registers[0x18] |= ISR_TCR
        elif cr2 & CR2_AUTOEND:
            self._stop()
        else:
            self.registers[0x18] |= ISR_TC

    def _stop(self) -> None:
        if self._device is not None:
            self._device.stop()
        self._device = None
        isr = self.registers[0x18] & ~(ISR_BUSY | ISR_TC | ISR_TCR | ISR_TXIS)
        self.registers[0x18] = isr | ISR_STOPF | ISR_TXE

    def _update_irq(self) -> None:
        cr1 = self.registers[0x00]
        isr = self.registers[0x18]
        if (
            (cr1 & CR1_TXIE and isr & ISR_TXIS)
            or (cr1 & CR1_RXIE and isr & ISR_RXNE)
            or (cr1 & CR1_NACKIE and isr & ISR_NACKF)
            or (cr1 & CR1_STOPIE and isr & ISR_STOPF)
            or (cr1 & CR1_TCIE and isr & (ISR_TC | ISR_TCR))
        ):
            self.host.set_irq_level(self.event_irqn, True)
        else:
            self.host.set_irq_level(self.event_irqn, False)
