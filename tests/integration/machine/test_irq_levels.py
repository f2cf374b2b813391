"""Level-sensitive peripheral interrupt lines, shown by `bm_irq_levels`."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from openvisor.machine import Machine, RunResult

EXPECTED = {
    # One TIM6 update, a handler that clears UIF on every second entry.
    "tim6_entries": "2",
    "tim6_pending_in_handler": "0",
    "tim6_pending_after": "0",
    "tim6_uif_after": "0",
    # EXTI0 left pending in RPR1 until the third entry.
    "exti_entries": "3",
    "exti_rpr_after": "0",
    "exti_pending_after": "0",
    # DIER.UIE set while SR.UIF is already set pends TIM7 at once.
    "uie_uif": "1",
    "uie_pending_before": "0",
    "uie_pending_after": "1",
    "uie_entries_disabled": "0",
    "uie_entries": "1",
    "uie_pending_end": "0",
    # ICPR does not clear an interrupt whose line is still asserted.
    "icpr_asserted": "1",
    "icpr_released": "0",
}


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
def test_irq_lines_are_levels(
    boot: Callable[..., Machine],
    run_until_line: Callable[..., RunResult],
    console_values: Callable[[Machine], dict[str, str]],
    native: bool,
) -> None:
    machine = boot("bm_irq_levels")
    machine._native_exceptions = native
    run_until_line(machine, "levels done", max_cycles=5_000_000)
    values = console_values(machine)
    if native:
        assert machine._core.native_returns > 0  # the returns that re-pend ran natively
    for key, expected in EXPECTED.items():
        assert values.get(key) == expected, f"{key}: {values.get(key)!r} != {expected!r}"
