/* Faults that only the microvisor handles. The case number comes from the
 * mailbox word at 0x2007E000 when 0x2007E004 contains FAULT_MAGIC (written by
 * the host after reset); each case runs in a function named after it so
 * the host can check the faulting PC against the symbol. */

#include "bm_io.h"

#define MAILBOX_CASE  REG32(0x2007E000u)
#define MAILBOX_MAGIC REG32(0x2007E004u)
#define FAULT_MAGIC   0xFA017ED5u

typedef void (*entry_t)(void);

__attribute__((noinline)) void fault_secure_flash_read(void)
{
    (void)REG32(0x0C000100u);
}

__attribute__((noinline)) void fault_flash_write(void)
{
    REG32(0x08000400u) = 0x12345678u;
}

__attribute__((noinline)) void fault_secure_sram_write(void)
{
    REG32(0x30000010u) = 1u;
}

__attribute__((noinline)) void fault_secure_peripheral_read(void)
{
    (void)REG32(0x50020C00u);
}

__attribute__((noinline)) void fault_gateway_read(void)
{
    (void)REG32(0x0C1FE010u);
}

__attribute__((noinline)) void fault_gateway_empty_call(void)
{
    ((entry_t)(0x0C1FE0A0u | 1u))();
}

__attribute__((noinline)) void fault_unmapped_fetch(void)
{
    ((entry_t)(0x60000000u | 1u))();
}

__attribute__((noinline)) void fault_unmapped_read(void)
{
    (void)REG32(0x90000000u);
}

void HardFault_Handler(void)
{
    /* A fault inside HardFault locks the core up. */
    __asm volatile("udf #2");
}

__attribute__((noinline)) void fault_lockup(void)
{
    __asm volatile("udf #3");
}

__attribute__((noinline)) void fault_stacking(void)
{
    __asm volatile(
        "ldr r0, =0x30000100\n"
        "msr msp, r0\n"
        "svc #0\n" ::: "r0");
}

static const entry_t cases[] = {
    fault_secure_flash_read,  fault_flash_write,        fault_secure_sram_write,
    fault_secure_peripheral_read, fault_gateway_read,   fault_gateway_empty_call,
    fault_unmapped_fetch,     fault_unmapped_read,      fault_lockup,
    fault_stacking,
};

int main(void)
{
    console_init();
    uint32_t selected = MAILBOX_MAGIC == FAULT_MAGIC ? MAILBOX_CASE : 0u;
    console_kv("case", selected);
    if (selected < sizeof(cases) / sizeof(cases[0])) {
        cases[selected]();
    }
    console_puts("no fault\n");
    for (;;) {
        __asm volatile("wfi");
    }
}
