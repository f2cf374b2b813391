/* Minimal startup for openvisor (and Microvisor) applications on the STM32U585:
 * the vector table, data and bss initialisation, FPU enable, static
 * constructors, then main().
 *
 * Exception handlers have their CMSIS names (SysTick_Handler, HardFault_Handler).
 * An interrupt handler may be defined under its CMSIS name, e.g.
 * TIM8_BRK_IRQHandler, or under its number, e.g. IRQ51_Handler; a handler left
 * undefined spins in Default_Handler, where a debugger finds it.
 */

#include <stdint.h>

extern uint32_t _estack, _sidata, _sdata, _edata, _sbss, _ebss;
extern void __libc_init_array(void);
extern int main(void);

void Reset_Handler(void);
void Default_Handler(void);

/* Runs before .data and .bss are set up, so it must not use either. */
void SystemInit(void) __attribute__((weak));
void SystemInit(void)
{
}

#define WEAK_ALIAS __attribute__((weak, alias("Default_Handler")))

void NMI_Handler(void) WEAK_ALIAS;
void HardFault_Handler(void) WEAK_ALIAS;
void MemManage_Handler(void) WEAK_ALIAS;
void BusFault_Handler(void) WEAK_ALIAS;
void UsageFault_Handler(void) WEAK_ALIAS;
void SecureFault_Handler(void) WEAK_ALIAS;
void SVC_Handler(void) WEAK_ALIAS;
void DebugMon_Handler(void) WEAK_ALIAS;
void PendSV_Handler(void) WEAK_ALIAS;
void SysTick_Handler(void) WEAK_ALIAS;

/* Numbered names: IRQ<n>_Handler defaults to Default_Handler. */
#define IRQ(number, name) void IRQ##number##_Handler(void) WEAK_ALIAS;
#include "irq_list.h"
#undef IRQ

/* CMSIS names: the default forwards to the numbered name, so an application
 * may define either one. An alias cannot do this, since it binds to
 * Default_Handler when this file is compiled. */
#define IRQ(number, name)                                        \
    void name##_IRQHandler(void) __attribute__((weak));          \
    void name##_IRQHandler(void)                                 \
    {                                                            \
        IRQ##number##_Handler();                                 \
    }
#include "irq_list.h"
#undef IRQ

typedef void (*vector_t)(void);

__attribute__((section(".isr_vector"), used))
const vector_t g_vectors[16 + 125] = {
    (vector_t)&_estack,
    Reset_Handler,
    NMI_Handler,
    HardFault_Handler,
    MemManage_Handler,
    BusFault_Handler,
    UsageFault_Handler,
    SecureFault_Handler,
    0, 0, 0,
    SVC_Handler,
    DebugMon_Handler,
    0,
    PendSV_Handler,
    SysTick_Handler,
#define IRQ(number, name) name##_IRQHandler,
#include "irq_list.h"
#undef IRQ
};

void Reset_Handler(void)
{
    SystemInit();

    uint32_t *src = &_sidata;
    for (uint32_t *dst = &_sdata; dst < &_edata;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0;
    }

    /* CPACR: full access to CP10 and CP11, so FPU instructions do not fault. */
    *(volatile uint32_t *)0xE000ED88 |= (0xFu << 20);
    __asm volatile("dsb\n isb");

    __libc_init_array();
    main();
    for (;;) {
        __asm volatile("wfi");
    }
}

void Default_Handler(void)
{
    for (;;) {
    }
}
