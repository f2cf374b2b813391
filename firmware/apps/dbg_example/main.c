/* Target for debugger tests: a global counter advanced by a function called in
 * the main loop, a SysTick handler counting ticks, and a fault raised when a
 * debugger sets g_fault_request. */

#include <stdint.h>

#include "mv_syscalls.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

/* Advanced by step_counter on every loop pass. */
volatile uint32_t g_counter;
/* Advanced by SysTick_Handler every millisecond. */
volatile uint32_t g_ticks;
/* Set to non-zero by a debugger to make the main loop fault. */
volatile uint32_t g_fault_request;

void SysTick_Handler(void)
{
    g_ticks++;
}

__attribute__((noinline)) uint32_t step_counter(uint32_t step)
{
    g_counter += step;
    return g_counter;
}

/* Reads secure flash, which is outside the app's memory map. */
__attribute__((noinline)) uint32_t fault_now(void)
{
    return *(volatile uint32_t *)0x0C000000u;
}

int main(void)
{
    uint32_t hclk = 160000000u;
    mvGetHClk(&hclk);
    SYST_RVR = hclk / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = 0x7u;

    for (;;) {
        step_counter(1);
        if (g_fault_request != 0) {
            g_counter = fault_now();
        }
        __asm volatile("wfi");
    }
}
