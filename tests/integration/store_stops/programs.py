"""Programs and helpers shared by the tests of the stop right after a store that pends an exception.

A store that makes an exception preempt stops Unicorn, which abandons the
store after its write. ``ov_complete_store`` then finishes the store, and
the exception is taken with the next instruction as its return address
(``machine/_store.c``, "Latency" in ``docs/machine.md``). Every test runs
on the native exception path and on the Python one.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from openvisor.machine import Machine, RunReason

PATHS = pytest.mark.parametrize("native", [True, False], ids=["native", "python"])

FLASH = 0x0800_0000
ISPR0 = 0xE000_E200
STIR = 0xE000_EF00
USART2 = 0x4000_4400
TDR = USART2 + 0x28
RDR = USART2 + 0x24

# Vector table. IRQ 0 and every IRQ from 3 up go to `irq`, IRQ 1 and 2 to
# `irq1` and `irq2`. A program may define any handler, and DEFAULTS at the
# end of the source supplies the ones it leaves out.
VECTORS = """
.section .text
.word 0x20010000
.word reset + 1
.word spin + 1
.word hardfault + 1
.word spin + 1
.word busfault + 1
.word usagefault + 1
.rept 4
.word spin + 1
.endr
.word svc_handler + 1
.word spin + 1
.word spin + 1
.word pendsv + 1
.word systick + 1
.word irq + 1
.word irq1 + 1
.word irq2 + 1
.rept 61
.word irq + 1
.endr
.thumb_func
spin:
    b spin
"""

# `irq` counts its entries in r11. On the first it records r4, the count
# of marker instructions run so far, in r8 and its stacked return address
# in r9. Faults stop at BKPT #0xFE.
DEFAULTS = """
.ltorg
.ifndef irq
.thumb_func
irq:
    adds r11, r11, #1
    cmp r11, #1
    bne 1f
    mov r8, r4
    ldr r9, [sp, #24]
1:  bx lr
.endif
.ifndef irq1
.set irq1, irq
.endif
.ifndef irq2
.set irq2, irq
.endif
.ifndef pendsv
.set pendsv, irq
.endif
.ifndef svc_handler
.thumb_func
svc_handler:
    bx lr
.endif
.ifndef systick
.thumb_func
systick:
    bx lr
.endif
.ifndef hardfault
.thumb_func
hardfault:
    bkpt #0xfe
.endif
.ifndef busfault
.set busfault, hardfault
.endif
.ifndef usagefault
.set usagefault, hardfault
.endif
"""

ENABLE_IRQ0 = """
    ldr r3, =0xE000E100
    movs r5, #1
    str r5, [r3]
"""

# Counters r4 and r11 at zero, r0 and r1 ready for STIR to pend IRQ 0.
READY = """
    movs r4, #0
    movs r11, #0
    ldr r0, =0xE000EF00
    movs r1, #0
"""

START = ENABLE_IRQ0 + READY

ENABLE_USAGEFAULT = """
    ldr r3, =0xE000ED24
    ldr r5, =0x40000
    str r5, [r3]           @ USGFAULTENA
"""

ENABLE_IRQ49 = """
    ldr r3, =0xE000E104
    ldr r5, =0x20000
    str r5, [r3]           @ ISER1: IRQ 49 (TIM6)
"""


def set_ccr(bits: int) -> str:
    """Return code that sets `bits` in CCR (0x10 DIV_0_TRP, 0x08 UNALIGN_TRP)."""
    return f"""
    ldr r3, =0xE000ED14
    ldr r5, [r3]
    orr r5, r5, #{bits:#x}
    str r5, [r3]           @ CCR
"""


def copy_blob(destination: int) -> str:
    """Return code that copies the words from `blob` to `blob_end` to `destination`."""
    return f"""
    ldr r0, =blob
    ldr r1, =blob_end
    ldr r2, ={destination:#x}
1:  ldr r3, [r0], #4
    str r3, [r2], #4
    cmp r0, r1
    blo 1b
    dsb
    isb
"""


def ticking(reload: int) -> str:
    """Return code that starts SysTick interrupts every `reload` cycles.

    It then clears r4 and r8 to r12 and readies r0 and r1 for STIR to pend IRQ 0.
    """
    return f"""
    ldr r3, =0xE000E014
    movs r5, #{reload}
    str r5, [r3]           @ SYST_RVR
    ldr r3, =0xE000E010
    movs r5, #7
    str r5, [r3]           @ SYST_CSR: enable, TICKINT, core clock
    movs r4, #0
    movs r8, #0
    movs r9, #0
    movs r10, #0
    movs r11, #0
    movs r12, #0
    ldr r0, =0xE000EF00
    movs r1, #0
"""


def sampling(address: int, register: str, then: str = "") -> str:
    """Return an `irq` handler that loads the word at `address` into `register` and runs `then`.

    The handler then counts its entries in r11 and records r4 in r8.
    """
    return f"""
.thumb_func
irq:
    ldr r3, ={address:#x}
    ldr {register}, [r3]
    {then}
    adds r11, r11, #1
    mov r8, r4
    bx lr
"""


def adds(count: int) -> str:
    """Return `count` instructions that each add 1 to r4."""
    return f"""
    .rept {count}
    adds r4, r4, #1
    .endr
"""


ENABLE_CYCCNT = """
    ldr r3, =0xE0001000
    ldr r5, [r3]
    orr r5, r5, #1
    str r5, [r3]           @ DWT_CTRL.CYCCNTENA
"""


def log(value: int) -> str:
    """Return code that appends `value` to the log that r7 points into."""
    return f"movs r5, #{value:#04x}\n    str r5, [r7], #4"


def pend_logged(priorities: int, enabled: int, then: str = "") -> str:
    """Return Thread code that pends IRQ 0 with the log at 0x20001000, runs `then` and stops.

    `priorities` goes to IPR0 (IRQ 0 to 3) and `enabled` to ISER0.
    """
    return f"""
    ldr r3, =0xE000E400
    ldr r5, ={priorities:#010x}
    str r5, [r3]           @ IPR0
    ldr r3, =0xE000E100
    movs r5, #{enabled}
    str r5, [r3]           @ ISER0
    ldr r7, =0x20001000    @ log
    ldr r0, =0xE000EF00
    isb
    movs r1, #0
    str r1, [r0]           @ IRQ 0
    {then}
    isb
    bkpt #0
"""


# `irq1` logs 0x11.
IRQ1_LOG = f"""
.thumb_func
irq1:
    {log(0x11)}
    bx lr
"""


def timed_pend(register: str, count: int) -> str:
    """Return code that reads CYCCNT into `register`, then pends IRQ 0 through STIR.

    The store is followed by `count` ADDS to r4.
    """
    return f"""
    ldr r3, =0xE0001004
    isb
    ldr {register}, [r3]           @ CYCCNT before the store
    str r1, [r0]           @ STIR: IRQ 0
    {adds(count)}
"""


ENABLE_USART2 = """
    ldr r3, =0x40004400
    movs r5, #9            @ CR1: UE | TE
    str r5, [r3]
"""

# Three marker instructions after the store, then a block end and BKPT.
AFTER = """
after:
    adds r4, r4, #1
    adds r4, r4, #1
    adds r4, r4, #1
    isb
    bkpt #0
"""
MARKERS = bytes.fromhex("0134") * 3  # adds r4, r4, #1 three times


PLAIN = f"""
.thumb_func
reset:
    {START}
    isb
    str r1, [r0]
{AFTER}
"""


def boot(image: bytes, *, native: bool) -> Machine:
    machine = Machine()
    machine._native_exceptions = native
    machine.debug.halt_on_bkpt = True
    machine.load_image(image)
    machine.reset()
    return machine


def launch(image: bytes, *, native: bool, cycles: int = 2_000) -> Machine:
    """Boot `image` and run it until it stops at a breakpoint."""
    machine = boot(image, native=native)
    assert machine.run(max_cycles=cycles).reason is RunReason.BREAKPOINT
    return machine


def check_entry(machine: Machine, image: bytes) -> None:
    """Check that `irq` ran once, entered right after the store, before the markers."""
    assert machine.reg_read("r11") == 1
    assert machine.reg_read("r8") == 0
    assert machine.reg_read("r9") == address_of(image, MARKERS)


def short_run(
    image: bytes, *, native: bool, limit: int, ends: Callable[[Machine], bool], failure: str
) -> Machine:
    """Boot `image` and run it with budgets of 1, 2, 3 ... cycles until `ends` returns true.

    The test fails with `failure` when no budget below `limit` makes `ends` true.
    """
    for budget in range(1, limit):
        machine = boot(image, native=native)
        machine.run(max_cycles=budget)
        if ends(machine):
            return machine
    pytest.fail(failure)


def address_of(image: bytes, code: bytes) -> int:
    """Return the flash address of the only occurrence of `code` in `image`."""
    assert image.count(code) == 1
    return FLASH + image.index(code)


def run_to_bkpt(machine: Machine, *, slice_cycles: int = 5_000) -> None:
    """Run until the program's final BKPT #0, through slices and breakpoints on the way."""
    for _ in range(10_000):
        result = machine.run(max_cycles=slice_cycles)
        if result.reason is RunReason.BREAKPOINT and machine.mem_read(machine.pc, 2) == b"\x00\xbe":
            return
        assert result.reason in (RunReason.BREAKPOINT, RunReason.BUDGET), result
        assert machine.cycles < 100_000
    raise AssertionError("the program did not reach BKPT #0")
