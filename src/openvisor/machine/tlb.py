"""TLB fill policy for Unicorn's softmmu, so that stores to data pages take the fast path.

Unicorn 2.1.4 has no dirty-memory tracking: every writable RAM page enters
its TLB as "not dirty", and `notdirty_write` clears that flag after a
store only when the page's TLB entry is not executable and no memory hook
covers the address. Otherwise every store to the page leaves the inlined
fast path for the softmmu helper. With the CPU's own TLB fill
(`UC_TLB_CPU`), the Cortex-M default memory map makes all of SRAM
executable. A loop iteration with one store to the stack or to a global
then took 32-39 ns instead of 3.6-5 ns on the 2-core AMD EPYC host of
`docs/benchmarks.md` (`benchmarks/bench_unicorn.py` measures both).

`VirtualTlb` switches the engine to `UC_TLB_VIRTUAL` and fills each TLB
entry itself (1 KiB pages, identity addresses):

- an instruction fetch from flash or SRAM gets read, write and execute,
  and marks the page as a code page. A fetch from the gateway page gets
  execute only, so loads from it still fault;
- a data access to a page that code was never fetched from gets read and
  write only, so its stores take the fast path after the first one;
- a data access to a code page keeps execute, so stores there still go
  through `notdirty_write`, which invalidates translated blocks of
  self-modifying code;
- an instruction fetch from anywhere else is rejected and recorded as a
  fetch fault (see `_reject_fetch`).

Unicorn still checks the permissions of its mappings (flash read+execute,
the gateway execute-only, MMIO) after the fill, so data access faults
keep their kinds. The machine's invalid-access hook must not cover SRAM,
or no SRAM page would ever become dirty.
"""

from __future__ import annotations

import logging
from typing import Any

from unicorn import UC_HOOK_TLB_FILL, UC_MEM_FETCH, UC_TLB_VIRTUAL
from unicorn import arm_const as arm
from unicorn import unicorn_const as ucc
from unicorn.unicorn_py3.unicorn import UcError

from openvisor.machine import _native
from openvisor.machine import memory_map as mm

log = logging.getLogger(__name__)

PAGE_SIZE = 0x400  # Unicorn's TARGET_PAGE_SIZE for Arm (ctl_get_page_size)
_READ_WRITE = ucc.UC_PROT_READ | ucc.UC_PROT_WRITE
_ALL = ucc.UC_PROT_ALL
# xPSR IT[1:0] (bits 26:25) and IT[7:2] (bits 15:10).
_XPSR_IT_MASK = (0x3 << 25) | (0x3F << 10)
_EXECUTABLE = (
    (mm.FLASH_BASE, mm.FLASH_SIZE),
    (mm.SRAM_BASE, mm.SRAM_SIZE),
    (mm.GATEWAY_BASE, mm.GATEWAY_PAGE_SIZE),
)
_GATEWAY = ((mm.GATEWAY_BASE, mm.GATEWAY_PAGE_SIZE),)
_MMIO = (
    (mm.PERIPHERAL_BASE, mm.PERIPHERAL_SIZE),
    (mm.PPB_BASE, mm.PPB_SIZE),
)


def _inside(address: int, regions: tuple[tuple[int, int], ...]) -> bool:
    return any(base <= address < base + size for base, size in regions)


class VirtualTlb:
    """TLB fill policy of one engine: data pages without execute, code pages with it.

    `core` is the machine's native state, where a rejected fetch is
    recorded as a memory stop. Without it (bare engines) a rejected
    fetch ends `uc_emu_start` with UC_ERR_EXCEPTION.
    """

    def __init__(self, uc: Any, core: _native.Core | None = None) -> None:
        self._core = core
        self.code_pages: set[int] = set()
        self.fills = 0
        uc.ctl_set_tlb_mode(UC_TLB_VIRTUAL)
        uc.hook_add(UC_HOOK_TLB_FILL, self._fill)

    def _fill(self, uc: Any, address: int, access: int, entry: Any, user_data: object) -> bool:
        self.fills += 1
        entry.paddr = address
        if access == UC_MEM_FETCH:
            if not _inside(address, _EXECUTABLE):
                return self._reject_fetch(uc, address)
            self.code_pages.add(address)
            # Unicorn checks a mapping's permissions only when it fills an
            # entry, so read permission here would let later loads from the
            # execute-only gateway through.
            entry.perms = ucc.UC_PROT_EXEC if _inside(address, _GATEWAY) else _ALL
            return True
        entry.perms = _ALL if address in self.code_pages else _READ_WRITE
        self._clear_it_state(uc, address)
        return True

    def _reject_fetch(self, uc: Any, page: int) -> bool:
        """Record a fetch outside flash, SRAM and the gateway as a memory stop.

        The hook gets only the page: the fault address is PC when PC lies
        in that page (a branch there), else the page start (code running
        into it).

        Rejecting here, before translation, matters at address 0. The run
        loop passes 0 as `uc_emu_start`'s end address, so a fetch from 0
        that the fill allowed would end the run as if it had finished.
        The loop would then start it again forever. With Unicorn's CPU
        TLB, the Cortex-M default map raised a prefetch abort there first.
        """
        core = self._core
        if core is not None:
            address = page
            try:
                pc = uc.reg_read(arm.UC_ARM_REG_PC) & ~1
                if page <= pc < page + PAGE_SIZE:
                    address = pc
            except UcError as exc:  # pragma: no cover - the registers always exist
                log.error("Reading PC in a TLB fill failed (page=%#010x): %s", page, exc)
            mapped = _inside(address, _MMIO)
            core.stop_flags |= _native.STOP_MEMORY
            core.mem_type = ucc.UC_MEM_FETCH_PROT if mapped else ucc.UC_MEM_FETCH_UNMAPPED
            core.mem_address = address
            core.mem_size = 2
        return False

    @staticmethod
    def _clear_it_state(uc: Any, address: int) -> None:
        """Undo the IT state that Unicorn 2.1.4 restores before calling a TLB fill hook.

        Before the hook, Unicorn rolls the CPU state back to the accessing
        instruction, which sets the IT bits of an instruction inside an IT
        block. The translated block then continues, and if it ends after
        the IT block, the next block starts with that stale IT state. The
        IT bits are zero in the CPU state while a block runs, because each
        block clears them at its start and writes them only when it leaves.
        """
        try:
            xpsr = uc.reg_read(arm.UC_ARM_REG_XPSR)
            if xpsr & _XPSR_IT_MASK:
                uc.reg_write(arm.UC_ARM_REG_XPSR_NZCVQG, xpsr & ~_XPSR_IT_MASK)
        except UcError as exc:  # pragma: no cover - the registers always exist
            log.error("Clearing the IT state in a TLB fill failed (page=%#010x): %s", address, exc)
