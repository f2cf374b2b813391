"""Traps and access rules of the virtual Cortex-M33, shown by the bm_traps image.

Each test boots one group of checks (selected through the SRAM mailbox)
and asserts what the firmware's fault handlers recorded: CFSR, HFSR,
BFAR, the stacked PC and the state the faulting instruction left behind.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from openvisor.machine import Machine, RunReason

MAILBOX = 0x2007_E000
TRAPS_MAGIC = 0x7EA9_5001

CFSR_PRECISERR = 1 << 9
CFSR_BFARVALID = 1 << 15
CFSR_UNALIGNED = 1 << 24
CFSR_DIVBYZERO = 1 << 25
HFSR_FORCED = 1 << 30
USAGEFAULT = 6
BUSFAULT = 5
HARDFAULT = 3


@pytest.fixture
def run_group(
    boot: Callable[..., Machine],
    run_until_line: Callable[..., object],
    console_values: Callable[[Machine], dict[str, str]],
) -> Callable[[int], dict[str, int]]:
    """Boot bm_traps with one group selected and return its console values as integers."""

    def run(group: int) -> dict[str, int]:
        machine = boot("bm_traps")
        machine.mem_write(MAILBOX, struct.pack("<II", group, TRAPS_MAGIC))
        run_until_line(machine, "traps done", max_cycles=50_000_000)
        values = {key: int(value) for key, value in console_values(machine).items()}
        assert values["group"] == group
        return values

    return run


def _fault(values: dict[str, int], name: str) -> tuple[int, int, int, int]:
    """Return (faults, exception, cfsr, stacked pc) of one check."""
    return (
        values[f"{name}_faults"],
        values[f"{name}_exception"],
        values[f"{name}_cfsr"],
        values[f"{name}_pc"],
    )


def test_sram_division_by_zero_traps(run_group: Callable[[int], dict[str, int]]) -> None:
    values = run_group(0)
    assert values["div_warm_result"] == 5
    # DIV_0_TRP clear: the quotient is 0 and nothing traps.
    assert values["div_off_result"] == 0
    assert values["div_off_faults"] == 0
    # Armed after the SRAM code had already run (its translation was cached).
    faults, exception, cfsr, pc = _fault(values, "div_cached")
    assert (faults, exception) == (1, USAGEFAULT)
    assert cfsr == CFSR_DIVBYZERO
    assert pc == values["div_cached_at"]
    assert values["div_cached_result"] == 10  # the handler skipped the SDIV
    assert values["div_nonzero_result"] == 4
    assert values["div_nonzero_faults"] == 0
    # Code written to SRAM while armed, the UDIV behind another instruction.
    faults, exception, cfsr, pc = _fault(values, "div_written")
    assert (faults, exception, cfsr) == (1, USAGEFAULT, CFSR_DIVBYZERO)
    assert pc == values["div_written_at"]
    assert values["div_disarmed_result"] == 0
    assert values["div_disarmed_faults"] == 0


def test_unaligned_accesses_trap(run_group: Callable[[int], dict[str, int]]) -> None:
    values = run_group(1)
    # Bytes 0x10, 0x11, ... fill the buffer, so the unaligned word at offset 1 is 0x14131211.
    assert values["off_ldr_value"] == 0x1413_1211
    assert values["off_ldr_faults"] == 0
    assert values["off_str_memory"] == 0xDEC0_DE10  # the store landed at offset 1
    assert values["off_str_memory4"] == 0x1716_15C0
    assert values["off_str_faults"] == 0
    # Exclusive loads need alignment whatever the value of CCR.UNALIGN_TRP.
    faults, exception, cfsr, pc = _fault(values, "off_ldrex")
    assert (faults, exception, cfsr) == (1, USAGEFAULT, CFSR_UNALIGNED)
    assert pc == values["off_ldrex_at"]
    assert values["off_ldrex_value"] == 0xC0DE_C0DE
    untouched = 0x1312_1110
    for name in ("ldr", "str", "ldrh", "strh", "ldrsh", "ldrd", "ldm", "ldrex"):
        faults, exception, cfsr, pc = _fault(values, name)
        assert (faults, exception, cfsr) == (1, USAGEFAULT, CFSR_UNALIGNED), name
        assert pc == values[f"{name}_at"], name
        # The faulting access changed neither its register nor memory.
        assert values[f"{name}_value"] == 0xC0DE_C0DE, name
        assert values[f"{name}_memory"] == untouched, name
        assert values[f"{name}_memory4"] == 0x1716_1514, name
    assert values["aligned_ldr_faults"] == 0
    assert values["aligned_ldr_value"] == 0x1716_1514
    assert values["aligned_strh_faults"] == 0
    assert values["aligned_strh_memory"] == 0xC0DE_1110
    assert values["cleared_ldr_faults"] == 0
    assert values["cleared_ldr_value"] == 0x1413_1211


def test_unprivileged_scs_bus_faults(run_group: Callable[[int], dict[str, int]]) -> None:
    values = run_group(2)
    precise = CFSR_PRECISERR | CFSR_BFARVALID
    faults, exception, cfsr, pc = _fault(values, "up_icsr")
    assert (faults, exception, cfsr) == (1, BUSFAULT, precise)
    assert values["up_icsr_bfar"] == 0xE000_ED04
    assert pc == values["up_icsr_at"]
    assert values["up_icsr_value"] == 0xC0DE  # the load did not complete

    faults, exception, cfsr, _ = _fault(values, "up_iser")
    assert (faults, exception, cfsr) == (1, BUSFAULT, precise)
    assert values["up_iser_bfar"] == 0xE000_E104
    assert values["up_iser_enabled"] == 0

    faults, exception, cfsr, _ = _fault(values, "up_stir")
    assert (faults, exception, cfsr) == (1, BUSFAULT, precise)
    assert values["up_stir_bfar"] == 0xE000_EF00
    assert values["up_stir_pending"] == 0
    # CCR.USERSETMPEND lets unprivileged code write STIR.
    assert values["up_stir_allowed_faults"] == 0
    assert values["up_stir_allowed_pending"] == 1

    # BusFault disabled: the fault escalates to HardFault.
    faults, exception, cfsr, pc = _fault(values, "up_systick")
    assert (faults, exception, cfsr) == (1, HARDFAULT, precise)
    assert values["up_systick_hfsr"] == HFSR_FORCED
    assert values["up_systick_bfar"] == 0xE000_E018
    assert pc == values["up_systick_at"]
    assert values["privileged_icsr_faults"] == 0


def test_nmi_bits_and_aircr_key(run_group: Callable[[int], dict[str, int]]) -> None:
    values = run_group(3)
    # NMI targets the Secure state (AIRCR.BFHFNMINS = 0): RAZ/WI for the app.
    assert values["nmi_set_taken"] == 0
    assert values["nmi_set_icsr_bit"] == 0
    assert values["nmi_clear_taken"] == 0
    assert values["aircr_nokey_prigroup"] == 0
    assert values["aircr_key_prigroup"] == 3
    assert values["aircr_key_vectkeystat"] == 0xFA05
    assert values["aircr_reset_nokey_survived"] == 1


def test_wfe_event_register(run_group: Callable[[int], dict[str, int]]) -> None:
    values = run_group(4)
    # SEV sets the event register: WFE clears it and does not sleep.
    assert values["sev_wfe_cycles"] < 20
    assert values["sev_wide_wfe_cycles"] < 20
    # With the event clear, WFE sleeps until the SysTick interrupt.
    assert values["wfe_sleep_ticks"] == 1
    assert 5_000 < values["wfe_sleep_cycles"] <= 20_100
    # Exception entry and return set the event register.
    assert values["after_exception_cycles"] < 20
    assert values["after_svc_cycles"] < 20
    # SEVONPEND: a disabled interrupt becoming pending wakes WFE.
    assert values["sevonpend_pending"] == 1
    assert values["sevonpend_uif"] == 1
    assert 29_000 <= values["sevonpend_cycles"] <= 30_200


def test_wfe_sleeps_without_event(assemble: Callable[[str], bytes]) -> None:
    machine = Machine()
    machine.load_image(
        assemble(
            """
.word 0x20010000
.word reset + 1
.thumb_func
reset:
    wfe
    movs r0, #1
    b .
"""
        )
    )
    machine.reset()
    result = machine.run(max_cycles=10_000)
    assert result.reason is RunReason.SLEEP
    assert machine.reg_read("r0") == 0
