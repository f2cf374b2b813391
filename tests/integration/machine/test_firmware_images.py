"""Bare-metal images run on the machine and print what they observed."""

from __future__ import annotations

import hashlib
import itertools
import struct
import zlib
from collections.abc import Callable

from openvisor.machine import Machine, RunReason, RunResult

RunUntil = Callable[..., RunResult]
Values = Callable[[Machine], dict[str, str]]


def _f32(value: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def _accumulate(step: float, scale: float, iterations: int = 300_000) -> float:
    """The scheduler threads' loop in single precision, as the FPU computes it."""
    total = _f32(0.0)
    product = _f32(1.0)
    for _ in range(iterations):
        total = _f32(total + step)
        product = _f32(product * scale)
        if product > 1000.0:
            product = _f32(1.0)
    return _f32(total + product)


def _cpu_bench_digests(rounds: int, size: int = 4096) -> tuple[int, bytes]:
    """Compute bm_cpu_bench's results: chained CRC-32 and the last SHA-256 of a changing buffer."""
    buffer = bytearray((i * 7 + 3) & 0xFF for i in range(size))
    crc = 0
    digest = b""
    for round_index in range(rounds):
        crc = zlib.crc32(buffer, crc)
        digest = hashlib.sha256(buffer).digest()
        # The firmware XORs the low byte of the first big-endian digest word into the buffer.
        buffer[round_index % size] ^= digest[3]
    return crc, digest


def test_blink_toggles_led_every_tick(
    boot: Callable[..., Machine], run_until_line: RunUntil, console_values: Values
) -> None:
    machine = boot("bm_blink")
    run_until_line(machine, "blink done")
    console = machine.peripherals.console
    assert console[0] == "blink start"
    assert console[1:7] == [f"tick={n}" for n in range(1, 7)]
    events = [e for e in machine.peripherals.gpio_events if (e.port, e.pin) == ("A", 5)]
    assert [e.level for e in events] == [1, 0, 1, 0, 1, 0]
    gaps = [b.cycle - a.cycle for a, b in itertools.pairwise(events)]
    # One toggle per 10 ms SysTick period at 160 MHz, within a few cycles of wake-up work.
    assert all(abs(gap - 1_600_000) < 16 for gap in gaps), gaps


def test_scheduler_keeps_fpu_state_per_thread(
    boot: Callable[..., Machine], run_until_line: RunUntil, console_values: Values
) -> None:
    machine = boot("bm_scheduler")
    run_until_line(machine, "scheduler done", max_cycles=400_000_000)
    values = console_values(machine)
    assert values["sum_a"] == str(int(_accumulate(0.5, 1.25)))
    assert values["sum_b"] == str(int(_accumulate(0.25, 1.5)))
    assert values["switches_ok"] == "1"
    assert values["fp_frames_ok"] == "1"


def test_hal_init_sees_160mhz_pll(
    boot: Callable[..., Machine], run_until_line: RunUntil, console_values: Values
) -> None:
    machine = boot("bm_hal_init")
    run_until_line(machine, "hal init done")
    values = console_values(machine)
    assert values["sysclk"] == "160000000"
    assert values["pclk1"] == "160000000"
    assert values["usart_brr"] == str((160_000_000 + 57_600) // 115_200)
    for flag in ("vos_ready", "hsi_ready", "pll_ready", "sysclk_switched", "teack"):
        assert values[flag] == "1", flag
    assert values["flash_latency"] == "4"
    assert values["ticks_after_delay"] == "1"
    assert values["rng_ready"] == "1"
    assert values["rng_differs"] == "1"
    assert values["crc32"] == "0xcbf43926"


def test_cpp_static_constructors_run(
    boot: Callable[..., Machine], run_until_line: RunUntil, console_values: Values
) -> None:
    machine = boot("bm_cpp_ctors")
    run_until_line(machine, "cpp done")
    console = machine.peripherals.console
    assert console[:3] == ["constructed=2", "ctor=first", "ctor=second"]
    values = console_values(machine)
    assert values["sum"] == "42"
    assert values["lazy_before"] == "0"
    assert values["lazy_answer"] == "84"
    assert values["lazy_after"] == "1"


def test_zig_image_runs(
    boot: Callable[..., Machine], run_until_line: RunUntil, console_values: Values
) -> None:
    machine = boot("bm_zig")
    run_until_line(machine, "zig done")
    assert machine.peripherals.console == ["zig fib=46368", "zig ticks=3", "zig done"]
    levels = [e.level for e in machine.peripherals.gpio_events if (e.port, e.pin) == ("A", 5)]
    assert levels == [1, 0, 1]


def test_cpu_bench_digests(
    boot: Callable[..., Machine], run_until_line: RunUntil, console_values: Values
) -> None:
    machine = boot("bm_cpu_bench")
    run_until_line(machine, "bench done")
    values = console_values(machine)
    assert values["rounds"] == "4"
    crc, digest = _cpu_bench_digests(4)
    assert values["crc32"] == f"0x{crc:08x}"
    words = struct.unpack(">8I", digest)
    assert values["sha256"] == "".join(f"0x{word:08x}" for word in words)


def test_sensors_over_i2c_and_alert(
    boot: Callable[..., Machine], run_until_line: RunUntil, console_values: Values
) -> None:
    machine = boot("bm_sensors")
    run_until_line(machine, "waiting for alert")
    values = console_values(machine)
    assert values["mcp9808_manufacturer"] == "84"
    assert values["mcp9808_c100"] == "2250"
    assert values["th02_c100"] == "2100"
    assert values["th02_rh100"] == "4500"
    assert values["absent_nack"] == "1"
    assert values["alert_pin_idle"] == "1"

    # Nothing happens while the temperature stays inside the window.
    result = machine.run(max_cycles=10_000_000)
    assert result.reason is RunReason.SLEEP
    machine.peripherals.mcp9808.set_temperature(31.25)
    run_until_line(machine, "sensors done")
    values = console_values(machine)
    assert values["alert_c100"] == "3125"
    assert values["alert_pin_active"] == "1"
