"""Basic timers TIM6/TIM7 and the general-purpose TIM2 in up-counting mode (RM0456 ch. 56-58).

The timer kernel clock equals SYSCLK (160 MHz, APB prescalers at 1), so one
timer tick lasts PSC + 1 core cycles. The counter is computed from the
cycle of its last write; one scheduled event per update (overflow) sets
SR.UIF. The interrupt line is level-sensitive. It is asserted while SR.UIF
and DIER.UIE are both set, so a handler that returns without clearing UIF
is entered again. PSC, and ARR when CR1.ARPE is set, are preloaded and take
effect at the next update.
Capture/compare channels of TIM2 are stored but do not drive pins.
"""

from __future__ import annotations

from typing import ClassVar

from openvisor.peripherals.base import Cancellable, Host, Peripheral

CR1_CEN = 1 << 0
CR1_UDIS = 1 << 1
CR1_URS = 1 << 2
CR1_OPM = 1 << 3
CR1_ARPE = 1 << 7
SR_UIF = 1 << 0
DIER_UIE = 1 << 0
EGR_UG = 1 << 0


class Timer(Peripheral):
    """An up-counting timer with prescaler, auto-reload and update interrupt."""

    REGISTERS: ClassVar[dict[int, str]] = {
        0x00: "CR1",
        0x04: "CR2",
        0x0C: "DIER",
        0x10: "SR",
        0x14: "EGR",
        0x24: "CNT",
        0x28: "PSC",
        0x2C: "ARR",
    }

    def __init__(self, name: str, base: int, host: Host, *, irqn: int, width: int = 16) -> None:
        self.irqn = irqn
        self.counter_mask = (1 << width) - 1
        self._event: Cancellable | None = None
        super().__init__(name, base, host)

    def reset(self) -> None:
        """Stop the counter and restore reset values."""
        if getattr(self, "_event", None) is not None:
            assert self._event is not None
            self._event.cancel()
        self._event = None
        super().reset()
        self.registers[0x2C] = self.counter_mask
        self._arr_active = self.counter_mask
        self._psc_active = 0
        self._count = 0  # counter value at _anchor
        self._anchor = 0
        self._update_irq()

    # Counter arithmetic

    @property
    def _running(self) -> bool:
        return bool(self.registers[0x00] & CR1_CEN)

    def _tick_cycles(self) -> int:
        return self._psc_active + 1

    def counter(self) -> int:
        """Return CNT as the program would read it now."""
        if not self._running:
            return self._count
        ticks = (self.host.cycles - self._anchor) // self._tick_cycles()
        period = self._arr_active + 1
        if self._count + ticks <= self._arr_active:
            return self._count + ticks
        return (self._count + ticks - period) % period if period else 0

    def _freeze(self) -> None:
        self._count = self.counter()
        self._anchor = self.host.cycles

    def _reschedule(self) -> None:
        if self._event is not None:
            self._event.cancel()
            self._event = None
        if not self._running or self._arr_active == 0:
            return
        ticks_to_update = self._arr_active + 1 - self._count
        if ticks_to_update <= 0:
            ticks_to_update = self._arr_active + 1
        at_cycle = self._anchor + ticks_to_update * self._tick_cycles()
        self._event = self.host.schedule(at_cycle, self._on_update)

    def _on_update(self) -> None:
        self._event = None
        self._anchor = self.host.cycles
        self._count = 0
        self._apply_preload()
        self._update_event(from_counter=True)
        if self.registers[0x00] & CR1_OPM:
            self.registers[0x00] &= ~CR1_CEN
            return
        self._reschedule()

    def _apply_preload(self) -> None:
        self._psc_active = self.registers[0x28] & 0xFFFF
        self._arr_active = self.registers[0x2C] & self.counter_mask

    def _update_event(self, *, from_counter: bool) -> None:
        cr1 = self.registers[0x00]
        if cr1 & CR1_UDIS:
            return
        if not from_counter and cr1 & CR1_URS:
            return  # URS: only overflows set UIF
        self.registers[0x10] |= SR_UIF
        self._update_irq()

    def _update_irq(self) -> None:
        asserted = bool(self.registers[0x0C] & DIER_UIE and self.registers[0x10] & SR_UIF)
        self.host.set_irq_level(self.irqn, asserted)

    # Registers

    def read_register(self, offset: int) -> int:
        """Return the register; CNT is computed from virtual time."""
        if offset == 0x24:
            return self.counter()
        if offset == 0x14:
            return 0
        return super().read_register(offset)

    def write_register(self, offset: int, value: int) -> None:
        """Store the value and apply its effect on the counter."""
        if offset == 0x10:
            # SR flags are cleared by writing 0 and unchanged by writing 1.
            self.registers[0x10] &= value
            self._update_irq()
            return
        if offset == 0x14:
            if value & EGR_UG:
                self._freeze()
                self._count = 0
                self._apply_preload()
                self._update_event(from_counter=False)
                self._reschedule()
            return
        self._freeze()
        if offset == 0x24:
            self._count = value & self.counter_mask
        elif offset == 0x2C:
            self.registers[0x2C] = value & self.counter_mask
            if not self.registers[0x00] & CR1_ARPE:
                self._arr_active = self.registers[0x2C]
        else:
            super().write_register(offset, value)
            if offset == 0x0C:
                self._update_irq()
        self._reschedule()


class GeneralTimer(Timer):
    """TIM2: a 32-bit general-purpose timer; channels are stored, not simulated."""

    REGISTERS: ClassVar[dict[int, str]] = {
        **Timer.REGISTERS,
        0x08: "SMCR",
        0x18: "CCMR1",
        0x1C: "CCMR2",
        0x20: "CCER",
        0x34: "CCR1",
        0x38: "CCR2",
        0x3C: "CCR3",
        0x40: "CCR4",
        0x48: "DCR",
        0x4C: "DMAR",
        0x60: "AF1",
        0x64: "AF2",
        0x68: "TISEL",
    }
