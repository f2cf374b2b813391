"""Build and load the native hook library, and call Unicorn through ctypes.

The hooks in ``_native.c``, the exception entry and return in
``_entry.c`` and the MPU check in ``_mpu.c`` are compiled
into one library with the host C compiler on first use and cached under
``$XDG_CACHE_HOME/openvisor`` (``~/.cache/openvisor``), keyed by a hash of
the sources and ``_native.h``, so a changed source builds a new library.
Register access also goes straight to ``libunicorn`` through ctypes: the
stock binding costs about 1.5 µs per register. `run` enters the library's
``ov_run`` loop, which takes SVCall entries, entries of pending exceptions
and exception returns without Python in the common cases.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

from unicorn import arm_const, unicorn_const
from unicorn.unicorn_py3.unicorn import uclib

from openvisor.errors import EmulationError

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("_native.c")
# The exception entry and return code (_entry.c), the MPU access check
# (_mpu.c) and the stops after pending stores (_store.c) are linked into the
# same library as the clock hooks.
CORE_SOURCES = (
    SOURCE,
    Path(__file__).with_name("_entry.c"),
    Path(__file__).with_name("_mpu.c"),
    Path(__file__).with_name("_store.c"),
)
# Included by the sources: part of the cache key, not compiled on its own.
CORE_HEADERS = (Path(__file__).with_name("_native.h"),)

STOP_DEADLINE = 1
STOP_INTERRUPT = 2
STOP_UNMASKED = 4
STOP_MEMORY = 8
STOP_SYSTICK = 16
STOP_STORE = 32
STOP_IT_EXIT = 64

NEVER = 2**64 - 1  # OV_NEVER: no SysTick wrap for ov_run to pend

NO_PENDING = 0x7FFFFFFF
NO_IT = 0xFFFFFFFF  # OV_NO_IT: the run did not begin in an IT block
IT_EXITS = 64  # OV_IT_EXITS: the maximum number of IT exit hooks per image
CACHE_SIZE = 4096  # OV_CACHE_SIZE in _native.c

# Register ids in the order of the OV_R0 ... OV_APSR_NZCV indexes in _native.h.
NATIVE_REGISTERS = (
    arm_const.UC_ARM_REG_R0,
    arm_const.UC_ARM_REG_R1,
    arm_const.UC_ARM_REG_R2,
    arm_const.UC_ARM_REG_R3,
    arm_const.UC_ARM_REG_R12,
    arm_const.UC_ARM_REG_LR,
    arm_const.UC_ARM_REG_PC,
    arm_const.UC_ARM_REG_SP,
    arm_const.UC_ARM_REG_XPSR,
    arm_const.UC_ARM_REG_XPSR_NZCVQG,
    arm_const.UC_ARM_REG_IPSR,
    arm_const.UC_ARM_REG_CONTROL,
    arm_const.UC_ARM_REG_MSP,
    arm_const.UC_ARM_REG_PSP,
    arm_const.UC_ARM_REG_PRIMASK,
    arm_const.UC_ARM_REG_BASEPRI,
    arm_const.UC_ARM_REG_FAULTMASK,
    *(arm_const.UC_ARM_REG_S0 + i for i in range(16)),
    arm_const.UC_ARM_REG_FPSCR,
    arm_const.UC_ARM_REG_APSR_NZCV,
)
# Exception numbers 0-140 (OV_EXCEPTIONS in _native.c) in 32-bit bitmap words.
EXCEPTIONS = 141
EXCEPTION_WORDS = (EXCEPTIONS + 31) // 32

_build_lock = threading.Lock()
_library: ctypes.CDLL | None = None


class Core(ctypes.Structure):
    """Mirror of ``struct ov_core`` shared with the native hooks."""

    _fields_ = [
        ("count", ctypes.c_uint64),
        ("deadline", ctypes.c_uint64),
        ("stop_flags", ctypes.c_uint32),
        ("intno", ctypes.c_uint32),
        ("pending_prio", ctypes.c_int32),
        ("active_prio", ctypes.c_int32),
        ("group_mask", ctypes.c_uint32),
        ("counting", ctypes.c_uint32),
        ("mem_type", ctypes.c_uint32),
        ("mem_size", ctypes.c_uint32),
        ("mem_address", ctypes.c_uint64),
        ("flash", ctypes.c_void_p),
        ("flash_base", ctypes.c_uint32),
        ("flash_size", ctypes.c_uint32),
        ("sram", ctypes.c_void_p),
        ("sram_base", ctypes.c_uint32),
        ("sram_size", ctypes.c_uint32),
        ("emu_stop", ctypes.c_void_p),
        ("reg_read", ctypes.c_void_p),
        ("reg_primask", ctypes.c_int32),
        ("reg_basepri", ctypes.c_int32),
        ("reg_faultmask", ctypes.c_int32),
        ("block_count", ctypes.c_uint32),
        ("block_address", ctypes.c_uint64),
        ("emu_start", ctypes.c_void_p),
        ("reg_write", ctypes.c_void_p),
        ("regids", ctypes.c_int32 * len(NATIVE_REGISTERS)),
        ("native", ctypes.c_uint32),
        ("resync", ctypes.c_uint32),
        ("vtor", ctypes.c_uint32),
        ("sleep_on_exit", ctypes.c_uint32),
        ("ccr", ctypes.c_uint32),
        ("fpccr", ctypes.c_uint32),
        ("fpcar", ctypes.c_uint32),
        ("nvic_changed", ctypes.c_uint32),
        ("gateway_base", ctypes.c_uint32),
        ("gateway_size", ctypes.c_uint32),
        ("stop_pc", ctypes.c_uint32),
        ("native_entries", ctypes.c_uint64),
        ("native_returns", ctypes.c_uint64),
        ("pending_exc", ctypes.c_uint32),
        ("next_pending_prio", ctypes.c_int32),
        ("limits_valid", ctypes.c_uint32),
        ("msplim", ctypes.c_uint32),
        ("psplim", ctypes.c_uint32),
        ("pending", ctypes.c_uint32 * EXCEPTION_WORDS),
        ("enabled", ctypes.c_uint32 * EXCEPTION_WORDS),
        ("active", ctypes.c_uint32 * EXCEPTION_WORDS),
        ("priority", ctypes.c_int32 * EXCEPTIONS),
        ("order", ctypes.c_int32 * EXCEPTIONS),
        ("systick_next", ctypes.c_uint64),
        ("systick_period", ctypes.c_uint64),
        ("systick_wraps", ctypes.c_uint64),
        ("cache_entries", ctypes.c_uint64 * CACHE_SIZE),
        ("levels", ctypes.c_uint32 * EXCEPTION_WORDS),
        ("store_address", ctypes.c_uint32),
        ("store_unverified", ctypes.c_uint32),
        ("store_stops", ctypes.c_uint64),
        ("gpr_ids", ctypes.c_int32 * 16),
        ("credit", ctypes.c_uint64),
        ("block_credit", ctypes.c_uint64),
        ("sram_block_it", ctypes.c_uint32),
        ("it_resume_pc", ctypes.c_uint32),
        ("it_exit_pc", ctypes.c_uint32),
        ("it_exits", ctypes.c_uint32 * IT_EXITS),
        ("it_exit_count", ctypes.c_uint32),
        ("it_exit_request", ctypes.c_uint32),
    ]

    def clear_cache(self) -> None:
        """Forget cached block sizes after flash contents change."""
        ctypes.memset(ctypes.addressof(self.cache_entries), 0, ctypes.sizeof(self.cache_entries))


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "openvisor"


def _compile(target: Path, *sources: Path) -> None:
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise EmulationError(
            "no C compiler found to build the native clock hooks: install gcc "
            "(Debian: apt-get install gcc) or set CC"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, suffix=".so.tmp")
    os.close(fd)
    inputs = [str(source) for source in sources or (SOURCE,)]
    command = [compiler, "-O2", "-shared", "-fPIC", "-o", temporary, *inputs]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        os.unlink(temporary)
        raise EmulationError(
            f"building the native clock hooks failed ({' '.join(command)}): {result.stderr.strip()}"
        )
    # Parallel test workers may build at once: rename is atomic, last one wins.
    os.replace(temporary, target)
    log.info("Built native hooks (path=%s)", target)


def load_library() -> ctypes.CDLL:
    """Return the native hook library, compiling it on first use."""
    global _library
    with _build_lock:
        if _library is not None:
            return _library
        hasher = hashlib.sha256()
        for source in (*CORE_SOURCES, *CORE_HEADERS):
            hasher.update(source.read_bytes())
        digest = hasher.hexdigest()[:16]
        target = _cache_dir() / f"ovcore-{digest}.so"
        if not target.exists():
            _compile(target, *CORE_SOURCES)
        try:
            _library = ctypes.CDLL(str(target))
        except OSError as exc:
            raise EmulationError(
                f"loading the native clock hooks from {target} failed: {exc}; "
                "delete the file to rebuild it"
            ) from exc
        _library.ov_run.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        _library.ov_run.restype = ctypes.c_int
        _library.ov_finish_call.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32]
        _library.ov_finish_call.restype = None
        _library.ov_take_pending.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        _library.ov_take_pending.restype = ctypes.c_int
        _library.ov_store_stop.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32]
        _library.ov_store_stop.restype = ctypes.c_int
        _library.ov_refresh.argtypes = [ctypes.c_void_p]
        _library.ov_refresh.restype = None
        return _library


_extra_libraries: dict[Path, ctypes.CDLL] = {}


def load_extra_library(source: Path, name: str) -> ctypes.CDLL:
    """Return the library built from another C source of this package, compiling it on first use."""
    with _build_lock:
        library = _extra_libraries.get(source)
        if library is not None:
            return library
        digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
        target = _cache_dir() / f"{name}-{digest}.so"
        if not target.exists():
            _compile(target, source)
        try:
            library = ctypes.CDLL(str(target))
        except OSError as exc:
            raise EmulationError(
                f"loading native hooks from {target} failed: {exc}; delete the file to rebuild it"
            ) from exc
        _extra_libraries[source] = library
        return library


_uc_hook_add = uclib.uc_hook_add
_uc_reg_read = uclib.uc_reg_read
_uc_reg_write = uclib.uc_reg_write
_uc_reg_read_batch = uclib.uc_reg_read_batch
_uc_reg_write_batch = uclib.uc_reg_write_batch


def count_thumb(code: bytes) -> int:
    """Count Thumb instructions in `code` the way the native block hook does."""
    count = 0
    offset = 0
    while offset + 1 < len(code):
        half = code[offset] | (code[offset + 1] << 8)
        offset += 4 if (half >> 11) >= 0x1D else 2
        count += 1
    return count


class SiteHooks:
    """Native code hooks on single instruction addresses, replaced when an image loads."""

    def __init__(self, uc: Any, handle: ctypes.c_void_p, core: Core, function: Any) -> None:
        self._uc = uc
        self._handle = handle
        self._core = core
        self._function = function
        self._hooks: list[int] = []
        self.sites: list[int] = []

    def replace(self, sites: list[int]) -> None:
        """Hook `sites` instead of the current ones, dropping their translations."""
        self.remove()
        for address in sites:
            self.add(address)

    def add(self, address: int) -> None:
        """Hook one more site, dropping its translation."""
        self._hooks.append(
            add_native_hook(
                self._handle,
                unicorn_const.UC_HOOK_CODE,
                self._function,
                self._core,
                address,
                address,
            )
        )
        self.sites.append(address)
        self._uc.ctl_remove_cache(address, address + 4)

    def remove(self) -> None:
        """Delete every hook and the translations of the hooked code."""
        for hook in self._hooks:
            uclib.uc_hook_del(self._handle, ctypes.c_size_t(hook))
        for address in self.sites:
            self._uc.ctl_remove_cache(address, address + 4)
        self._hooks.clear()
        self.sites = []


def function_address(function: Any) -> int:
    """Return the C address of a ctypes function object."""
    address = ctypes.cast(function, ctypes.c_void_p).value
    assert address is not None
    return address


def new_core() -> Core:
    """Return a zeroed core structure with the Unicorn entry points filled in."""
    core = Core()
    core.deadline = 0
    core.pending_prio = NO_PENDING
    core.next_pending_prio = NO_PENDING
    core.systick_next = NEVER
    core.active_prio = 256
    core.group_mask = 0xFF
    core.counting = 1
    core.it_resume_pc = NO_IT
    core.it_exit_pc = NO_IT
    core.emu_stop = function_address(uclib.uc_emu_stop)
    core.reg_read = function_address(uclib.uc_reg_read)
    core.reg_primask = arm_const.UC_ARM_REG_PRIMASK
    core.reg_basepri = arm_const.UC_ARM_REG_BASEPRI
    core.reg_faultmask = arm_const.UC_ARM_REG_FAULTMASK
    core.emu_start = function_address(uclib.uc_emu_start)
    core.reg_write = function_address(uclib.uc_reg_write)
    core.regids[:] = NATIVE_REGISTERS
    core.gpr_ids[:] = [
        *(arm_const.UC_ARM_REG_R0 + i for i in range(13)),
        arm_const.UC_ARM_REG_SP,
        arm_const.UC_ARM_REG_LR,
        arm_const.UC_ARM_REG_PC,
    ]
    return core


class NativeLoop:
    """The library's run loop and call completion, bound to one engine and core."""

    def __init__(self, library: ctypes.CDLL, handle: ctypes.c_void_p, core: Core) -> None:
        self._run = library.ov_run
        self._take_pending = library.ov_take_pending
        self._finish_call = library.ov_finish_call
        self._store_stop = library.ov_store_stop
        self._handle = handle
        self._core = ctypes.addressof(core)

    def run(self) -> int:
        """Run from PC through ``ov_run``; return the status of the last ``uc_emu_start``."""
        status: int = self._run(self._handle, self._core)
        return status

    def take_pending(self) -> bool:
        """Enter the published best pending exception if it preempts; return whether it did."""
        return bool(self._take_pending(self._handle, self._core))

    def store_stop(self, address: int) -> bool:
        """Request a stop right after a store that made an exception preempt (MMIO callback)."""
        return bool(self._store_stop(self._handle, self._core, address))

    def finish_call(self, result: int) -> None:
        """Set R0 to `result` and continue at LR, ending a gateway call."""
        self._finish_call(self._handle, self._core, result & 0xFFFFFFFF)


# UC_CTL_WRITE(UC_CTL_TLB_FLUSH, 0), which the Python binding does not offer.
_CTL_TLB_FLUSH = (unicorn_const.UC_CTL_IO_WRITE << 30) | unicorn_const.UC_CTL_TLB_FLUSH


def flush_tlb(handle: ctypes.c_void_p) -> None:
    """Drop every entry of the engine's TLB, so the next access of each page looks it up again."""
    uclib.uc_ctl(handle, _CTL_TLB_FLUSH)


def add_native_hook(
    handle: ctypes.c_void_p, hook_type: int, function: Any, core: Core, begin: int, end: int
) -> int:
    """Register a native callback from the hook library; return the hook handle."""
    hook = ctypes.c_size_t()
    status = _uc_hook_add(
        handle,
        ctypes.byref(hook),
        ctypes.c_int(hook_type),
        ctypes.c_void_p(function_address(function)),
        ctypes.c_void_p(ctypes.addressof(core)),
        ctypes.c_uint64(begin),
        ctypes.c_uint64(end),
    )
    if status != unicorn_const.UC_ERR_OK:
        raise EmulationError(f"uc_hook_add(type={hook_type}) failed with Unicorn error {status}")
    return hook.value


class _Batch:
    """Preallocated ctypes arrays for one list of register ids."""

    def __init__(self, regids: tuple[int, ...]) -> None:
        count = len(regids)
        self.count = count
        self.ids = (ctypes.c_int * count)(*regids)
        self.values = (ctypes.c_uint32 * count)()
        base = ctypes.addressof(self.values)
        self.pointers = (ctypes.c_void_p * count)(*[base + 4 * i for i in range(count)])


class RegisterFile:
    """Fast 32-bit register access on one Unicorn handle through ctypes.

    Batches are cached per register list, so a repeated `read_many` or
    `write_many` costs one library call and no allocation.
    """

    def __init__(self, handle: ctypes.c_void_p) -> None:
        self._handle = handle
        self._value = ctypes.c_uint32()
        self._value_ref = ctypes.byref(self._value)
        self._batches: dict[tuple[int, ...], _Batch] = {}

    def _batch(self, regids: tuple[int, ...]) -> _Batch:
        batch = self._batches.get(regids)
        if batch is None:
            batch = self._batches[regids] = _Batch(regids)
        return batch

    def read(self, regid: int) -> int:
        """Return one register."""
        _uc_reg_read(self._handle, regid, self._value_ref)
        return self._value.value

    def write(self, regid: int, value: int) -> None:
        """Write one register."""
        self._value.value = value & 0xFFFFFFFF
        _uc_reg_write(self._handle, regid, self._value_ref)

    def read_many(self, regids: list[int] | tuple[int, ...]) -> list[int]:
        """Return several registers with one library call."""
        batch = self._batch(tuple(regids))
        _uc_reg_read_batch(self._handle, batch.ids, batch.pointers, batch.count)
        return batch.values[:]

    def write_many(self, pairs: list[tuple[int, int]]) -> None:
        """Write several registers in order with one library call."""
        batch = self._batch(tuple(regid for regid, _ in pairs))
        values = batch.values
        for index, (_, value) in enumerate(pairs):
            values[index] = value & 0xFFFFFFFF
        _uc_reg_write_batch(self._handle, batch.ids, batch.pointers, batch.count)
