/* Sends "tick N" with mvServerLog every 100 ms of virtual time, paced by
 * SysTick, and sleeps in WFI in between. */

#include <stdint.h>

#include "log.h"
#include "mv_syscalls.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

/* 16,000,000 cycles at 160 MHz: 100 ms, within SysTick's 24-bit reload. */
#define TICK_CYCLES 16000000u

static volatile uint32_t s_ticks;

void SysTick_Handler(void)
{
    s_ticks++;
}

int main(void)
{
    uint32_t seen = 0;

    log_init();
    SYST_RVR = TICK_CYCLES - 1u;
    SYST_CVR = 0;
    SYST_CSR = 0x7u; /* processor clock, interrupt, enable */
    for (;;) {
        while (s_ticks == seen) {
            __asm volatile("wfi");
        }
        seen = s_ticks;
        log_printf("tick %lu", (unsigned long)seen);
    }
}
