"""Every single-store encoding, exactly-once writes and multi-word stores with SP in the NVIC."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from openvisor.machine import RunReason

from .programs import (
    AFTER,
    ENABLE_IRQ0,
    ENABLE_USART2,
    ISPR0,
    PATHS,
    STIR,
    TDR,
    USART2,
    boot,
    check_entry,
    launch,
)

# Single stores: (set-up, store, base register, its value after the store).
# Each store but the last two writes 1 to ISPR0 (to its first byte,
# halfword or word), which pends IRQ 0.
STORE_FORMS = {
    "str-imm5": ("ldr r0, =0xE000E1FC", "str r1, [r0, #4]", "r0", 0xE000_E1FC),
    "strb-imm5": ("ldr r0, =0xE000E1E0", "strb r1, [r0, #0x20]", "r0", 0xE000_E1E0),
    "strh-imm5": ("ldr r0, =0xE000E1E0", "strh r1, [r0, #0x20]", "r0", 0xE000_E1E0),
    "str-register": (
        "ldr r0, =0xE000E100\n    movs r2, #0x80\n    lsls r2, r2, #1",
        "str r1, [r0, r2]",
        "r0",
        0xE000_E100,
    ),
    "strb-register": (
        "ldr r0, =0xE000E100\n    movs r2, #0x80\n    lsls r2, r2, #1",
        "strb r1, [r0, r2]",
        "r0",
        0xE000_E100,
    ),
    "strh-register": (
        "ldr r0, =0xE000E100\n    movs r2, #0x80\n    lsls r2, r2, #1",
        "strh r1, [r0, r2]",
        "r0",
        0xE000_E100,
    ),
    "str-imm12": ("ldr r0, =0xE000E000", "str.w r1, [r0, #0x200]", "r0", 0xE000_E000),
    "strb-imm12": ("ldr r0, =0xE000E000", "strb.w r1, [r0, #0x200]", "r0", 0xE000_E000),
    "strh-imm12": ("ldr r0, =0xE000E000", "strh.w r1, [r0, #0x200]", "r0", 0xE000_E000),
    "str-negative": ("ldr r0, =0xE000E2FF", "str r1, [r0, #-255]", "r0", 0xE000_E2FF),
    "strb-negative": ("ldr r0, =0xE000E210", "strb r1, [r0, #-16]", "r0", 0xE000_E210),
    "strh-negative": ("ldr r0, =0xE000E210", "strh r1, [r0, #-16]", "r0", 0xE000_E210),
    "str-pre-index": ("ldr r0, =0xE000E210", "str r1, [r0, #-16]!", "r0", ISPR0),
    "strb-pre-index": ("ldr r0, =0xE000E1F0", "strb r1, [r0, #16]!", "r0", ISPR0),
    "strh-pre-index": ("ldr r0, =0xE000E101", "strh r1, [r0, #255]!", "r0", ISPR0),
    "str-post-index": ("ldr r0, =0xE000E200", "str r1, [r0], #-255", "r0", ISPR0 - 255),
    "strb-post-index": ("ldr r0, =0xE000E200", "strb r1, [r0], #1", "r0", ISPR0 + 1),
    "strh-post-index": ("ldr r0, =0xE000E200", "strh r1, [r0], #-2", "r0", ISPR0 - 2),
    "strt": ("ldr r0, =0xE000E1FC", "strt r1, [r0, #4]", "r0", 0xE000_E1FC),
    "strbt": ("ldr r0, =0xE000E101", "strbt r1, [r0, #255]", "r0", 0xE000_E101),
    "strht": ("ldr r0, =0xE000E1F8", "strht r1, [r0, #8]", "r0", 0xE000_E1F8),
    "str-lsl1": (
        "ldr r0, =0xE000E000\n    mov r2, #0x100",
        "str.w r1, [r0, r2, lsl #1]",
        "r0",
        0xE000_E000,
    ),
    "strb-lsl2": (
        "ldr r0, =0xE000E000\n    mov r2, #0x80",
        "strb.w r1, [r0, r2, lsl #2]",
        "r0",
        0xE000_E000,
    ),
    "strh-lsl3": (
        "ldr r0, =0xE000E000\n    mov r2, #0x40",
        "strh.w r1, [r0, r2, lsl #3]",
        "r0",
        0xE000_E000,
    ),
    # Base and data in one register: the byte 0x01 of 0xE000E201 pends IRQ 8.
    "rn-equals-rt": ("ldr r0, =0xE000E201", "strb r0, [r0]", "r0", 0xE000_E201),
    # Offset and data in one register: 0x200 written to ISPR0 pends IRQ 9.
    "rm-equals-rt": ("ldr r0, =0xE000E000\n    mov r1, #0x200", "str.w r1, [r0, r1]", "r1", 0x200),
}


@PATHS
@pytest.mark.parametrize("form", sorted(STORE_FORMS))
def test_single_store_form_taken_after_it(
    assemble: Callable[..., bytes], native: bool, form: str
) -> None:
    setup, store, base, base_after = STORE_FORMS[form]
    source = f"""
.thumb_func
reset:
    ldr r3, =0xE000E100
    mov r5, #-1
    str r5, [r3]           @ ISER0: IRQ 0-31
    movs r4, #0
    movs r11, #0
    movs r1, #1
    {setup}
    isb
    {store}
{AFTER}
"""
    image = assemble(source)
    machine = launch(image, native=native)
    check_entry(machine, image)
    assert machine.reg_read(base) == base_after
    assert machine.reg_read("r4") == 3
    assert machine._core.store_unverified == 0
    assert machine._core.store_stops == 1


# Stores of "\n" to USART2 TDR. The console callback pends IRQ 0 for the
# line, so each form must transmit exactly one byte and stop right after.
CONSOLE_FORMS = {
    "str": (TDR, 0, "str r1, [r0]", TDR),
    "strb-imm5": (TDR - 8, 0, "strb r1, [r0, #8]", TDR - 8),
    "strh-imm5": (TDR - 8, 0, "strh r1, [r0, #8]", TDR - 8),
    "str-register": (TDR - 8, 8, "str r1, [r0, r2]", TDR - 8),
    "strb-register": (TDR - 8, 8, "strb r1, [r0, r2]", TDR - 8),
    "strh-register": (TDR - 8, 8, "strh r1, [r0, r2]", TDR - 8),
    "str-imm12": (USART2, 0, "str.w r1, [r0, #0x28]", USART2),
    "str-negative": (TDR + 4, 0, "str r1, [r0, #-4]", TDR + 4),
    "str-pre-index": (TDR + 4, 0, "str r1, [r0, #-4]!", TDR),
    "str-post-index": (TDR, 0, "str r1, [r0], #-40", TDR - 40),
    "strb-post-index": (TDR, 0, "strb r1, [r0], #1", TDR + 1),
    "strh-pre-index": (TDR - 2, 0, "strh r1, [r0, #2]!", TDR),
    "strt": (TDR - 4, 0, "strt r1, [r0, #4]", TDR - 4),
    "str-lsl2": (TDR - 8, 2, "str.w r1, [r0, r2, lsl #2]", TDR - 8),
    "strb-lsl3": (TDR - 16, 2, "strb.w r1, [r0, r2, lsl #3]", TDR - 16),
}


@PATHS
@pytest.mark.parametrize("form", sorted(CONSOLE_FORMS))
def test_console_store_transmits_once(
    assemble: Callable[..., bytes], native: bool, form: str
) -> None:
    base, index, store, base_after = CONSOLE_FORMS[form]
    source = f"""
.thumb_func
reset:
    {ENABLE_IRQ0}
    {ENABLE_USART2}
    movs r4, #0
    movs r11, #0
    ldr r0, ={base:#x}
    movs r1, #10
    movs r2, #{index}
    isb
    {store}
{AFTER}
"""
    image = assemble(source)
    machine = boot(image, native=native)
    machine.peripherals.on_console(lambda source, text: machine.pend_irq(0))
    assert machine.run(max_cycles=2_000).reason is RunReason.BREAKPOINT
    assert bytes(machine.peripherals.usart2.output) == b"\n"
    check_entry(machine, image)
    assert machine.reg_read("r0") == base_after
    assert machine._core.store_unverified == 0


# SP pointed into the NVIC: multi-word stores must never be cut short.
SP_STORES = {
    "stmdb": "stmdb sp!, {r1, r2}",
    "strd": "strd r1, r2, [sp, #-8]",
    "push-wide": "push.w {r1, r2}",
    "strd-far-offset": "strd r1, r2, [sp, #-1016]",
}


@PATHS
@pytest.mark.parametrize("store", sorted(SP_STORES))
def test_sp_in_nvic_multiword_store(
    assemble: Callable[..., bytes], native: bool, store: str
) -> None:
    """Each form writes STIR (INTID 0) and the next word, and SP is restored in the same block."""
    sp = STIR + 1016 if store == "strd-far-offset" else STIR + 8
    source = f"""
.thumb_func
reset:
    {ENABLE_IRQ0}
    movs r4, #0
    movs r11, #0
    movs r1, #0
    movs r2, #0
    ldr r3, ={sp:#x}
    mov r6, sp
    isb
    mov sp, r3
    {SP_STORES[store]}
    mov sp, r6
{AFTER}
"""
    machine = launch(assemble(source), native=native)
    assert machine.reg_read("r11") == 1
    assert machine.reg_read("r8") == 3  # at the block end
    assert machine._core.store_stops == 0
    assert machine._core.store_unverified == 0
