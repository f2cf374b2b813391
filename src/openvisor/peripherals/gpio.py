"""GPIO ports A-I and EXTI, the external interrupt controller (RM0456 chapters 13, 22).

Output pins are observable: every change of a pin's driven level is
recorded as a `GpioEvent` and passed to observers. Input levels are set
from outside (`GpioPort.set_input`), and edges reach EXTI, which asserts
the level-sensitive lines EXTI0-EXTI15 (IRQ 11-26) while a line is pending
in RPR1 or FPR1 and unmasked in IMR1.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from openvisor.peripherals.base import Host, Peripheral

log = logging.getLogger(__name__)

PORT_NAMES = "ABCDEFGHI"
GPIO_BASE = 0x4202_0000
EXTI_IRQ_BASE = 11  # EXTI0 is IRQ 11, EXTI15 is IRQ 26

MODE_INPUT = 0
MODE_OUTPUT = 1
MODE_ALTERNATE = 2
MODE_ANALOG = 3


@dataclass(frozen=True)
class GpioEvent:
    """A change of a pin's level: port letter, pin number, new level, virtual cycle."""

    port: str
    pin: int
    level: int
    cycle: int


class Exti(Peripheral):
    """EXTI lines 0-15 fed by GPIO edges, with rising/falling pending registers."""

    REGISTERS: ClassVar[dict[int, str]] = {
        0x00: "RTSR1",
        0x04: "FTSR1",
        0x08: "SWIER1",
        0x0C: "RPR1",
        0x10: "FPR1",
        0x14: "SECCFGR1",
        0x18: "PRIVCFGR1",
        0x60: "EXTICR1",
        0x64: "EXTICR2",
        0x68: "EXTICR3",
        0x6C: "EXTICR4",
        0x70: "LOCKR",
        0x80: "IMR1",
        0x84: "EMR1",
    }

    def write_register(self, offset: int, value: int) -> None:
        """Store the value; RPR1/FPR1 are write-one-to-clear and SWIER1 triggers lines."""
        if offset in (0x0C, 0x10):
            self.registers[offset] &= ~value
            self._update_lines(value)
            return
        if offset == 0x08:
            for line in range(16):
                if value >> line & 1:
                    self.registers[0x0C] |= 1 << line
                    self._raise(line)
            return
        previous_mask = self.registers.get(0x80, 0)
        super().write_register(offset, value)
        if offset == 0x80:
            self._update_lines(previous_mask ^ value)

    def reset(self) -> None:
        """Restore reset values and release every interrupt line."""
        super().reset()
        self._update_lines(0xFFFF)

    def port_for_line(self, line: int) -> int:
        """Return the port index (0 = A) that EXTICR selects for a line."""
        register = self.registers[0x60 + 4 * (line // 4)]
        return (register >> (8 * (line % 4))) & 0xFF

    def gpio_edge(self, port: int, pin: int, rising: bool) -> None:
        """Feed an input edge of a GPIO pin into its EXTI line."""
        if self.port_for_line(pin) != port:
            return
        trigger = self.registers[0x00 if rising else 0x04]
        if not trigger >> pin & 1:
            return
        self.registers[0x0C if rising else 0x10] |= 1 << pin
        self._raise(pin)

    def _raise(self, line: int) -> None:
        """Drive the level-sensitive line of EXTI `line`: pending (RPR1 or FPR1) and unmasked."""
        pending = (self.registers[0x0C] | self.registers[0x10]) >> line & 1
        asserted = bool(pending and self.registers[0x80] >> line & 1)
        self.host.set_irq_level(EXTI_IRQ_BASE + line, asserted)

    def _update_lines(self, lines: int) -> None:
        for line in range(16):
            if lines >> line & 1:
                self._raise(line)


class GpioPort(Peripheral):
    """One GPIO port: mode, output data, set/reset, input data and alternate functions."""

    REGISTERS: ClassVar[dict[int, str]] = {
        0x00: "MODER",
        0x04: "OTYPER",
        0x08: "OSPEEDR",
        0x0C: "PUPDR",
        0x10: "IDR",
        0x14: "ODR",
        0x18: "BSRR",
        0x1C: "LCKR",
        0x20: "AFRL",
        0x24: "AFRH",
        0x28: "BRR",
        0x2C: "HSLVR",
        0x30: "SECCFGR",
    }
    RESET_MODER: ClassVar[dict[str, int]] = {"A": 0xABFF_FFFF, "B": 0xFFFF_FEBF}

    def __init__(
        self,
        letter: str,
        host: Host,
        exti: Exti,
        observers: list[Callable[[GpioEvent], None]],
        events: list[GpioEvent],
    ) -> None:
        self.letter = letter
        self.index = PORT_NAMES.index(letter)
        self.exti = exti
        self._observers = observers
        self._events = events
        self.inputs = 0
        super().__init__(f"GPIO{letter}", GPIO_BASE + 0x400 * self.index, host)

    def reset(self) -> None:
        """Restore reset values: analog mode except the debug pins of ports A and B."""
        super().reset()
        self.registers[0x00] = self.RESET_MODER.get(self.letter, 0xFFFF_FFFF)
        if self.letter == "A":
            self.registers[0x0C] = 0x6400_0000
        elif self.letter == "B":
            self.registers[0x0C] = 0x0000_0100
        self._driven = self._output_levels()

    def mode(self, pin: int) -> int:
        """Return the 2-bit MODER field of a pin."""
        return (self.registers[0x00] >> (2 * pin)) & 3

    def level(self, pin: int) -> int:
        """Return the level a pin is at: driven by ODR in output mode, else its input."""
        if self.mode(pin) in (MODE_OUTPUT, MODE_ALTERNATE):
            return (self.registers[0x14] >> pin) & 1
        return (self.inputs >> pin) & 1

    def _output_levels(self) -> int:
        value = 0
        for pin in range(16):
            if self.mode(pin) in (MODE_OUTPUT, MODE_ALTERNATE) and self.registers[0x14] >> pin & 1:
                value |= 1 << pin
        return value

    def read_register(self, offset: int) -> int:
        """Return the register; IDR reads pin levels and BSRR/BRR read zero."""
        if offset == 0x10:
            return sum(self.level(pin) << pin for pin in range(16))
        if offset in (0x18, 0x28):
            return 0
        return super().read_register(offset)

    def write_register(self, offset: int, value: int) -> None:
        """Store the value; BSRR and BRR set and reset ODR bits atomically."""
        if offset == 0x18:
            odr = self.registers[0x14]
            odr |= value & 0xFFFF
            odr &= ~(value >> 16)
            self.registers[0x14] = odr & 0xFFFF
        elif offset == 0x28:
            self.registers[0x14] &= ~value & 0xFFFF
        elif offset == 0x10:
            return  # IDR is read-only
        else:
            super().write_register(offset, value)
        self._notify_changes()

    def _notify_changes(self) -> None:
        levels = self._output_levels()
        changed = levels ^ self._driven
        if not changed:
            return
        self._driven = levels
        cycle = self.host.cycles
        for pin in range(16):
            if changed >> pin & 1:
                event = GpioEvent(self.letter, pin, levels >> pin & 1, cycle)
                self._events.append(event)
                log.debug("Change pin (pin=P%s%d, level=%d)", self.letter, pin, event.level)
                for observer in list(self._observers):
                    observer(event)

    def set_input(self, pin: int, level: int) -> None:
        """Set the external level of a pin; an input-mode edge reaches EXTI."""
        if not 0 <= pin < 16:
            raise ValueError(f"pin {pin} is out of range: use 0 to 15")
        old = (self.inputs >> pin) & 1
        new = 1 if level else 0
        if new:
            self.inputs |= 1 << pin
        else:
            self.inputs &= ~(1 << pin)
        if old != new and self.mode(pin) == MODE_INPUT:
            self.exti.gpio_edge(self.index, pin, rising=bool(new))
