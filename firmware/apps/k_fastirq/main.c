/* Fast-interrupt test application: TIM6 (IRQ 49) marked fast with
 * mvSetFastInterrupt and mvEnableFastInterrupt. Input pin PC0, driven by the
 * host, picks the handler:
 *   0: each update interrupt (every 5 ms) spins for about 4 ms and
 *      returns: the handler runs 80% of the time, but each run
 *      stays within the microvisor's budget
 *   1: the first update interrupt (after 1 ms) never returns (a hung handler)
 * A boot after a crash prints its wake reason and the status of
 * mvSetFastInterrupt, then sleeps. Lines go to USART2 as "key=value" pairs. */

#include <stdint.h>

#include "bm_io.h"
#include "mv_syscalls.h"

#define GPIOC_IDR   REG32(0x42020810u)
#define RCC_AHB2ENR1_ADDR 0x46020C8Cu
#define RCC_APB1ENR1_ADDR 0x46020C9Cu

#define BUSY_LOOPS  160000u /* about 4 ms at 160 MHz */

static volatile uint32_t hang;
static volatile uint32_t handled;

static uint32_t now_us(void)
{
    uint64_t micros = 0;
    mvGetMicroseconds(&micros);
    return (uint32_t)micros;
}

/* A few instructions per iteration and no bus accesses, so no host cost per loop. */
static void spin(uint32_t loops)
{
    for (uint32_t i = 0; i < loops; i++) {
        __asm volatile("nop");
    }
}

void TIM6_IRQHandler(void)
{
    TIM_SR(TIM6_BASE) = 0;
    handled++;
    if (hang) {
        for (;;) {
        }
    }
    spin(BUSY_LOOPS);
}

int main(void)
{
    enum MvWakeReason reason = MV_WAKEREASON_COLDBOOT;
    mvGetWakeReason(&reason);
    mvPeriphPoke32(RCC_APB1ENR1_ADDR, 0, (1u << 17) | (1u << 4)); /* USART2EN, TIM6EN */
    mvPeriphPoke32(RCC_AHB2ENR1_ADDR, 0, 1u << 2); /* GPIOCEN */
    USART_BRR(USART2_BASE) = 160000000u / 115200u;
    USART_CR1(USART2_BASE) = (1u << 3) | (1u << 0); /* TE, UE */
    hang = GPIOC_IDR & 1u;

    enum MvStatus set_status = mvSetFastInterrupt(TIM6_IRQN);
    console_puts("boot");
    console_field(" reason", reason);
    console_field(" hang", hang);
    console_field(" set", set_status);
    console_putc('\n');
    if (reason != MV_WAKEREASON_COLDBOOT) {
        for (;;) {
            __asm volatile("wfi");
        }
    }

    console_field("enable", mvEnableFastInterrupt(TIM6_IRQN));
    console_putc('\n');
    TIM_PSC(TIM6_BASE) = 15999u; /* 160 MHz / 16000 = 10 kHz */
    TIM_ARR(TIM6_BASE) = hang ? 9u : 49u; /* 1 ms or 5 ms */
    TIM_EGR(TIM6_BASE) = 1u;
    TIM_SR(TIM6_BASE) = 0;
    TIM_DIER(TIM6_BASE) = 1u;
    NVIC_ISER(TIM6_IRQN / 32u) = 1u << (TIM6_IRQN % 32u);
    TIM_CR1(TIM6_BASE) = 1u;
    uint32_t reported = 0;
    for (;;) {
        __asm volatile("wfi");
        if (handled >= reported + 10u) {
            reported = handled;
            console_field("handled", reported);
            console_field(" us", now_us());
            console_putc('\n');
        }
    }
}
