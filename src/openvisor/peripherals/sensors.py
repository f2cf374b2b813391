"""I2C temperature sensors used by public Microvisor examples: MCP9808 and TH02.

Readings are settable while the device runs (`set_temperature`,
`set_humidity`). The MCP9808 alert output drives a GPIO input, so a
threshold crossing produces an EXTI edge.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

MCP9808_ADDRESS = 0x18
MCP9808_MANUFACTURER_ID = 0x0054
MCP9808_DEVICE_ID = 0x0400

# MCP9808 registers (datasheet DS25095, table 5-1).
REG_CONFIG = 0x01
REG_T_UPPER = 0x02
REG_T_LOWER = 0x03
REG_T_CRIT = 0x04
REG_T_AMBIENT = 0x05
REG_MANUFACTURER = 0x06
REG_DEVICE = 0x07
REG_RESOLUTION = 0x08

CONFIG_ALERT_MODE = 1 << 0  # 1: interrupt output, 0: comparator
CONFIG_ALERT_POLARITY = 1 << 1  # 1: active high
CONFIG_ALERT_SELECT = 1 << 2  # 1: T_CRIT only
CONFIG_ALERT_CONTROL = 1 << 3  # alert output enabled
CONFIG_INTERRUPT_CLEAR = 1 << 5


def _encode_temperature(celsius: float) -> int:
    """Encode a temperature in the MCP9808 13-bit two's complement format (1/16 °C)."""
    sixteenths = round(celsius * 16)
    return sixteenths & 0x1FFF


def _decode_limit(raw: int) -> float:
    """Decode a T_UPPER/T_LOWER/T_CRIT register (bits 12-2, 1/4 °C steps)."""
    value = (raw >> 2) & 0x7FF
    if raw & 0x1000:
        value -= 0x800
    return value / 4


class Mcp9808:
    """Microchip MCP9808 digital temperature sensor with an alert output.

    ``alert`` is called with the pin level (1 high, 0 low) whenever the
    alert output changes; wire it to `GpioPort.set_input`.
    """

    def __init__(
        self,
        *,
        address: int = MCP9808_ADDRESS,
        temperature: float = 22.5,
        alert: Callable[[int], None] | None = None,
    ) -> None:
        self.address = address
        self.temperature = temperature
        self._alert = alert
        self.registers = {
            REG_CONFIG: 0,
            REG_T_UPPER: 0,
            REG_T_LOWER: 0,
            REG_T_CRIT: 0,
            REG_RESOLUTION: 3,
        }
        self._pointer = REG_T_AMBIENT
        self._written: list[int] = []
        self._read_index = 0
        self._latched = False
        self._alert_level: int | None = None
        self._update_alert()

    def set_temperature(self, celsius: float) -> None:
        """Set the ambient temperature the sensor reports."""
        self.temperature = celsius
        self._update_alert()

    def _register_value(self, register: int) -> int:
        if register == REG_T_AMBIENT:
            value = _encode_temperature(self.temperature)
            if self.temperature >= _decode_limit(self.registers[REG_T_CRIT]):
                value |= 1 << 15
            if self.temperature > _decode_limit(self.registers[REG_T_UPPER]):
                value |= 1 << 14
            if self.temperature < _decode_limit(self.registers[REG_T_LOWER]):
                value |= 1 << 13
            return value
        if register == REG_MANUFACTURER:
            return MCP9808_MANUFACTURER_ID
        if register == REG_DEVICE:
            return MCP9808_DEVICE_ID
        return self.registers.get(register, 0)

    def _alert_condition(self) -> bool:
        config = self.registers[REG_CONFIG]
        critical = self.temperature >= _decode_limit(self.registers[REG_T_CRIT])
        if config & CONFIG_ALERT_SELECT:
            return critical
        window = self.temperature > _decode_limit(
            self.registers[REG_T_UPPER]
        ) or self.temperature < _decode_limit(self.registers[REG_T_LOWER])
        return critical or window

    def _update_alert(self) -> None:
        config = self.registers[REG_CONFIG]
        active = False
        if config & CONFIG_ALERT_CONTROL:
            condition = self._alert_condition()
            if config & CONFIG_ALERT_MODE:
                # Interrupt mode latches until software sets the clear bit.
                if condition:
                    self._latched = True
                active = self._latched
            else:
                active = condition
        active_high = bool(config & CONFIG_ALERT_POLARITY)
        level = int(active == active_high)
        if level != self._alert_level:
            self._alert_level = level
            log.debug("Drive MCP9808 alert (level=%d, temperature=%.2f)", level, self.temperature)
            if self._alert is not None:
                self._alert(level)

    # I2C target interface

    def start(self, read: bool) -> None:
        """Begin a transfer: writes set the pointer, reads return the pointed register."""
        self._written = []
        self._read_index = 0

    def write_byte(self, value: int) -> None:
        """Take a pointer byte, then the MSB and LSB of a register value."""
        self._written.append(value)
        if len(self._written) == 1:
            self._pointer = value & 0x0F
        elif self._pointer == REG_RESOLUTION and len(self._written) == 2:
            self.registers[REG_RESOLUTION] = value & 3
        elif len(self._written) == 3 and self._pointer in (
            REG_CONFIG,
            REG_T_UPPER,
            REG_T_LOWER,
            REG_T_CRIT,
        ):
            raw = (self._written[1] << 8) | self._written[2]
            if self._pointer == REG_CONFIG:
                if raw & CONFIG_INTERRUPT_CLEAR:
                    self._latched = False
                raw &= ~CONFIG_INTERRUPT_CLEAR
                self.registers[REG_CONFIG] = raw & 0x07FF
            else:
                self.registers[self._pointer] = raw & 0x1FFC
            self._update_alert()

    def read_byte(self) -> int:
        """Return the next byte of the pointed register, MSB first."""
        if self._pointer == REG_RESOLUTION:
            return self.registers[REG_RESOLUTION]
        value = self._register_value(self._pointer)
        byte = (value >> 8) & 0xFF if self._read_index % 2 == 0 else value & 0xFF
        self._read_index += 1
        return byte

    def stop(self) -> None:
        """End the transfer."""


TH02_ADDRESS = 0x40
TH02_ID = 0x50
TH02_STATUS = 0x00
TH02_DATA_HIGH = 0x01
TH02_DATA_LOW = 0x02
TH02_CONFIG = 0x03
TH02_ID_REGISTER = 0x11
TH02_CONFIG_START = 1 << 0
TH02_CONFIG_TEMPERATURE = 1 << 4


class Th02:
    """Silicon Labs TH02 humidity and temperature sensor (Grove TH02 module).

    A conversion started through CONFIG completes at once: STATUS.RDY
    (active low) reads 0 and DATA contains the result.
    """

    def __init__(
        self, *, address: int = TH02_ADDRESS, temperature: float = 21.0, humidity: float = 45.0
    ) -> None:
        self.address = address
        self.temperature = temperature
        self.humidity = humidity
        self._config = 0
        self._data = 0
        self._pointer = 0
        self._first = True

    def set_temperature(self, celsius: float) -> None:
        """Set the temperature the next conversion reports."""
        self.temperature = celsius

    def set_humidity(self, percent: float) -> None:
        """Set the relative humidity the next conversion reports."""
        self.humidity = percent

    def _convert(self) -> None:
        if self._config & TH02_CONFIG_TEMPERATURE:
            # Datasheet: T = DATA[15:2] / 32 - 50.
            raw = round((self.temperature + 50) * 32) & 0x3FFF
            self._data = raw << 2
        else:
            # Datasheet: RH = DATA[15:4] / 16 - 24.
            raw = round((self.humidity + 24) * 16) & 0xFFF
            self._data = raw << 4
        self._config &= ~TH02_CONFIG_START

    def start(self, read: bool) -> None:
        """Begin a transfer; a write's first byte selects the register."""
        self._first = not read

    def write_byte(self, value: int) -> None:
        """Take the register pointer, then data for CONFIG."""
        if self._first:
            self._pointer = value
            self._first = False
            return
        if self._pointer == TH02_CONFIG:
            self._config = value
            if value & TH02_CONFIG_START:
                self._convert()
        self._pointer += 1

    def read_byte(self) -> int:
        """Return the pointed register and move to the next one."""
        register = self._pointer
        self._pointer += 1
        if register == TH02_STATUS:
            return 0  # RDY is active low: conversion complete
        if register == TH02_DATA_HIGH:
            return (self._data >> 8) & 0xFF
        if register == TH02_DATA_LOW:
            return self._data & 0xFF
        if register == TH02_CONFIG:
            return self._config
        if register == TH02_ID_REGISTER:
            return TH02_ID
        return 0

    def stop(self) -> None:
        """End the transfer."""
