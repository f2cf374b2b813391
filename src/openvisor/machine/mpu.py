"""The application's MPU: Armv8-M PMSAv8 registers, page permissions and MemManage faults.

The non-secure MPU of the STM32U585 has 8 regions. Each region has a base
and an inclusive limit with a 32-byte granule (RBAR.BASE, RLAR.LIMIT),
access permissions AP[2:1] (privileged RW, RW for all, privileged RO, RO
for all), XN and an enable bit. An access that hits two enabled regions
faults. An access that hits none uses the default memory map only when
it is privileged and MPU_CTRL.PRIVDEFENA is set.

Only application flash and SRAM are checked. Peripheral and system
register accesses are not. Unicorn checks permissions per 4 KiB page, so
pages that every privilege level may fully access keep their permissions
(no cost per access) and every other page of flash and SRAM loses the
permissions some access could lack. Unicorn then calls the native hook in
``_mpu.c`` for each such access, and the hook decides per access with the
current privilege. Unicorn 2.1.4 caches a page's read permission in its
TLB after the first allowed read, per privilege level. When that cache
could be wrong (see `needs_read_checks`, e.g. a 32-byte guard inside a
page), a do-nothing read hook is installed, and its presence sends every
load and store through the checked path.

A denied access stops emulation at the faulting instruction. `take_violation`
turns it into a MemManage fault: CFSR.IACCVIOL for an instruction fetch,
else CFSR.DACCVIOL with MMFAR and MMARVALID.
"""

from __future__ import annotations

import ctypes
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from unicorn import UC_HOOK_MEM_PROT, UC_HOOK_MEM_READ
from unicorn import arm_const as arm
from unicorn import unicorn_const as ucc
from unicorn.unicorn_py3.unicorn import uclib

from openvisor.machine import _native
from openvisor.machine import memory_map as mm
from openvisor.machine import nvic as nv

if TYPE_CHECKING:
    from openvisor.machine.core import Machine

log = logging.getLogger(__name__)

REGIONS = 8
MPU_TYPE = REGIONS << 8  # DREGION = 8, SEPARATE = 0

# System control space offsets from 0xE000_0000.
MPU_TYPE_OFFSET = 0xED90
MPU_CTRL_OFFSET = 0xED94
MPU_RNR_OFFSET = 0xED98
MPU_RBAR_OFFSET = 0xED9C
MPU_ALIAS_END = 0xEDBC  # RBAR_A3/RLAR_A3 end here
MPU_MAIR0_OFFSET = 0xEDC0
MPU_MAIR1_OFFSET = 0xEDC4
MPU_END = 0xEDC8

CTRL_ENABLE = 1 << 0
CTRL_HFNMIENA = 1 << 1
CTRL_PRIVDEFENA = 1 << 2

RBAR_XN = 1 << 0
RLAR_EN = 1 << 0
GRANULE = 32

# MemManage status bits (CFSR bits 0-7).
MMFSR_IACCVIOL = 1 << 0
MMFSR_DACCVIOL = 1 << 1
MMFSR_MUNSTKERR = 1 << 3
MMFSR_MSTKERR = 1 << 4
MMFSR_MMARVALID = 1 << 7

# Access kinds of `ov_mpu_allows` in _mpu.c.
READ = 0
WRITE = 1
FETCH = 2

PAGE_SIZE = 0x1000
_NEVER_MAPPED = 0xFFFF_FFFC  # the read hook's range: no load ever reaches it
_LAYOUTS_KEPT = 8  # MPU configurations whose page permissions are kept


class MpuState(ctypes.Structure):
    """Mirror of ``struct ov_mpu`` in ``_mpu.c``."""

    _fields_ = [
        ("ctrl", ctypes.c_uint32),
        ("rbar", ctypes.c_uint32 * REGIONS),
        ("rlar", ctypes.c_uint32 * REGIONS),
        ("sram", ctypes.c_void_p),
        ("sram_base", ctypes.c_uint32),
        ("sram_size", ctypes.c_uint32),
        ("flash_base", ctypes.c_uint32),
        ("flash_size", ctypes.c_uint32),
        ("reg_read", ctypes.c_void_p),
        ("reg_ipsr", ctypes.c_int32),
        ("reg_control", ctypes.c_int32),
        ("reg_faultmask", ctypes.c_int32),
        ("violation", ctypes.c_uint32),
        ("violation_type", ctypes.c_uint32),
        ("violation_address", ctypes.c_uint32),
        ("violation_size", ctypes.c_uint32),
        ("checks", ctypes.c_uint64),
        ("ctl", ctypes.c_void_p),
    ]


@dataclass(frozen=True)
class Region:
    """One decoded MPU region: byte range [base, limit] and its attributes."""

    number: int
    base: int
    limit: int
    access_permissions: int  # AP[2:1]
    execute_never: bool
    attribute_index: int
    enabled: bool

    @classmethod
    def decode(cls, number: int, rbar: int, rlar: int) -> Region:
        """Decode RBAR and RLAR of region `number`."""
        return cls(
            number=number,
            base=rbar & ~(GRANULE - 1) & 0xFFFFFFFF,
            limit=(rlar & ~(GRANULE - 1) & 0xFFFFFFFF) | (GRANULE - 1),
            access_permissions=(rbar >> 1) & 3,
            execute_never=bool(rbar & RBAR_XN),
            attribute_index=(rlar >> 1) & 7,
            enabled=bool(rlar & RLAR_EN),
        )

    def permissions(self, privileged: bool) -> int:
        """Return the Unicorn permissions (UC_PROT_*) this region grants."""
        ap = self.access_permissions
        if not privileged and ap in (0, 2):
            return ucc.UC_PROT_NONE
        perms = ucc.UC_PROT_READ
        if ap in (0, 1):
            perms |= ucc.UC_PROT_WRITE
        if not self.execute_never:
            perms |= ucc.UC_PROT_EXEC
        return perms


def decode_regions(rbar: list[int], rlar: list[int]) -> list[Region]:
    """Decode all region registers."""
    return [Region.decode(i, rbar[i], rlar[i]) for i in range(REGIONS)]


def page_permissions(regions: list[Region], ctrl: int, start: int, size: int, base: int) -> int:
    """Return the permissions every privilege level has on every byte of a page.

    `base` is the page's permission without the MPU. A page that is not
    covered whole by exactly one enabled region gets none: some byte of it
    is either unmapped for unprivileged code or under another region.
    """
    if not ctrl & CTRL_ENABLE:
        return base
    end = start + size - 1
    touching = [r for r in regions if r.enabled and r.base <= end and r.limit >= start]
    if len(touching) != 1:
        return ucc.UC_PROT_NONE
    region = touching[0]
    if not (region.base <= start and end <= region.limit):
        return ucc.UC_PROT_NONE
    return base & region.permissions(privileged=False)


def needs_read_checks(regions: list[Region], ctrl: int, pages: list[int], size: int) -> bool:
    """Return whether loads must be checked one by one, not once per page and privilege.

    Unicorn keeps a page's read permission in its TLB after the first
    allowed read, per privilege level. That is exact only when each of
    `pages` (those with fewer permissions than without the MPU) is covered
    whole by every enabled region that touches it. HardFault, NMI and
    FAULTMASK read past the MPU unless HFNMIENA is set, and they share the
    TLB of other privileged code. So a page whose privileged reads fault
    (no region without PRIVDEFENA, or overlapping regions) also needs
    checks one by one.
    """
    if not ctrl & CTRL_ENABLE:
        return False
    bypass = not ctrl & CTRL_HFNMIENA
    for start in pages:
        end = start + size - 1
        touching = [r for r in regions if r.enabled and r.base <= end and r.limit >= start]
        if any(not (r.base <= start and end <= r.limit) for r in touching):
            return True
        if bypass and len(touching) > 1:
            return True
        if bypass and not touching and not ctrl & CTRL_PRIVDEFENA:
            return True
    return False


# MPU_CTRL, then RBAR and RLAR of every region.
_LayoutKey = tuple[int, tuple[int, ...], tuple[int, ...]]


@dataclass(frozen=True)
class _Layout:
    """Page permissions of one MPU configuration and the hooks it needs."""

    page_perms: dict[int, int]  # Unicorn permissions of every flash and SRAM page
    restricted: bool  # some page has fewer permissions than without the MPU
    read_checks: bool  # loads must be checked one by one (`needs_read_checks`)
    sram_hook: bool  # some SRAM page lacks read or write permission


class MemoryProtectionUnit:
    """The MPU registers of the system control space and their enforcement."""

    def __init__(self, machine: Machine, library: ctypes.CDLL) -> None:
        self.machine = machine
        self._library = library
        self._allows = library.ov_mpu_allows
        self._allows.argtypes = [
            ctypes.c_void_p,
            ctypes.c_uint32,
            ctypes.c_uint32,
            ctypes.c_int,
            ctypes.c_int,
        ]
        self._allows.restype = ctypes.c_int

        state = MpuState()
        state.sram = ctypes.addressof(machine._sram)
        state.sram_base = mm.SRAM_BASE
        state.sram_size = mm.SRAM_SIZE
        state.flash_base = mm.FLASH_BASE
        state.flash_size = mm.FLASH_SIZE
        state.reg_read = _native.function_address(uclib.uc_reg_read)
        state.reg_ipsr = arm.UC_ARM_REG_IPSR
        state.reg_control = arm.UC_ARM_REG_CONTROL
        state.reg_faultmask = arm.UC_ARM_REG_FAULTMASK
        state.ctl = _native.function_address(uclib.uc_ctl)
        self.state = state

        self._read_hook: int | None = None
        self._sram_hook: int | None = None
        # Current Unicorn permissions of each flash and SRAM page.
        self._page_perms: dict[int, int] = {}
        for start, size, perms in self._areas():
            for page in range(start, start + size, PAGE_SIZE):
                self._page_perms[page] = perms
        self.rnr = 0
        self.mair = [0, 0]
        self._dirty = False
        self._restricted = False  # some page has fewer permissions than without the MPU
        self._layouts: dict[_LayoutKey, _Layout] = {}
        # The configuration whose page permissions are in force (MPU off at power-on).
        self._applied_key: _LayoutKey = (0, (0,) * REGIONS, (0,) * REGIONS)

    def install_hook(self) -> None:
        """Register the native protection hook over flash. Call it before the invalid-access hook.

        SRAM gets the hook only while some SRAM page is restricted (see
        `_set_sram_hook`), because a memory hook over a page keeps Unicorn 2.1.4
        from ever marking the page dirty, so every store to it would take
        the slow path.
        """
        _native.add_native_hook(
            self.machine._handle,
            UC_HOOK_MEM_PROT,
            self._library.ov_mpu_prot_hook,
            self.state,  # type: ignore[arg-type]
            mm.FLASH_BASE,
            mm.FLASH_BASE + mm.FLASH_SIZE - 1,
        )

    @staticmethod
    def _areas() -> list[tuple[int, int, int]]:
        return [
            (mm.FLASH_BASE, mm.FLASH_SIZE, ucc.UC_PROT_READ | ucc.UC_PROT_EXEC),
            (mm.SRAM_BASE, mm.SRAM_SIZE, ucc.UC_PROT_ALL),
        ]

    @property
    def enabled(self) -> bool:
        """Whether MPU_CTRL.ENABLE is set."""
        return bool(self.state.ctrl & CTRL_ENABLE)

    @property
    def checks(self) -> int:
        """Accesses the native hook has decided since power-on."""
        return int(self.state.checks)

    def regions(self) -> list[Region]:
        """Return the decoded regions."""
        return decode_regions(list(self.state.rbar), list(self.state.rlar))

    def reset(self) -> None:
        """Restore the reset values (MPU disabled) and the pages' normal permissions."""
        state = self.state
        state.ctrl = 0
        state.rbar[:] = [0] * REGIONS
        state.rlar[:] = [0] * REGIONS
        state.violation = 0
        self.rnr = 0
        self.mair = [0, 0]
        self._dirty = self._dirty or self._restricted or self._read_hook is not None
        self.apply()

    # Registers

    def read_register(self, offset: int) -> int:
        """Read the MPU register at `offset` from 0xE000_0000."""
        state = self.state
        if offset == MPU_TYPE_OFFSET:
            return MPU_TYPE
        if offset == MPU_CTRL_OFFSET:
            return int(state.ctrl)
        if offset == MPU_RNR_OFFSET:
            return self.rnr
        if MPU_RBAR_OFFSET <= offset < MPU_ALIAS_END:
            region = self._alias_region(offset)
            return int(state.rlar[region] if offset & 4 == 0 else state.rbar[region])
        if offset in (MPU_MAIR0_OFFSET, MPU_MAIR1_OFFSET):
            return self.mair[(offset - MPU_MAIR0_OFFSET) // 4]
        return 0

    def _alias_region(self, offset: int) -> int:
        """Return the region that RBAR/RLAR or alias n (offset 0xED9C + 8 n) selects.

        Alias n of PMSAv8 replaces RNR[1:0] with n, so with RNR = 5 alias 3
        is region 7 and alias 1 is region 5.
        """
        alias = (offset - MPU_RBAR_OFFSET) // 8
        if alias == 0:
            return self.rnr
        return (self.rnr & ~3) | alias

    def write_register(self, offset: int, value: int) -> None:
        """Write the MPU register at `offset`. New regions apply from the next block."""
        state = self.state
        if offset == MPU_CTRL_OFFSET:
            state.ctrl = value & (CTRL_ENABLE | CTRL_HFNMIENA | CTRL_PRIVDEFENA)
        elif offset == MPU_RNR_OFFSET:
            self.rnr = value & (REGIONS - 1)
            return
        elif MPU_RBAR_OFFSET <= offset < MPU_ALIAS_END:
            region = self._alias_region(offset)
            if offset & 4 == 0:
                state.rlar[region] = value & 0xFFFF_FFEF  # bit 4 (PXN) is RES0 here
            else:
                state.rbar[region] = value
        elif offset in (MPU_MAIR0_OFFSET, MPU_MAIR1_OFFSET):
            self.mair[(offset - MPU_MAIR0_OFFSET) // 4] = value
            return
        else:
            return
        self._dirty = True
        core = self.machine._core
        # The page permissions change between two runs: end this one at the
        # next block boundary (an ISB ends a block) and keep exception
        # entries out of the native loop, whose stacking is not checked.
        core.deadline = 0
        core.native = 0

    # Page permissions

    def apply(self) -> None:
        """Recompute page permissions after a configuration change (call it between runs)."""
        if not self._dirty:
            return
        self._dirty = False
        uc: Any = self.machine._uc
        ctrl = int(self.state.ctrl)
        key = (ctrl, tuple(self.state.rbar), tuple(self.state.rlar))
        if key == self._applied_key:
            return  # the registers were written with the values in force
        self._applied_key = key
        layout = self._layout(key)

        # Protect runs of consecutive pages whose permissions change alike.
        changed = 0
        for start, size, _ in self._areas():
            run_start = None
            run_perms = 0
            for page in range(start, start + size + PAGE_SIZE, PAGE_SIZE):
                perms = -1
                if page < start + size:
                    perms = layout.page_perms[page]
                    if perms == self._page_perms[page]:
                        perms = -1
                if run_start is not None and perms != run_perms:
                    uc.mem_protect(run_start, page - run_start, run_perms)
                    run_start = None
                if perms >= 0 and run_start is None:
                    run_start, run_perms = page, perms
                if perms >= 0:
                    self._page_perms[page] = perms
                    changed += 1

        self._restricted = layout.restricted
        self._set_read_hook(layout.read_checks)
        self._set_sram_hook(layout.sram_hook)
        # Translated blocks and TLB entries hold the old fetch and read decisions.
        uc.ctl_flush_tb()
        _native.flush_tlb(self.machine._handle)
        log.debug("Apply MPU configuration (ctrl=%#x, pages changed=%d)", ctrl, changed)

    def _layout(self, key: _LayoutKey) -> _Layout:
        """Return the page permissions and hooks of the current configuration.

        Layouts are kept for the last few configurations, because firmware
        that switches the MPU on and off or swaps regions per task would
        otherwise pay for a scan of every page at each switch.
        """
        layout = self._layouts.get(key)
        if layout is not None:
            return layout
        ctrl = key[0]
        regions = self.regions()
        page_perms = {}
        restricted = []
        for start, size, base in self._areas():
            for page in range(start, start + size, PAGE_SIZE):
                perms = page_permissions(regions, ctrl, page, PAGE_SIZE, base)
                page_perms[page] = perms
                if perms != base:
                    restricted.append(page)
        # An SRAM page that only lost execute permission is covered whole by
        # one read-write execute-never region. `detect_violation` decides its
        # fetch faults, so its stores keep the fast path.
        data_perms = ucc.UC_PROT_READ | ucc.UC_PROT_WRITE
        sram_hook = any(
            page_perms[page] & data_perms != data_perms
            for page in range(mm.SRAM_BASE, mm.SRAM_BASE + mm.SRAM_SIZE, PAGE_SIZE)
        )
        layout = _Layout(
            page_perms=page_perms,
            restricted=bool(restricted),
            read_checks=needs_read_checks(regions, ctrl, restricted, PAGE_SIZE),
            sram_hook=sram_hook,
        )
        if len(self._layouts) >= _LAYOUTS_KEPT:
            self._layouts.clear()
        self._layouts[key] = layout
        return layout

    def _set_read_hook(self, installed: bool) -> None:
        uc: Any = self.machine._uc
        if installed and self._read_hook is None:
            self._read_hook = uc.hook_add(
                UC_HOOK_MEM_READ, _ignore_read, None, _NEVER_MAPPED, _NEVER_MAPPED
            )
        elif not installed and self._read_hook is not None:
            uc.hook_del(self._read_hook)
            self._read_hook = None

    def _set_sram_hook(self, installed: bool) -> None:
        # No invalid-access hook covers SRAM, so the order of hooks does not matter here.
        if installed and self._sram_hook is None:
            self._sram_hook = _native.add_native_hook(
                self.machine._handle,
                UC_HOOK_MEM_PROT,
                self._library.ov_mpu_prot_hook,
                self.state,  # type: ignore[arg-type]
                mm.SRAM_BASE,
                mm.SRAM_BASE + mm.SRAM_SIZE - 1,
            )
        elif not installed and self._sram_hook is not None:
            uclib.uc_hook_del(self.machine._handle, self._sram_hook)
            self._sram_hook = None

    # Checks and faults

    def allows(self, address: int, size: int, kind: int, *, privileged: bool) -> bool:
        """Return whether the MPU lets an access of `size` bytes proceed."""
        state = ctypes.byref(self.state)
        return bool(self._allows(state, address, size, kind, int(privileged)))

    def stacking_allowed(self, address: int, size: int, *, write: bool, privileged: bool) -> bool:
        """Return whether the MPU allows stacking (write) or unstacking (read) of a frame."""
        if not self.enabled or not mm.SRAM_BASE <= address < mm.SRAM_BASE + mm.SRAM_SIZE:
            return True
        if self._bypassed():
            return True
        return self.allows(address, size, WRITE if write else READ, privileged=privileged)

    def _bypassed(self) -> bool:
        """Return whether HardFault, NMI or FAULTMASK ignore the MPU now (HFNMIENA clear)."""
        if self.state.ctrl & CTRL_HFNMIENA:
            return False
        return self.machine.exception_unit.execution_priority() < 0

    def detect_violation(self, status: int) -> bool:
        """Return whether the MPU denied the access that ended the last run.

        Besides the hook's verdicts, this covers a fetch fault in an SRAM
        page that has no hook because only its execute permission is
        stripped. Such a page is execute-never for every access, except
        for HardFault, NMI and FAULTMASK while HFNMIENA is clear. For those
        the hook is installed and True is returned with no violation
        recorded, so the run resumes at the same fetch and the hook allows it.
        """
        state = self.state
        if state.violation:
            return True
        if status != ucc.UC_ERR_FETCH_PROT or not self.enabled or self._sram_hook is not None:
            return False
        address = self.machine.pc
        if not mm.SRAM_BASE <= address < mm.SRAM_BASE + mm.SRAM_SIZE:
            return False
        if self._page_perms[address & ~(PAGE_SIZE - 1)] & ucc.UC_PROT_EXEC:
            return False
        if self._bypassed():
            self._set_sram_hook(True)
            _native.flush_tlb(self.machine._handle)  # drops the refused fill
            log.debug("Install the SRAM hook for a fetch that ignores the MPU (pc=%#010x)", address)
            return True
        state.violation = 1
        state.violation_type = ucc.UC_MEM_FETCH_PROT
        state.violation_address = address
        state.violation_size = 2
        return True

    def take_violation(self) -> bool:
        """Raise the MemManage fault of a denied access, and return whether there was one.

        Data accesses stop with PC at the faulting instruction, and a denied
        fetch names the instruction's address.
        """
        state = self.state
        if not state.violation:
            return False
        state.violation = 0
        machine = self.machine
        _native.flush_tlb(machine._handle)
        address = int(state.violation_address)
        unit = machine.exception_unit
        if state.violation_type == ucc.UC_MEM_FETCH_PROT:
            unit.cfsr |= MMFSR_IACCVIOL
            pc = address
            description = f"MPU denied instruction fetch at {address:#010x}"
        else:
            access = "write" if state.violation_type == ucc.UC_MEM_WRITE_PROT else "read"
            unit.cfsr |= MMFSR_DACCVIOL | MMFSR_MMARVALID
            unit.mmfar = address
            pc = machine.pc
            description = f"MPU denied {access} of {address:#010x} at pc={pc:#010x}"
        log.info("MemManage fault (%s)", description)
        unit._route_fault(nv.MEMMANAGE, pc, description)
        return True


def _ignore_read(uc: Any, access: int, address: int, size: int, value: int, data: Any) -> None:
    """Read hook whose presence makes Unicorn check every load (never called)."""
