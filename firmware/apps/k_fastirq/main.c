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

#define TIM6_BASE   0x40001000u
#define TIM_CR1     REG32(TIM6_BASE + 0x00u)
#define TIM_DIER    REG32(TIM6_BASE + 0x0Cu)
#define TIM_SR      REG32(TIM6_BASE + 0x10u)
#define TIM_EGR     REG32(TIM6_BASE + 0x14u)
#define TIM_PSC     REG32(TIM6_BASE + 0x28u)
#define TIM_ARR     REG32(TIM6_BASE + 0x2Cu)
#define TIM6_IRQN   49u
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

static void print_kv(const char *key, uint32_t value)
{
    console_puts(key);
    console_putc('=');
    console_putu(value);
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
    TIM_SR = 0;
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
    print_kv(" reason", reason);
    print_kv(" hang", hang);
    print_kv(" set", set_status);
    console_putc('\n');
    if (reason != MV_WAKEREASON_COLDBOOT) {
        for (;;) {
            __asm volatile("wfi");
        }
    }

    print_kv("enable", mvEnableFastInterrupt(TIM6_IRQN));
    console_putc('\n');
    TIM_PSC = 15999u; /* 160 MHz / 16000 = 10 kHz */
    TIM_ARR = hang ? 9u : 49u; /* 1 ms or 5 ms */
    TIM_EGR = 1u;
    TIM_SR = 0;
    TIM_DIER = 1u;
    NVIC_ISER(TIM6_IRQN / 32u) = 1u << (TIM6_IRQN % 32u);
    TIM_CR1 = 1u;
    uint32_t reported = 0;
    for (;;) {
        __asm volatile("wfi");
        if (handled >= reported + 10u) {
            reported = handled;
            print_kv("handled", reported);
            print_kv(" us", now_us());
            console_putc('\n');
        }
    }
}
