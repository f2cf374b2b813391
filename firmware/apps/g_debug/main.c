/* Target application of the GDB stub tests: a counting loop, an interrupt
 * handler pended by software, a watched global and a fault on request. */

#include <stdint.h>

#define NVIC_ISER1 (*(volatile uint32_t *)0xE000E104)
#define NVIC_ISPR1 (*(volatile uint32_t *)0xE000E204)
#define TIM1_BRK_BIT (1u << (41 - 32)) /* TIM1_BRK is IRQ 41 */

/* Incremented by the main loop. */
volatile uint32_t counter;
/* Incremented by the interrupt handler. */
volatile uint32_t irq_count;
/* Written once every 16 loop passes; the watchpoint tests watch it. */
volatile uint32_t watched;
/* A debugger sets this to make the loop fault: 1 reads secure SRAM, 2 runs
 * an undefined instruction, 3 divides by zero. */
volatile uint32_t fault_request;
/* Stays 0 unless a debugger writes it; the loop copies it into `watched`. */
volatile uint32_t poked;

__attribute__((noinline)) uint32_t add_step(uint32_t value, uint32_t step)
{
    return value + step;
}

__attribute__((noinline)) void irq_work(void)
{
    irq_count = add_step(irq_count, 1);
}

void IRQ41_Handler(void)
{
    irq_work();
}

__attribute__((noinline)) static void raise_fault(uint32_t kind)
{
    if (kind == 1) {
        (void)*(volatile uint32_t *)0x30000000u; /* secure SRAM: not in the app's map */
    } else if (kind == 2) {
        __asm volatile(".short 0xde00"); /* UDF #0 */
    } else {
        volatile uint32_t zero = 0;
        *(volatile uint32_t *)0xE000ED14 |= 1u << 4; /* CCR.DIV_0_TRP */
        counter = counter / zero;
    }
}

int main(void)
{
    NVIC_ISER1 = TIM1_BRK_BIT;
    for (;;) {
        counter = add_step(counter, 1);
        if ((counter & 0xF) == 0) {
            watched = counter + poked;
        }
        if ((counter & 0xFF) == 0) {
            NVIC_ISPR1 = TIM1_BRK_BIT;
        }
        if (fault_request != 0) {
            raise_fault(fault_request);
        }
    }
}
