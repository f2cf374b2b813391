"""The application's MPU as firmware observes it: MemManage faults and their status."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from unicorn import unicorn_const as ucc

from openvisor.machine import FaultKind, Machine, RunReason, RunResult
from openvisor.machine import memory_map as mm

RunUntil = Callable[..., RunResult]

DACCVIOL_MMARVALID = "0x00000082"
IACCVIOL = "0x00000001"
MSTKERR = "0x00000010"
LDR_R0_R1 = 0x6808
STR_R0_R1 = 0x6008


def _parse(console: list[str]) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Split bm_mpu's lines into "name=value" values and "name key=value ..." faults."""
    values: dict[str, str] = {}
    faults: dict[str, dict[str, str]] = {}
    for line in console:
        name, _, rest = line.partition(" ")
        if "=" in rest:
            faults[name] = dict(field.split("=") for field in rest.split())
        elif "=" in line:
            key, _, value = line.partition("=")
            values[key] = value
    return values, faults


@pytest.fixture(scope="module")
def mpu_run(firmware: Callable[[str], object]) -> tuple[Machine, dict, dict]:
    machine = Machine()
    machine.load_elf(firmware("bm_mpu"))  # type: ignore[arg-type]
    machine.reset()

    def stop_at_done(source: str, text: str) -> None:
        if text == "mpu done":
            machine.request_stop()

    machine.peripherals.on_console(stop_at_done)
    result = machine.run(max_cycles=50_000_000)
    assert result.reason is RunReason.STOP, (result, machine.peripherals.console)
    values, faults = _parse(machine.peripherals.console)
    return machine, values, faults


def _halfword(machine: Machine, address: str) -> int:
    return int.from_bytes(machine.mem_read(int(address, 16), 2), "little")


def test_mpu_type_reports_eight_regions(mpu_run: tuple[Machine, dict, dict]) -> None:
    _, values, _ = mpu_run
    assert values["mpu_type"] == "0x00000800"


def test_guard_read_is_daccviol(mpu_run: tuple[Machine, dict, dict]) -> None:
    machine, values, faults = mpu_run
    fault = faults["read_guard"]
    assert fault["count"] == "1"
    assert fault["cfsr"] == DACCVIOL_MMARVALID
    assert fault["mmfar"] == values["guard"]
    assert _halfword(machine, fault["pc"]) == LDR_R0_R1
    assert values["read_guard_value"] == "0xdeadbeef"  # the load never completed


def test_guard_write_is_daccviol(mpu_run: tuple[Machine, dict, dict]) -> None:
    machine, values, faults = mpu_run
    fault = faults["write_guard"]
    assert fault["count"] == "1"
    assert fault["cfsr"] == DACCVIOL_MMARVALID
    assert fault["mmfar"] == values["guard"]
    assert _halfword(machine, fault["pc"]) == STR_R0_R1


def test_guard_page_neighbours_allowed(mpu_run: tuple[Machine, dict, dict]) -> None:
    _, values, faults = mpu_run
    assert values["read_open"] == "0x11111111"
    assert values["read_open_written"] == "0x66666666"
    assert faults["open"]["count"] == "0"


def test_guard_read_after_neighbour_faults(mpu_run: tuple[Machine, dict, dict]) -> None:
    # Unicorn caches a page's read permission after the first allowed read.
    machine, values, faults = mpu_run
    fault = faults["read_guard_again"]
    assert fault["count"] == "1"
    assert fault["cfsr"] == DACCVIOL_MMARVALID
    assert fault["mmfar"] == values["guard"]
    assert _halfword(machine, fault["pc"]) == LDR_R0_R1
    assert values["read_guard_again_value"] == "0xdeadbeef"


def test_guard_write_after_neighbour_faults(mpu_run: tuple[Machine, dict, dict]) -> None:
    machine, values, faults = mpu_run
    assert values["open_after_store"] == "0xabababab"
    fault = faults["write_guard_again"]
    assert fault["count"] == "1"
    assert fault["cfsr"] == DACCVIOL_MMARVALID
    assert fault["mmfar"] == values["guard"]
    assert _halfword(machine, fault["pc"]) == STR_R0_R1


def test_read_only_region_rejects_writes(mpu_run: tuple[Machine, dict, dict]) -> None:
    machine, values, faults = mpu_run
    assert values["read_only_value"] == "0x22222222"
    unprivileged = faults["write_read_only"]
    assert unprivileged["cfsr"] == DACCVIOL_MMARVALID
    assert int(unprivileged["mmfar"], 16) == int(values["guard"], 16) + 0x400
    assert _halfword(machine, unprivileged["pc"]) == STR_R0_R1
    privileged = faults["svc_write_read_only"]
    assert privileged["count"] == "1"
    assert privileged["cfsr"] == DACCVIOL_MMARVALID
    symbol = machine.symbols.symbolize(int(privileged["pc"], 16))
    assert symbol is not None and symbol.startswith("svc_dispatch"), symbol


def test_privileged_region_by_privilege(mpu_run: tuple[Machine, dict, dict]) -> None:
    _, values, faults = mpu_run
    assert values["read_privileged_value"] == "0xdeadbeef"
    assert faults["read_privileged"]["cfsr"] == DACCVIOL_MMARVALID
    assert int(faults["read_privileged"]["mmfar"], 16) == int(values["guard"], 16) + 0x800
    assert values["svc_read_privileged"] == "0x33333333"
    assert faults["svc_privileged"]["count"] == "0"


def test_execute_never_fetch_is_iaccviol(mpu_run: tuple[Machine, dict, dict]) -> None:
    _, values, faults = mpu_run
    fault = faults["call_execute_never"]
    assert fault["count"] == "1"
    assert fault["cfsr"] == IACCVIOL  # MMARVALID clear: MMFAR is not the fetch address
    assert int(fault["pc"], 16) == int(values["guard"], 16) + 0x20 + 0xE0
    assert values["call_executable"] == "0x0000002a"
    assert faults["executable"]["count"] == "0"


def test_privdefena_opens_default_map(mpu_run: tuple[Machine, dict, dict]) -> None:
    _, values, faults = mpu_run
    assert values["svc_read_guard"] == "0xdeadbeef"
    assert faults["svc_guard"]["cfsr"] == DACCVIOL_MMARVALID
    assert values["svc_read_guard_privdefena"] == "0x44444444"
    assert faults["svc_guard_privdefena"]["count"] == "0"


def test_overlapping_regions_fault(mpu_run: tuple[Machine, dict, dict]) -> None:
    _, values, faults = mpu_run
    assert values["read_overlap_value"] == "0xdeadbeef"
    assert faults["read_overlap"]["cfsr"] == DACCVIOL_MMARVALID
    assert int(faults["read_overlap"]["mmfar"], 16) == int(values["guard"], 16) + 0x20


def test_disabled_memmanage_escalates(mpu_run: tuple[Machine, dict, dict]) -> None:
    _, values, _ = mpu_run
    assert values["hardfault_count"] == "0x00000001"
    assert values["hardfault_hfsr"] == "0x40000000"  # FORCED
    assert values["hardfault_cfsr"] == DACCVIOL_MMARVALID
    assert values["hardfault_mmfar"] == values["guard"]


def test_disabled_mpu_never_faults(mpu_run: tuple[Machine, dict, dict]) -> None:
    _, values, faults = mpu_run
    assert values["disabled_read_guard"] == "0x44444444"
    assert values["disabled_read_only"] == "0x99999999"
    assert faults["disabled"]["count"] == "0"


def test_stacking_into_guard_is_mstkerr(mpu_run: tuple[Machine, dict, dict]) -> None:
    machine, values, faults = mpu_run
    fault = faults["stacking"]
    assert fault["count"] == "1"
    assert fault["cfsr"] == MSTKERR
    guard = int(values["guard"], 16)
    # No word of the frame reached the guard.
    assert machine.mem_read(guard, 4) == (0x44444444).to_bytes(4, "little")
    assert machine.mem_read(guard + 4, 28) == bytes(28)


def test_reset_restores_permissions(firmware: Callable[[str], object]) -> None:
    machine = Machine()
    machine.load_elf(firmware("bm_mpu"))  # type: ignore[arg-type]
    machine.reset()
    runs: list[list[str]] = []

    def collect(source: str, text: str) -> None:
        runs[-1].append(text)
        if text == "mpu done":
            machine.request_stop()

    machine.peripherals.on_console(collect)
    for _ in range(2):
        runs.append([])
        assert machine.run(max_cycles=50_000_000).reason is RunReason.STOP
        assert machine.mpu.enabled
        machine.reset()
        assert not machine.mpu.enabled
        assert all(region.enabled is False for region in machine.mpu.regions())
        for start, end, perms in machine._uc.mem_regions():
            if mm.FLASH_BASE <= start < mm.FLASH_BASE + mm.FLASH_SIZE:
                assert perms == ucc.UC_PROT_READ | ucc.UC_PROT_EXEC, hex(start)
            if mm.SRAM_BASE <= start < mm.SRAM_BASE + mm.SRAM_SIZE:
                assert perms == ucc.UC_PROT_ALL, hex(start)
    assert runs[0] == runs[1]


def test_mpu_off_checks_nothing(boot: Callable[..., Machine], run_until_line: RunUntil) -> None:
    machine = boot("bm_exceptions")
    run_until_line(machine, "exceptions done")
    assert machine.mpu.checks == 0
    assert not machine.mpu.enabled


def _region_asm(number: int, rbar: str, rlar: str) -> str:
    """Build the Thumb lines that program MPU region ``number``, with r0 at MPU_RNR."""
    return (
        f"    movs r1, #{number}\n    str r1, [r0]\n    ldr r1, ={rbar}\n"
        f"    str r1, [r0, #4]\n    ldr r1, ={rlar}\n    str r1, [r0, #8]\n"
    )


def _load(assemble: Callable[[str], bytes], source: str) -> Machine:
    """Assemble ``source`` into a new machine and reset it."""
    machine = Machine()
    machine.load_image(assemble(source))
    machine.reset()
    return machine


# Region set-up for the assembled scenarios: flash (attributes FLASH_AP),
# SRAM 0x2000_0000-0x2000_FFFF read-write execute-never, MPU_CTRL = CTRL.
_SCENARIO = (
    """
.word 0x20008000
.word reset + 1
.word 0
.word hardfault + 1
reset:
    ldr r0, =0xE000ED98
"""
    + _region_asm(0, "0x08000000 + FLASH_AP", "0x080FFFE1")
    + _region_asm(1, "0x20000003", "0x2000FFE1")
    + """    ldr r0, =0xE000ED94
    movs r1, #CTRL
    str r1, [r0]
    dsb
    isb
    ldr r3, =0x12345678
    ldr r1, =TARGET
    ACCESS
    movs r5, #1
    b .
hardfault:
    ldr r1, =0x20010000
    ldr r4, [r1]
    movs r6, #1
    b .
.ltorg
"""
)


def _scenario(
    assemble: Callable[[str], bytes], *, flash_ap: int, ctrl: int, target: int, access: str
) -> Machine:
    source = (
        f".equ FLASH_AP, {flash_ap}\n.equ CTRL, {ctrl}\n.equ TARGET, {target}\n"
        + _SCENARIO.replace("ACCESS", access)
    )
    return _load(assemble, source)


def test_flash_write_allowed_by_mpu_crashes(assemble: Callable[[str], bytes]) -> None:
    # Flash region read-write for all (AP=01): the MPU allows the write,
    # and a write to application flash still ends the app.
    machine = _scenario(assemble, flash_ap=0b010, ctrl=1, target=0x0800_4000, access="str r3, [r1]")
    result = machine.run(max_cycles=100_000)
    assert result.reason is RunReason.CRASH
    assert result.fault is not None
    assert result.fault.kind is FaultKind.FLASH_WRITE
    assert result.fault.address == 0x0800_4000


def test_flash_write_denied_is_memmanage(assemble: Callable[[str], bytes]) -> None:
    # Flash region read-only (AP=11): the MPU denies first, and without
    # MEMFAULTENA the MemManage escalates to HardFault.
    machine = _scenario(assemble, flash_ap=0b110, ctrl=1, target=0x0800_4000, access="str r3, [r1]")
    result = machine.run(max_cycles=100_000)
    assert result.reason is RunReason.BUDGET
    assert machine.reg_read("r6") == 1
    assert machine.reg_read("r5") == 0
    assert machine.exception_unit.cfsr == 0x82
    assert machine.exception_unit.mmfar == 0x0800_4000
    assert machine.exception_unit.hfsr == 1 << 30


def test_store_exclusive_checked(assemble: Callable[[str], bytes]) -> None:
    # SRAM read-only for all: LDREX reads, STREX is denied.
    source = ".equ FLASH_AP, 0b110\n.equ CTRL, 1\n.equ TARGET, 0x20001000\n" + _SCENARIO.replace(
        "ldr r1, =0x20000003", "ldr r1, =0x20000007"
    ).replace("ACCESS", "ldrex r2, [r1]\n    strex r4, r3, [r1]")
    machine = _load(assemble, source)
    machine.mem_write(0x2000_1000, (0xC0DE).to_bytes(4, "little"))
    machine.run(max_cycles=100_000)
    assert machine.reg_read("r2") == 0xC0DE
    assert machine.exception_unit.cfsr & 0x82 == 0x82
    assert machine.exception_unit.mmfar == 0x2000_1000
    assert machine.mem_read(0x2000_1000, 4) == (0xC0DE).to_bytes(4, "little")
    assert machine.reg_read("r5") == 0


def test_hardfault_ignores_mpu_without_hfnmiena(assemble: Callable[[str], bytes]) -> None:
    # The hole at 0x2001_0000 faults in Thread mode but reads in HardFault.
    machine = _scenario(assemble, flash_ap=0b110, ctrl=1, target=0x2001_0000, access="ldr r2, [r1]")
    machine.mem_write(0x2001_0000, (0xCAFE).to_bytes(4, "little"))
    result = machine.run(max_cycles=100_000)
    assert result.reason is RunReason.BUDGET
    assert machine.reg_read("r4") == 0xCAFE
    assert machine.reg_read("r6") == 1


def test_fault_in_hardfault_with_hfnmiena_locks_up(assemble: Callable[[str], bytes]) -> None:
    machine = _scenario(assemble, flash_ap=0b110, ctrl=3, target=0x2001_0000, access="ldr r2, [r1]")
    result = machine.run(max_cycles=100_000)
    assert result.reason is RunReason.CRASH
    assert result.fault is not None
    assert result.fault.kind is FaultKind.LOCKUP
    assert machine.reg_read("r6") == 0


def test_mpu_checks_in_single_steps(assemble: Callable[[str], bytes]) -> None:
    machine = _scenario(assemble, flash_ap=0b110, ctrl=1, target=0x2001_0000, access="ldr r2, [r1]")
    for _ in range(200):
        machine.step()
        if machine.current_exception() == 3:
            break
    assert machine.current_exception() == 3
    assert machine.exception_unit.cfsr == 0x82
    assert machine.exception_unit.mmfar == 0x2001_0000


_PAGE_ALIGNED = (
    """
.word 0x20001000
.word reset + 1
.word 0
.word hardfault + 1
.word memmanage + 1
reset:
    ldr r0, =0xE000ED98
"""
    + _region_asm(0, "0x08000006", "0x080FFFE1")
    + _region_asm(1, "0x20000003", "0x20000FE1")
    + _region_asm(2, "0x20001001", "0x20001FE1")
    + """    ldr r0, =0xE000ED24
    ldr r1, =0x10000
    str r1, [r0]
    ldr r0, =0xE000ED94
    movs r1, #5
    str r1, [r0]
    dsb
    isb
    ldr r1, =0x20001000
    ldr r2, [r1]
    movs r0, #1
    msr control, r0
    isb
    ldr r3, [r1]
    movs r5, #1
    b .
memmanage:
    movs r6, #1
    b .
hardfault:
    movs r7, #1
    b .
.ltorg
"""
)


def test_page_aligned_regions_by_privilege(assemble: Callable[[str], bytes]) -> None:
    # Whole-page regions with PRIVDEFENA need no per-load checks: the TLB
    # keeps privileged and unprivileged read permission apart.
    machine = _load(assemble, _PAGE_ALIGNED)
    machine.mem_write(0x2000_1000, (0x5A5A).to_bytes(4, "little"))
    result = machine.run(max_cycles=100_000)
    assert result.reason is RunReason.BUDGET
    assert machine.mpu._read_hook is None
    assert machine.reg_read("r2") == 0x5A5A
    assert machine.reg_read("r3") == 0
    assert machine.reg_read("r6") == 1
    assert machine.reg_read("r5") == 0
    assert machine.reg_read("r7") == 0
    assert machine.exception_unit.cfsr == 0x82
    assert machine.exception_unit.mmfar == 0x2000_1000


_SRAM_EXECUTE_NEVER = (
    """
.word 0x20001000
.word reset + 1
.word 0
.word hardfault + 1
.word memmanage + 1
reset:
    ldr r0, =0xE000ED98
"""
    + _region_asm(0, "0x08000006", "0x080FFFE1")
    + _region_asm(1, "0x20000003", "0x2007FFE1")
    + """    ldr r0, =0xE000ED24
    ldr r1, =0x10000
    str r1, [r0]
    ldr r0, =0xE000ED94
    movs r1, #1
    str r1, [r0]
    dsb
    isb
    ldr r1, =0x20004000
    movs r2, #0x77
    str r2, [r1, #0x10]
    ldr r2, [r1, #0x10]
    ldr r3, =0x20002001
    blx r3
    movs r5, #1
    b .
memmanage:
    ldr r0, =0xE000ED28
    ldr r6, [r0]
    b .
hardfault:
    movs r7, #1
    b .
.ltorg
"""
)


def test_sram_execute_never_without_hook(assemble: Callable[[str], bytes]) -> None:
    # SRAM read-write and execute-never for all, in whole pages: stores stay
    # on the fast path and fetches still fault.
    machine = _load(assemble, _SRAM_EXECUTE_NEVER)
    machine.mem_write(0x2000_2000, bytes.fromhex("2a207047"))  # movs r0, #42; bx lr
    result = machine.run(max_cycles=100_000)
    assert result.reason is RunReason.BUDGET
    assert machine.mpu._sram_hook is None
    assert machine.reg_read("r2") == 0x77
    assert machine.reg_read("r6") == 0x01  # IACCVIOL
    assert machine.reg_read("r5") == 0
    assert machine.reg_read("r7") == 0
    assert machine.exception_unit.cfsr == 0x01
    # The stacked PC is the fetched address.
    assert machine.read_word(machine.reg_read("msp") + 24) == 0x2000_2000
