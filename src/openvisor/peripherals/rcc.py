"""Clock and power control: RCC, PWR and the FLASH interface (RM0456 chapters 11, 10, 7).

The microvisor configures clocks before the application starts, so the
reset state here is the running state: SYSCLK from PLL1 at 160 MHz
(HSI16 / M=1 x N=10 / R=1), AHB and APB prescalers at 1, voltage scale 1.
Every oscillator's ready bit follows its enable bit at once.
"""

from __future__ import annotations

from typing import ClassVar

from openvisor.peripherals.base import Peripheral

HSI_HZ = 16_000_000

# RCC_CR: (enable bit, ready bit) pairs.
_CR_READY = [
    (0, 2),  # MSISON -> MSISRDY
    (4, 5),  # MSIKON -> MSIKRDY
    (8, 10),  # HSION -> HSIRDY
    (12, 13),  # HSI48ON -> HSI48RDY
    (14, 15),  # SHSION -> SHSIRDY
    (16, 17),  # HSEON -> HSERDY
    (24, 25),  # PLL1ON -> PLL1RDY
    (26, 27),  # PLL2ON -> PLL2RDY
    (28, 29),  # PLL3ON -> PLL3RDY
]
RCC_CR_RUNNING = (1 << 0) | (1 << 2) | (1 << 8) | (1 << 10) | (1 << 24) | (1 << 25)
RCC_CFGR1_PLL = 0x3 | (0x3 << 2)  # SW = PLL1, SWS = PLL1
# PLL1CFGR: PLL1SRC = HSI16 (2), PLL1RGE = 8-16 MHz input (3), PLL1M = 1, PLL1REN.
RCC_PLL1CFGR_RUNNING = 0x2 | (0x3 << 2) | (1 << 18)
# PLL1DIVR: N - 1 = 9, P - 1 = 1, Q - 1 = 1, R - 1 = 0: VCO 160 MHz, PLL1R 160 MHz.
RCC_PLL1DIVR_RUNNING = 9 | (1 << 9) | (1 << 16) | (0 << 24)


class Rcc(Peripheral):
    """Reset and clock control with the register values of a 160 MHz PLL1 system clock."""

    REGISTERS: ClassVar[dict[int, str]] = {
        0x00: "CR",
        0x08: "ICSCR1",
        0x0C: "ICSCR2",
        0x10: "ICSCR3",
        0x14: "CRRCR",
        0x1C: "CFGR1",
        0x20: "CFGR2",
        0x24: "CFGR3",
        0x28: "PLL1CFGR",
        0x2C: "PLL2CFGR",
        0x30: "PLL3CFGR",
        0x34: "PLL1DIVR",
        0x38: "PLL1FRACR",
        0x3C: "PLL2DIVR",
        0x40: "PLL2FRACR",
        0x44: "PLL3DIVR",
        0x48: "PLL3FRACR",
        0x50: "CIER",
        0x54: "CIFR",
        0x58: "CICR",
        0x60: "AHB1RSTR",
        0x64: "AHB2RSTR1",
        0x68: "AHB2RSTR2",
        0x6C: "AHB3RSTR",
        0x74: "APB1RSTR1",
        0x78: "APB1RSTR2",
        0x7C: "APB2RSTR",
        0x80: "APB3RSTR",
        0x88: "AHB1ENR",
        0x8C: "AHB2ENR1",
        0x90: "AHB2ENR2",
        0x94: "AHB3ENR",
        0x9C: "APB1ENR1",
        0xA0: "APB1ENR2",
        0xA4: "APB2ENR",
        0xA8: "APB3ENR",
        0xB0: "AHB1SMENR",
        0xB4: "AHB2SMENR1",
        0xB8: "AHB2SMENR2",
        0xBC: "AHB3SMENR",
        0xC4: "APB1SMENR1",
        0xC8: "APB1SMENR2",
        0xCC: "APB2SMENR",
        0xD0: "APB3SMENR",
        0xD8: "SRDAMR",
        0xE0: "CCIPR1",
        0xE4: "CCIPR2",
        0xE8: "CCIPR3",
        0xF0: "BDCR",
        0xF4: "CSR",
        0x110: "SECCFGR",
        0x114: "PRIVCFGR",
    }
    RESET_VALUES: ClassVar[dict[int, int]] = {
        0x00: RCC_CR_RUNNING,
        0x08: 0x4000_0000,  # ICSCR1: MSISRANGE = 4 MHz
        0x0C: 0x0000_0000,
        0x10: 0x0001_0000,
        0x1C: RCC_CFGR1_PLL,
        0x28: RCC_PLL1CFGR_RUNNING,
        0x34: RCC_PLL1DIVR_RUNNING,
        0x3C: 0x0101_0280,
        0x44: 0x0101_0280,
        0x88: 0x8000_0100,  # AHB1ENR: FLASHEN, SRAM1EN
        0x8C: 0x4000_0000,  # AHB2ENR1: SRAM2EN
        0xF4: 0x0C00_4400,  # CSR: MSISSRANGE = MSIKSRANGE = 4 MHz
    }

    def reset(self) -> None:
        """Restore reset values except BDCR, which is in the backup domain and survives resets."""
        backup = getattr(self, "registers", {}).get(0xF0)
        super().reset()
        if backup is not None:
            self.registers[0xF0] = backup

    def write_register(self, offset: int, value: int) -> None:
        """Store the value; ready and status bits follow their enables."""
        if offset == 0x00:
            for enable, ready in _CR_READY:
                value &= ~(1 << ready)
                if value >> enable & 1:
                    value |= 1 << ready
        elif offset == 0x1C:
            value = (value & ~0xC) | ((value & 0x3) << 2)  # SWS follows SW
        elif offset == 0xF0:
            value &= ~((1 << 1) | (1 << 27))
            value |= ((value & 1) << 1) | (((value >> 26) & 1) << 27)  # LSERDY, LSIRDY
        elif offset == 0x58:
            flags = self.registers.get(0x54, 0)
            self.registers[0x54] = flags & ~value  # CICR clears CIFR bits
            return
        super().write_register(offset, value)

    def sysclk_hz(self) -> int:
        """Compute SYSCLK from the registers the way HAL_RCC_GetSysClockFreq does."""
        sws = (self.registers[0x1C] >> 2) & 3
        if sws == 1:
            return HSI_HZ
        if sws == 2:
            return 16_000_000  # HSE on the reference board
        if sws == 0:
            return 4_000_000
        cfgr = self.registers[0x28]
        divr = self.registers[0x34]
        source = {1: 4_000_000, 2: HSI_HZ, 3: 16_000_000}.get(cfgr & 3, 0)
        m = ((cfgr >> 8) & 0xF) + 1
        n = (divr & 0x1FF) + 1
        r = ((divr >> 24) & 0x7F) + 1
        return source // m * n // r


class Pwr(Peripheral):
    """Power control: voltage scaling and supply selection report ready at once."""

    REGISTERS: ClassVar[dict[int, str]] = {
        0x00: "CR1",
        0x04: "CR2",
        0x08: "CR3",
        0x0C: "VOSR",
        0x10: "SVMCR",
        0x14: "WUCR1",
        0x18: "WUCR2",
        0x1C: "WUCR3",
        0x20: "BDCR1",
        0x24: "BDCR2",
        0x28: "DBPR",
        0x2C: "UCPDR",
        0x30: "SECCFGR",
        0x34: "PRIVCFGR",
        0x38: "SR",
        0x3C: "SVMSR",
        0x40: "BDSR",
        0x44: "WUSR",
        0x48: "WUSCR",
        0x4C: "APCR",
        **{0x50 + 8 * i: f"PUCR{chr(ord('A') + i)}" for i in range(9)},
        **{0x54 + 8 * i: f"PDCR{chr(ord('A') + i)}" for i in range(9)},
    }
    # VOSR: range 1 (VOS = 3), VOSRDY and BOOSTRDY, booster on.
    RESET_VALUES: ClassVar[dict[int, int]] = {0x0C: (3 << 16) | (1 << 15) | (1 << 14) | (1 << 8)}

    def write_register(self, offset: int, value: int) -> None:
        """Store the value; VOSRDY and BOOSTRDY follow at once."""
        if offset == 0x0C:
            value |= 1 << 15
            value = (value & ~(1 << 14)) | (((value >> 8) & 1) << 14)
        super().write_register(offset, value)

    def read_register(self, offset: int) -> int:
        """Return the register; SVMSR reports the active voltage range and regulator."""
        if offset == 0x3C:
            vos = (self.registers[0x0C] >> 16) & 3
            regsel = (self.registers[0x08] >> 1) & 1
            return (vos << 16) | (1 << 15) | (regsel << 1)
        return super().read_register(offset)


class FlashInterface(Peripheral):
    """FLASH registers: wait states and status; programming is not modelled."""

    REGISTERS: ClassVar[dict[int, str]] = {
        0x00: "ACR",
        0x08: "NSKEYR",
        0x0C: "SECKEYR",
        0x10: "OPTKEYR",
        0x18: "PDKEY1R",
        0x1C: "PDKEY2R",
        0x20: "NSSR",
        0x24: "SECSR",
        0x28: "NSCR",
        0x2C: "SECCR",
        0x30: "ECCR",
        0x34: "OPSR",
        0x40: "OPTR",
    }
    # ACR: LATENCY = 4 wait states, as needed at 160 MHz in range 1. NSCR: LOCK.
    RESET_VALUES: ClassVar[dict[int, int]] = {0x00: 0x4, 0x28: 1 << 31, 0x40: 0x1FEF_F8AA}

    def write_register(self, offset: int, value: int) -> None:
        """Store the value; key writes are accepted but flash stays read-only."""
        if offset == 0x20:
            self.registers[0x20] &= ~value  # NSSR flags are write-one-to-clear
            return
        super().write_register(offset, value)
