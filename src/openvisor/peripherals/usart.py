"""USART/LPUART: transmit captured as console lines, receive injectable (RM0456 ch. 66-67).

Transmission completes at once, so TXE/TXFNF and TC read as set whenever
the transmitter is enabled and polling HAL code never waits.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import ClassVar

from openvisor.peripherals.base import Host, Peripheral

log = logging.getLogger(__name__)
console_log = logging.getLogger(__name__ + ".console")

CR1_UE = 1 << 0
CR1_RE = 1 << 2
CR1_TE = 1 << 3
CR1_RXNEIE = 1 << 5
CR1_TCIE = 1 << 6
CR1_TXEIE = 1 << 7

ISR_ORE = 1 << 3
ISR_IDLE = 1 << 4
ISR_RXNE = 1 << 5
ISR_TC = 1 << 6
ISR_TXE = 1 << 7
ISR_TEACK = 1 << 21
ISR_REACK = 1 << 22

MAX_LINE = 4096


class Usart(Peripheral):
    """A USART or LPUART whose transmitted bytes become console lines."""

    REGISTERS: ClassVar[dict[int, str]] = {
        0x00: "CR1",
        0x04: "CR2",
        0x08: "CR3",
        0x0C: "BRR",
        0x10: "GTPR",
        0x14: "RTOR",
        0x18: "RQR",
        0x1C: "ISR",
        0x20: "ICR",
        0x24: "RDR",
        0x28: "TDR",
        0x2C: "PRESC",
        0x30: "AUTOCR",
    }

    def __init__(
        self,
        name: str,
        base: int,
        host: Host,
        *,
        irqn: int,
        on_line: Callable[[str, str], None],
    ) -> None:
        self.irqn = irqn
        self._on_line = on_line
        self.lines: list[str] = []
        self.output = bytearray()
        self._partial = bytearray()
        self._rx: deque[int] = deque()
        self._overrun = False
        super().__init__(name, base, host)

    def reset(self) -> None:
        """Restore reset values and drop pending receive data."""
        super().reset()
        self._rx.clear()
        self._partial.clear()
        self._overrun = False

    def _isr(self) -> int:
        cr1 = self.registers[0x00]
        value = ISR_IDLE if not self._rx else 0
        if cr1 & CR1_TE:
            value |= ISR_TXE | ISR_TC | ISR_TEACK
        if cr1 & CR1_RE:
            value |= ISR_REACK
        if self._rx:
            value |= ISR_RXNE
        if self._overrun:
            value |= ISR_ORE
        return value

    def read_register(self, offset: int) -> int:
        """Return the register; ISR is computed and RDR pops a received byte."""
        if offset == 0x1C:
            return self._isr()
        if offset == 0x24:
            value = self._rx.popleft() if self._rx else 0
            self._update_irq()
            return value
        if offset == 0x28:
            return 0
        return super().read_register(offset)

    def write_register(self, offset: int, value: int) -> None:
        """Store the value; TDR transmits and ICR clears flags."""
        if offset == 0x28:
            if self.registers[0x00] & CR1_TE:
                self._transmit(value & 0xFF)
            self._update_irq()
            return
        if offset == 0x20:
            if value & ISR_ORE:
                self._overrun = False
                self._update_irq()
            return
        if offset == 0x18:
            if value & (1 << 3):  # RXFRQ: flush the receive data
                self._rx.clear()
            return
        super().write_register(offset, value)
        if offset == 0x00:
            self._update_irq()

    def _transmit(self, byte: int) -> None:
        self.output.append(byte)
        if byte == 0x0A or len(self._partial) >= MAX_LINE:
            line = self._partial.decode("utf-8", errors="replace").rstrip("\r")
            self._partial.clear()
            self.lines.append(line)
            console_log.info("%s: %s", self.name, line)
            self._on_line(self.name, line)
        elif byte != 0x0D or self._partial:
            self._partial.append(byte)

    def inject(self, data: bytes) -> None:
        """Queue bytes as if received on RX; the app reads them from RDR."""
        for byte in data:
            if len(self._rx) >= 4096:
                self._overrun = True
                break
            self._rx.append(byte)
        self._update_irq()

    def _update_irq(self) -> None:
        """Drive the level-sensitive interrupt line from the flags and their enables."""
        cr1 = self.registers[0x00]
        isr = self._isr()
        asserted = bool(cr1 & CR1_UE) and bool(
            (cr1 & CR1_RXNEIE and isr & (ISR_RXNE | ISR_ORE))
            or (cr1 & CR1_TXEIE and isr & ISR_TXE)
            or (cr1 & CR1_TCIE and isr & ISR_TC)
        )
        self.host.set_irq_level(self.irqn, asserted)
