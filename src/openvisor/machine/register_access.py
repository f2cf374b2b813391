"""Host access to the core registers by name, and fault records built from them.

`Machine` inherits `RegisterAccess`: reads and writes here go around the app's
privilege, so a debugger or the kernel can see and set any register.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from unicorn import arm_const as arm

from openvisor.errors import EmulationError
from openvisor.machine.exceptions import CONTROL_SFPA, FaultEscalation
from openvisor.machine.results import FaultKind, FaultRecord

if TYPE_CHECKING:
    from openvisor.machine._native import RegisterFile
    from openvisor.machine.exceptions import ExceptionUnit

REGISTER_IDS: dict[str, int] = {
    **{f"r{i}": arm.UC_ARM_REG_R0 + i for i in range(13)},
    "sp": arm.UC_ARM_REG_SP,
    "r13": arm.UC_ARM_REG_SP,
    "lr": arm.UC_ARM_REG_LR,
    "r14": arm.UC_ARM_REG_LR,
    "pc": arm.UC_ARM_REG_PC,
    "r15": arm.UC_ARM_REG_PC,
    "xpsr": arm.UC_ARM_REG_XPSR,
    "msp": arm.UC_ARM_REG_MSP,
    "psp": arm.UC_ARM_REG_PSP,
    "control": arm.UC_ARM_REG_CONTROL,
    "primask": arm.UC_ARM_REG_PRIMASK,
    "basepri": arm.UC_ARM_REG_BASEPRI,
    "faultmask": arm.UC_ARM_REG_FAULTMASK,
    "fpscr": arm.UC_ARM_REG_FPSCR,
    **{f"s{i}": arm.UC_ARM_REG_S0 + i for i in range(32)},
}
_RECORD_REGISTERS = [f"r{i}" for i in range(13)] + [
    "sp",
    "lr",
    "pc",
    "xpsr",
    "msp",
    "psp",
    "control",
]


def _register_id(name: str) -> int:
    """Return the Unicorn id of register ``name`` (any case), or raise `EmulationError`."""
    try:
        return REGISTER_IDS[name.lower()]
    except KeyError:
        raise EmulationError(
            f"unknown register {name!r}; use one of {', '.join(sorted(REGISTER_IDS))}"
        ) from None


class RegisterAccess:
    """Register reads and writes by name for `Machine` (the host bypasses privilege)."""

    if TYPE_CHECKING:
        registers: RegisterFile
        exception_unit: ExceptionUnit
        _started: bool

        def exceptions_changed(self) -> None: ...

    @property
    def pc(self) -> int:
        """The program counter (without the Thumb bit)."""
        return self.registers.read(arm.UC_ARM_REG_PC) & ~1

    @pc.setter
    def pc(self, value: int) -> None:
        self.registers.write(arm.UC_ARM_REG_PC, value | 1)
        self._started = True

    def reg_read(self, name: str) -> int:
        """Read a register by name: r0-r12, sp, lr, pc, xpsr, msp, psp, control, s0-s31..."""
        regid = _register_id(name)
        key = name.lower()
        if key in ("msp", "psp"):
            xpsr, control, sp = self.registers.read_many(
                [arm.UC_ARM_REG_XPSR, arm.UC_ARM_REG_CONTROL, arm.UC_ARM_REG_SP]
            )
            msp, psp = self.exception_unit.stack_pointers(xpsr, control, sp)
            return msp if key == "msp" else psp
        if key in ("primask", "basepri", "faultmask"):
            return self.exception_unit._read_privileged([regid])[0]
        value = self.registers.read(regid)
        if key == "control":
            # SFPA is RAZ/WI from the non-secure state. Unicorn runs Secure and sets it.
            return value & ~CONTROL_SFPA
        return value & ~1 if regid == arm.UC_ARM_REG_PC else value

    def reg_write(self, name: str, value: int) -> None:
        """Write a register by name (see `reg_read`)."""
        regid = _register_id(name)
        key = name.lower()
        if regid == arm.UC_ARM_REG_PC:
            self.pc = value & ~1
        elif key in ("msp", "psp"):
            xpsr, control, sp = self.registers.read_many(
                [arm.UC_ARM_REG_XPSR, arm.UC_ARM_REG_CONTROL, arm.UC_ARM_REG_SP]
            )
            msp, psp = self.exception_unit.stack_pointers(xpsr, control, sp)
            if key == "msp":
                msp = value
            else:
                psp = value
            self.exception_unit._switch_mode(
                ipsr=xpsr & 0x1FF, control=control, msp=msp, psp=psp, xpsr=xpsr
            )
        elif key == "control":
            self.exception_unit.write_control(value)
            self.exceptions_changed()
        elif key in ("primask", "basepri", "faultmask"):
            self.exception_unit.write_privileged(regid, value)
            self.exceptions_changed()
        else:
            self.registers.write(regid, value)

    def fault_record(
        self,
        kind: FaultKind,
        description: str,
        *,
        address: int | None = None,
        access: str | None = None,
        pc: int | None = None,
    ) -> FaultRecord:
        """Capture the registers into a `FaultRecord`."""
        values = self.registers.read_many([REGISTER_IDS[name] for name in _RECORD_REGISTERS])
        registers = dict(zip(_RECORD_REGISTERS, values, strict=True))
        registers["msp"], registers["psp"] = self.exception_unit.stack_pointers(
            registers["xpsr"], registers["control"], registers["sp"]
        )
        registers["pc"] &= ~1
        if pc is not None:
            registers["pc"] = pc
        return FaultRecord(
            kind=kind,
            pc=registers["pc"],
            lr=registers["lr"],
            sp=registers["sp"],
            xpsr=registers["xpsr"],
            address=address,
            access=access,
            description=description,
            registers=registers,
        )

    def escalation_record(self, escalation: FaultEscalation) -> FaultRecord:
        """Turn an unroutable fault into a crash record."""
        return self.fault_record(
            escalation.kind, escalation.description, address=escalation.address
        )
