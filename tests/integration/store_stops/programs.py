"""Programs and helpers shared by the tests of the stop right after a store that pends an exception.

A store that makes an exception preempt stops Unicorn, which abandons the
store after its write. ``ov_complete_store`` then finishes the store, and
the exception is taken with the next instruction as its return address
(``machine/_store.c``, "Latency" in ``docs/machine.md``). Every test runs
on the native exception path and on the Python one.
"""

from __future__ import annotations

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
    {ENABLE_IRQ0}
    movs r4, #0
    movs r11, #0
    ldr r0, =0xE000EF00
    movs r1, #0
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
