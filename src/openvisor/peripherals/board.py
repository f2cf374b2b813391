"""The STM32U585 peripheral set that the machine maps at 0x4000_0000.

Observers: `on_console(callback(source, line))` for USART2 and LPUART1
lines, `on_gpio(callback(GpioEvent))` for pin changes. Sensors and inputs
can be changed while the device runs, e.g.
``machine.peripherals.mcp9808.set_temperature(31.0)`` or
``machine.peripherals.gpio["C"].set_input(13, 1)``.
"""

from __future__ import annotations

from collections.abc import Callable

from openvisor.peripherals.base import Host, PeripheralBus
from openvisor.peripherals.crypto import Crc, Rng
from openvisor.peripherals.gpio import PORT_NAMES, Exti, GpioEvent, GpioPort
from openvisor.peripherals.i2c import I2c
from openvisor.peripherals.rcc import FlashInterface, Pwr, Rcc
from openvisor.peripherals.rtc import RTC_IRQ, Rtc
from openvisor.peripherals.sensors import Mcp9808, Th02
from openvisor.peripherals.timers import GeneralTimer, Timer
from openvisor.peripherals.usart import Usart

RTC_BASE = 0x4600_7800
PWR_DBPR_DBP = 1 << 0
USART2_IRQ = 62
LPUART1_IRQ = 66
TIM2_IRQ = 45
TIM6_IRQ = 49
TIM7_IRQ = 50
I2C1_EV_IRQ = 55

# The MCP9808 alert output (open drain, active low) is wired to this input.
MCP9808_ALERT_PORT = "F"
MCP9808_ALERT_PIN = 3


class Peripherals:
    """Every modelled peripheral, its bus decoder and the observer lists."""

    def __init__(self, host: Host, *, rng_seed: int | None = None) -> None:
        self.bus = PeripheralBus()
        self.console_lines: list[tuple[str, str]] = []
        self.gpio_events: list[GpioEvent] = []
        self._console_observers: list[Callable[[str, str], None]] = []
        self._gpio_observers: list[Callable[[GpioEvent], None]] = []

        self.rcc = Rcc("RCC", 0x4602_0C00, host)
        self.pwr = Pwr("PWR", 0x4602_0800, host)
        self.flash = FlashInterface("FLASH", 0x4002_2000, host)
        self.exti = Exti("EXTI", 0x4602_2000, host)
        self.gpio = {
            letter: GpioPort(letter, host, self.exti, self._gpio_observers, self.gpio_events)
            for letter in PORT_NAMES
        }
        self.usart2 = Usart("USART2", 0x4000_4400, host, irqn=USART2_IRQ, on_line=self._line)
        self.lpuart1 = Usart("LPUART1", 0x4600_2400, host, irqn=LPUART1_IRQ, on_line=self._line)
        self.tim2 = GeneralTimer("TIM2", 0x4000_0000, host, irqn=TIM2_IRQ, width=32)
        self.tim6 = Timer("TIM6", 0x4000_1000, host, irqn=TIM6_IRQ)
        self.tim7 = Timer("TIM7", 0x4000_1400, host, irqn=TIM7_IRQ)
        self.rng = Rng("RNG", 0x420C_0800, host, seed=rng_seed)
        self.crc = Crc("CRC", 0x4002_3000, host)
        self.i2c1 = I2c("I2C1", 0x4000_5400, host, event_irqn=I2C1_EV_IRQ)
        self.rtc = Rtc(
            "RTC",
            RTC_BASE,
            host,
            irqn=RTC_IRQ,
            backup_writable=lambda: bool(self.pwr.registers[0x28] & PWR_DBPR_DBP),
        )

        alert_port = self.gpio[MCP9808_ALERT_PORT]
        self.mcp9808 = Mcp9808(alert=lambda level: alert_port.set_input(MCP9808_ALERT_PIN, level))
        self.th02 = Th02()
        self.i2c1.attach(self.mcp9808)
        self.i2c1.attach(self.th02)

        for peripheral in (
            self.rcc,
            self.pwr,
            self.flash,
            self.exti,
            *self.gpio.values(),
            self.usart2,
            self.lpuart1,
            self.tim2,
            self.tim6,
            self.tim7,
            self.rng,
            self.crc,
            self.i2c1,
            self.rtc,
        ):
            self.bus.attach(peripheral)

    def reset(self) -> None:
        """Apply a system reset to every peripheral.

        Sensor readings and GPIO inputs are kept, and so is the backup domain (the
        RTC and RCC_BDCR), which only a power-on resets.
        """
        self.bus.reset()

    def on_console(self, callback: Callable[[str, str], None]) -> None:
        """Call `callback(source, line)` for each line USART2 or LPUART1 transmits."""
        self._console_observers.append(callback)

    def on_gpio(self, callback: Callable[[GpioEvent], None]) -> None:
        """Call `callback(event)` for each change of an output pin's level."""
        self._gpio_observers.append(callback)

    def _line(self, source: str, line: str) -> None:
        self.console_lines.append((source, line))
        for observer in list(self._console_observers):
            observer(source, line)

    @property
    def console(self) -> list[str]:
        """Lines transmitted on USART2 and LPUART1, in order."""
        return [line for _, line in self.console_lines]
