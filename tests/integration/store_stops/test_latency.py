"""Interrupt latency: an exception pended by a store is taken right after that store."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from openvisor.machine import RunReason

from .programs import boot, launch

# Vector table: initial SP, reset, SVCall (11), PendSV (14) and every
# external interrupt go to `irq`; the other exceptions spin.
VECTORS = """
.section .text
.word 0x20010000
.word reset + 1
.rept 9
.word spin + 1
.endr
.word irq + 1
.word spin + 1
.word spin + 1
.word irq + 1
.word spin + 1
.rept 64
.word irq + 1
.endr
.thumb_func
spin:
    b spin
"""

# Enable the source, pend it with one store, then 40 ADDS before a block
# end and 10 after. The handler records how many ADDS ran before it (r8)
# and the return address it stacked (r9), and counts its entries (r11).
PROGRAM = (
    VECTORS
    + """
.thumb_func
reset:
    {enable}
    movs r4, #0
    movs r8, #0
    movs r9, #0
    movs r11, #0
    movs r2, #0
    isb
    ldr r0, ={base}
    ldr r1, ={value}
    {before}
    {store}
after:
    .rept 40
    adds r4, r4, #1
    .endr
    {barrier}
    .rept 10
    adds r4, r4, #1
    .endr
    bkpt #0
.thumb_func
irq:
    adds r11, r11, #1
    cmp r11, #1
    bne 1f
    mov r8, r4
    ldr r9, [sp, #24]        @ stacked return address
1:  {acknowledge}
    bx lr
.ltorg
"""
)

ENABLE_IRQ0 = "ldr r3, =0xE000E100\n    movs r5, #1\n    str r5, [r3]"
ENABLE_TIM6 = (
    "ldr r3, =0xE000E104\n    ldr r5, =0x20000\n    str r5, [r3]\n"  # ISER1: IRQ 49
    "    ldr r3, =0x4000100C\n    movs r5, #1\n    str r5, [r3]"  # TIM6 DIER.UIE
)
ACK_TIM6 = "ldr r3, =0x40001010\n    movs r5, #0\n    str r5, [r3]"  # clear SR.UIF

SOURCES = {
    "ispr": (ENABLE_IRQ0, 0xE000_E200, 1, "nop"),
    "stir": (ENABLE_IRQ0, 0xE000_EF00, 0, "nop"),
    "pendsv": ("nop", 0xE000_ED04, 1 << 28, "nop"),
    "shcsr-svcall": ("nop", 0xE000_ED24, 1 << 15, "nop"),  # SVCALLPENDED
    "tim6-ug": (ENABLE_TIM6, 0x4000_1014, 1, ACK_TIM6),
}

# Store forms: (instruction, offset of the base register before it, its change after).
FORMS = {
    "str": ("str r1, [r0]", 0, 0),
    "str-register": ("str r1, [r0, r2]", 0, 0),
    "str-wide": ("str.w r1, [r0, #0]", 0, 0),
    "post-index": ("str r1, [r0], #4", 0, 4),
    "pre-index": ("str r1, [r0, #-4]!", 4, -4),
}


def build(
    assemble: Callable[..., bytes],
    source: str,
    store: str,
    *,
    before: str = "",
    barrier: str = "isb",
) -> bytes:
    enable, base, value, acknowledge = SOURCES[source]
    form, adjust, _ = FORMS.get(store, (store, 0, 0))
    return assemble(
        PROGRAM.format(
            enable=enable,
            base=f"{base + adjust:#x}",
            value=f"{value:#x}",
            before=before,
            store=form,
            barrier=barrier,
            acknowledge=acknowledge,
        ),
        raw=True,
    )


def after_address(image: bytes) -> int:
    """Return the address of the first ADDS after the store (label `after`)."""
    adds = bytes.fromhex("0134")  # adds r4, #1
    return 0x0800_0000 + image.index(adds * 40)


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize("store", sorted(FORMS))
def test_exception_taken_after_pending_store(
    assemble: Callable[..., bytes], native: bool, source: str, store: str
) -> None:
    image = build(assemble, source, store)
    machine = boot(image, native=native)
    result = machine.run(max_cycles=2_000)
    assert result.reason is RunReason.BREAKPOINT
    assert machine.reg_read("r11") == 1  # taken once
    assert machine.reg_read("r8") == 0  # before the first instruction after the store
    assert machine.reg_read("r9") == after_address(image)
    assert machine.reg_read("r4") == 50
    _, adjust, change = FORMS[store]
    assert machine.reg_read("r0") == SOURCES[source][1] + adjust + change
    assert machine._core.store_stops == 1
    assert machine._core.store_unverified == 0


# Instructions up to and including BKPT: 9 of set-up, 2 loads, the store,
# 7 in the handler, 40 ADDS, the barrier, 10 ADDS and BKPT. Exception
# entry and return cost no cycles.
INSTRUCTIONS = 9 + 2 + 1 + 7 + 40 + 1 + 10 + 1


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
@pytest.mark.parametrize("slice_cycles", [2_000, 3, 7])
def test_store_stop_keeps_time_exact(
    assemble: Callable[..., bytes], native: bool, slice_cycles: int
) -> None:
    machine = boot(build(assemble, "stir", "str"), native=native)
    while machine.run(max_cycles=slice_cycles).reason is not RunReason.BREAKPOINT:
        assert machine.cycles < 1_000
    assert machine.cycles == INSTRUCTIONS
    assert machine.reg_read("r8") == 0
    assert machine.reg_read("r4") == 50


# Blocks in which a stop could abandon a store of several words after its
# first write: the exception waits for the block's end, after the 40 ADDS,
# and the store runs once.
FALLBACKS = {
    "stm": ("stm r0!, {r1}", ""),
    "strd": ("strd r1, r2, [r0]", ""),
}

# A store in an IT block: Unicorn does not stop inside IT blocks, so the
# machine stops before the instruction after the IT block instead.
# (store, code before it, instructions of the IT block after the store)
IT_CASES = {
    "it-block": ("cmp r0, r0\n    it eq\n    streq r1, [r0]", "", 0),
    "it-then-one": (
        "cmp r0, r0\n    itt eq\n    streq r1, [r0]\n    addeq.w r4, r4, #1",
        "",
        1,
    ),
    # Branching into the ITE's second slot clears the IT state, but the
    # block alone cannot show that: its first instruction counts as
    # conditional, and the stop comes right after it.
    "into-it-block": ("strne r1, [r0]", "b 2f\n    ite eq\n    moveq r0, r0\n2:", 0),
}


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
@pytest.mark.parametrize("case", sorted(IT_CASES))
def test_store_in_it_block_stops_after_it(
    assemble: Callable[..., bytes], native: bool, case: str
) -> None:
    store, before, rest = IT_CASES[case]
    image = build(assemble, "ispr", store, before=before)
    machine = boot(image, native=native)
    # The first time, the stop hook after the IT block does not exist yet:
    # the exception waits for the block end, and the hook is added.
    assert machine.run(max_cycles=2_000).reason is RunReason.BREAKPOINT
    assert machine.reg_read("r8") == 40 + rest
    assert machine._core.it_exit_count == 1
    # From then on (the hook stays across resets), it stops after the IT block.
    machine.reset()
    assert machine.run(max_cycles=2_000).reason is RunReason.BREAKPOINT
    assert machine.reg_read("r11") == 1
    assert machine.reg_read("r8") == rest
    assert machine.reg_read("r9") == after_address(image)
    assert machine.reg_read("r4") == 50 + rest
    assert machine._core.store_stops == 0  # nothing abandoned
    assert machine._core.store_unverified == 0


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
@pytest.mark.parametrize("case", sorted(FALLBACKS))
def test_store_stop_declined_until_block_end(
    assemble: Callable[..., bytes], native: bool, case: str
) -> None:
    store, before = FALLBACKS[case]
    # ISPR0 and ISPR1: STRD also writes 0 to ISPR1, which changes nothing.
    machine = launch(build(assemble, "ispr", store, before=before), native=native)
    assert machine.reg_read("r11") == 1
    assert machine.reg_read("r8") == 40
    assert machine.reg_read("r4") == 50
    assert machine._core.store_stops == 0
    assert machine._core.store_unverified == 0


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
def test_push_to_nvic_waits_for_block_end(assemble: Callable[..., bytes], native: bool) -> None:
    """Hostile code that points SP at STIR and pushes: the PUSH is never cut short."""
    store = "mov r6, sp\n    add r3, r0, #4\n    mov sp, r3\n    push {r1}\n    mov sp, r6"
    machine = launch(build(assemble, "stir", store), native=native)
    assert machine.reg_read("r11") == 1
    assert machine.reg_read("r8") == 40
    assert machine._core.store_stops == 0
    assert machine._core.store_unverified == 0


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
def test_masked_pend_taken_when_unmasked(assemble: Callable[..., bytes], native: bool) -> None:
    """Under PRIMASK the store does not stop; CPSIE takes the exception at once."""
    image = build(assemble, "stir", "str", before="cpsid i", barrier="cpsie i")
    machine = launch(image, native=native)
    assert machine.reg_read("r8") == 40
    assert machine.reg_read("r9") == after_address(image) + 82  # after CPSIE
    assert machine._core.store_stops == 0


SHCSR_PROGRAM = (
    VECTORS
    + """
.thumb_func
reset:
    movs r11, #0
    cpsid i
    ldr r0, =0xE000ED24      @ SHCSR
    ldr r1, =0x8000          @ SVCALLPENDED
    str r1, [r0]
    ldr r5, [r0]             @ reads the pended bit
    movs r1, #0
    str r1, [r0]             @ clears it again
    ldr r6, [r0]
    cpsie i
    isb
    bkpt #0
.thumb_func
irq:
    adds r11, r11, #1
    bx lr
.ltorg
"""
)


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
def test_shcsr_pended_bits_set_and_clear(assemble: Callable[..., bytes], native: bool) -> None:
    machine = launch(assemble(SHCSR_PROGRAM, raw=True), native=native, cycles=500)
    assert machine.reg_read("r5") & (1 << 15)
    assert not machine.reg_read("r6") & (1 << 15)
    assert machine.reg_read("r11") == 0  # cleared before PRIMASK let it in


# (source, code before the store): in each case the store stops the run and the exception follows.
STOPS = {
    # Unprivileged Thread code pends TIM6 through its EGR.
    "unprivileged-peripheral": ("tim6-ug", "movs r3, #1\n    msr control, r3\n    isb"),
    # An IT block earlier in the same translated block does not delay the exception.
    "after-it-block": (
        "stir",
        "cmp r0, r0\n    itt eq\n    moveq r3, r3\n    streq r3, [sp, #-8]",
    ),
    # A multi-word store to SRAM in the same block cannot be the store that pended.
    "strd": ("stir", "mov r3, sp\n    strd r1, r2, [r3, #-16]"),
    "push": ("stir", "push {r1, r2}\n    pop {r1, r2}"),
}


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
@pytest.mark.parametrize("case", list(STOPS))
def test_stop_right_after_store(assemble: Callable[..., bytes], native: bool, case: str) -> None:
    """The store stops the run, and the exception is taken right after it."""
    source, before = STOPS[case]
    image = build(assemble, source, "str", before=before)
    machine = launch(image, native=native)
    assert machine.reg_read("r8") == 0
    assert machine.reg_read("r9") == after_address(image)
    assert machine._core.store_stops == 1
