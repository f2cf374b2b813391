"""I2C controller transfers and the MCP9808 and TH02 models."""

from __future__ import annotations

from openvisor.machine import Machine

I2C1 = 0x4000_5400
ISR_TXIS = 1 << 1
ISR_RXNE = 1 << 2
ISR_NACKF = 1 << 4
ISR_STOPF = 1 << 5
ISR_TC = 1 << 6


def _write(machine: Machine, address: int, data: bytes) -> int:
    machine.bus_write(I2C1 + 0x04, 4, (address << 1) | (len(data) << 16) | (1 << 25) | (1 << 13))
    for byte in data:
        if not machine.bus_read(I2C1 + 0x18) & ISR_TXIS:
            break
        machine.bus_write(I2C1 + 0x28, 4, byte)
    isr = machine.bus_read(I2C1 + 0x18)
    machine.bus_write(I2C1 + 0x1C, 4, ISR_STOPF | ISR_NACKF)
    return isr


def _read_register(machine: Machine, address: int, register: int, length: int) -> bytes:
    machine.bus_write(I2C1 + 0x04, 4, (address << 1) | (1 << 16) | (1 << 13))
    assert machine.bus_read(I2C1 + 0x18) & ISR_TXIS
    machine.bus_write(I2C1 + 0x28, 4, register)
    assert machine.bus_read(I2C1 + 0x18) & ISR_TC
    machine.bus_write(
        I2C1 + 0x04, 4, (address << 1) | (1 << 10) | (length << 16) | (1 << 25) | (1 << 13)
    )
    data = bytearray()
    for _ in range(length):
        assert machine.bus_read(I2C1 + 0x18) & ISR_RXNE
        data.append(machine.bus_read(I2C1 + 0x24))
    assert machine.bus_read(I2C1 + 0x18) & ISR_STOPF
    machine.bus_write(I2C1 + 0x1C, 4, ISR_STOPF)
    return bytes(data)


def test_mcp9808_ids_and_temperature(machine: Machine) -> None:
    machine.bus_write(I2C1, 4, 1)
    assert _read_register(machine, 0x18, 0x06, 2) == b"\x00\x54"
    assert _read_register(machine, 0x18, 0x07, 2) == b"\x04\x00"
    machine.peripherals.mcp9808.set_temperature(-5.5)
    raw = int.from_bytes(_read_register(machine, 0x18, 0x05, 2), "big") & 0x1FFF
    assert raw - 0x2000 == -88  # -5.5 C in 1/16 C steps


def test_mcp9808_alert_drives_pin(machine: Machine) -> None:
    machine.bus_write(I2C1, 4, 1)
    port = machine.peripherals.gpio["F"]
    _write(machine, 0x18, bytes([0x02, 0x01, 0x90]))  # T_UPPER 25.0 C
    _write(machine, 0x18, bytes([0x04, 0x06, 0x40]))  # T_CRIT 100 C
    _write(machine, 0x18, bytes([0x01, 0x00, 0x08]))  # alert on, comparator, active low
    assert port.inputs >> 3 & 1 == 1
    machine.peripherals.mcp9808.set_temperature(26.0)
    assert port.inputs >> 3 & 1 == 0
    flags = int.from_bytes(_read_register(machine, 0x18, 0x05, 2), "big")
    assert flags & (1 << 14)  # above T_UPPER
    machine.peripherals.mcp9808.set_temperature(24.0)
    assert port.inputs >> 3 & 1 == 1


def test_th02_conversions(machine: Machine) -> None:
    machine.bus_write(I2C1, 4, 1)
    machine.peripherals.th02.set_temperature(30.0)
    machine.peripherals.th02.set_humidity(55.0)
    _write(machine, 0x40, bytes([0x03, 0x11]))
    assert _read_register(machine, 0x40, 0x00, 1) == b"\x00"
    data = int.from_bytes(_read_register(machine, 0x40, 0x01, 2), "big")
    assert (data >> 2) / 32 - 50 == 30.0
    _write(machine, 0x40, bytes([0x03, 0x01]))
    data = int.from_bytes(_read_register(machine, 0x40, 0x01, 2), "big")
    assert (data >> 4) / 16 - 24 == 55.0
    assert _read_register(machine, 0x40, 0x11, 1) == b"\x50"


def test_absent_device_naks(machine: Machine) -> None:
    machine.bus_write(I2C1, 4, 1)
    isr = _write(machine, 0x33, b"\x00")
    assert isr & ISR_NACKF
    assert isr & ISR_STOPF
