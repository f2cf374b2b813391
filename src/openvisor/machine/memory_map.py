"""The application's view of STM32U585 memory (non-secure world)."""

from __future__ import annotations

FLASH_BASE = 0x0800_0000
FLASH_SIZE = 1024 * 1024
SRAM_BASE = 0x2000_0000
SRAM_SIZE = 512 * 1024

# Non-secure callable region of the microvisor call gateway. Each call is an
# 8-byte entry (SG + B.W on silicon); the app calls it with BL/BLX.
GATEWAY_BASE = 0x0C1F_E000
GATEWAY_PAGE_SIZE = 0x1000
GATEWAY_END = 0x0C1F_E250
# The Thumb encoding of SVC #0, which fills every gateway halfword.
THUMB_SVC0 = 0xDF00

# Entries of the gateway that hold a call: every 8 bytes from 0x0C1FE000 to
# 0x0C1FE248, except 0x0C1FE0A0 and 0x0C1FE238, which the microvisor leaves empty.
GATEWAY_CALLS = frozenset(
    address
    for address in range(GATEWAY_BASE, GATEWAY_END, 8)
    if address not in (0x0C1F_E0A0, 0x0C1F_E238)
)

PERIPHERAL_BASE = 0x4000_0000
PERIPHERAL_SIZE = 0x1000_0000

# Private peripheral bus: ITM, DWT, FPB (0xE000_0000-0xE000_DFFF) and the
# system control space with NVIC, SCB, SysTick, MPU and FPU registers.
PPB_BASE = 0xE000_0000
PPB_SIZE = 0x0010_0000
SCS_BASE = 0xE000_E000
SCS_SIZE = 0x1000

# Regions the application must not touch; accesses there end the app. They
# are listed only to name the region in fault records.
SECURE_REGIONS = (
    (0x0C00_0000, 0x0E00_0000, "secure flash"),
    (0x3000_0000, 0x4000_0000, "secure SRAM"),
    (0x5000_0000, 0x6000_0000, "secure peripherals"),
)


def describe_address(address: int) -> str:
    """Name the region an address falls in, for fault messages."""
    if FLASH_BASE <= address < FLASH_BASE + FLASH_SIZE:
        return "application flash"
    if SRAM_BASE <= address < SRAM_BASE + SRAM_SIZE:
        return "application SRAM"
    if GATEWAY_BASE <= address < GATEWAY_BASE + GATEWAY_PAGE_SIZE:
        return "call gateway"
    for start, end, name in SECURE_REGIONS:
        if start <= address < end:
            return name
    if PERIPHERAL_BASE <= address < PERIPHERAL_BASE + PERIPHERAL_SIZE:
        return "peripherals"
    if PPB_BASE <= address < PPB_BASE + PPB_SIZE:
        return "private peripheral bus"
    return "unmapped space"
