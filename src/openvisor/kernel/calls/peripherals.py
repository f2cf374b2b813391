"""Peripheral access for registers the microvisor keeps secure: mvPeriphPeek32/Poke32.

Only the registers below are reachable, at their non-secure (0x4...) or secure
(0x5...) alias. A poke computes ``(reg & ~mask) ^ xorvalue`` and then keeps the
register's current value in the bits the app may not change (the clock source,
PLL1 that drives the system clock, and the security configuration), without an
error. Register offsets are those of RM0456 (STM32U5 reference manual).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from openvisor.kernel.abi import MvStatus, StatusError
from openvisor.kernel.gateway import syscall

if TYPE_CHECKING:
    from openvisor.kernel.kernel import Kernel

RCC_BASE = 0x4602_0C00
PWR_BASE = 0x4602_0800
FLASH_BASE = 0x4002_2000
SECURE_ALIAS_OFFSET = 0x1000_0000

_ALL = 0xFFFF_FFFF

# RCC register offset -> bits the app may change.
_RCC_REGISTERS: dict[int, int] = {
    0x00: _ALL & ~(1 << 24),  # CR: PLL1ON stays set, PLL1 is the system clock
    0x08: _ALL,  # ICSCR1
    0x0C: _ALL,  # ICSCR2
    0x10: _ALL,  # ICSCR3
    0x14: _ALL,  # CRRCR
    0x1C: _ALL & ~0x3,  # CFGR1: SW (system clock switch) is the microvisor's
    0x20: _ALL,  # CFGR2
    0x24: _ALL,  # CFGR3
    0x28: 0,  # PLL1CFGR
    0x2C: _ALL,  # PLL2CFGR
    0x30: _ALL,  # PLL3CFGR
    0x34: 0,  # PLL1DIVR
    0x38: 0,  # PLL1FRACR
    0x3C: _ALL,  # PLL2DIVR
    0x40: _ALL,  # PLL2FRACR
    0x44: _ALL,  # PLL3DIVR
    0x48: _ALL,  # PLL3FRACR
    0x50: _ALL,  # CIER
    0x54: 0,  # CIFR (read only)
    0x58: _ALL,  # CICR
    0x60: _ALL,  # AHB1RSTR
    0x64: _ALL,  # AHB2RSTR1
    0x68: _ALL,  # AHB2RSTR2
    0x6C: _ALL,  # AHB3RSTR
    0x74: _ALL,  # APB1RSTR1
    0x78: _ALL,  # APB1RSTR2
    0x7C: _ALL,  # APB2RSTR
    0x80: _ALL,  # APB3RSTR
    0x88: _ALL,  # AHB1ENR
    0x8C: _ALL,  # AHB2ENR1
    0x90: _ALL,  # AHB2ENR2
    0x94: _ALL,  # AHB3ENR
    0x9C: _ALL,  # APB1ENR1
    0xA0: _ALL,  # APB1ENR2
    0xA4: _ALL,  # APB2ENR
    0xA8: _ALL,  # APB3ENR
    0xB0: _ALL,  # AHB1SMENR
    0xB4: _ALL,  # AHB2SMENR1
    0xB8: _ALL,  # AHB2SMENR2
    0xBC: _ALL,  # AHB3SMENR
    0xC4: _ALL,  # APB1SMENR1
    0xC8: _ALL,  # APB1SMENR2
    0xCC: _ALL,  # APB2SMENR
    0xD0: _ALL,  # APB3SMENR
    0xD8: _ALL,  # SRDAMR
    0xE0: _ALL,  # CCIPR1
    0xE4: _ALL,  # CCIPR2
    0xE8: _ALL,  # CCIPR3
    0xF0: _ALL,  # BDCR
    0xF4: _ALL,  # CSR
    0x110: 0,  # SECCFGR
    0x114: 0,  # PRIVCFGR
}

# Address (non-secure alias) -> bits the app may change.
ALLOWED_REGISTERS: dict[int, int] = {
    **{RCC_BASE + offset: mask for offset, mask in _RCC_REGISTERS.items()},
    PWR_BASE + 0x0C: _ALL,  # PWR_VOSR: a HAL sets the voltage range and polls VOSRDY
    PWR_BASE + 0x28: _ALL,  # PWR_DBPR: backup-domain write access for the RTC
    FLASH_BASE + 0x00: _ALL,  # FLASH_ACR: a HAL sets LATENCY and reads it back
}


def _resolve(kernel: Kernel, reg: int) -> tuple[int, int]:
    """Map a register address to its non-secure alias and its writable-bit mask."""
    if reg % 4:
        raise StatusError(MvStatus.PERIPHERALACCESSFAULT, f"register {reg:#010x} is not aligned")
    address = reg - SECURE_ALIAS_OFFSET if reg >= 0x5000_0000 else reg
    writable = ALLOWED_REGISTERS.get(address)
    if writable is None:
        raise StatusError(
            MvStatus.PERIPHERALACCESSFAULT, f"register {reg:#010x} is not on the allow-list"
        )
    return address, writable


def _read_register(kernel: Kernel, address: int) -> int:
    assert kernel.machine is not None
    return kernel.machine.bus_read(address, 4)


@syscall("mvPeriphPeek32")
def periph_peek32(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Read an allowed peripheral register ``r0`` into ``*r1``."""
    address, _ = _resolve(kernel, r0)
    kernel.memory.check_write(r1, 4, align=4)
    kernel.memory.write_u32(r1, _read_register(kernel, address))
    return MvStatus.OKAY


@syscall("mvPeriphPoke32")
def periph_poke32(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Set register ``r0`` to ``(reg & ~mask) ^ xorvalue`` in the bits the app may change."""
    address, writable = _resolve(kernel, r0)
    assert kernel.machine is not None
    current = _read_register(kernel, address)
    requested = (current & ~r1) ^ r2
    value = (current & ~writable) | (requested & writable)
    kernel.machine.bus_write(address, 4, value & _ALL)
    return MvStatus.OKAY
