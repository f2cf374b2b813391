/* Bare-metal helpers shared by the test images: register addresses,
 * a handler macro that passes the stacked exception frame to C, and a polling
 * console on USART2. */
#ifndef BM_IO_H
#define BM_IO_H

#include <stdint.h>

#define REG32(address) (*(volatile uint32_t *)(address))

#define RCC_BASE       0x46020C00u
#define RCC_AHB2ENR1   REG32(RCC_BASE + 0x8Cu)
#define RCC_APB1ENR1   REG32(RCC_BASE + 0x9Cu)
#define GPIOA_BASE     0x42020000u
#define GPIO_MODER(b)  REG32((b) + 0x00u)
#define GPIO_IDR(b)    REG32((b) + 0x10u)
#define GPIO_BSRR(b)   REG32((b) + 0x18u)
#define USART2_BASE    0x40004400u
#define USART_CR1(b)   REG32((b) + 0x00u)
#define USART_BRR(b)   REG32((b) + 0x0Cu)
#define USART_ISR(b)   REG32((b) + 0x1Cu)
#define USART_TDR(b)   REG32((b) + 0x28u)
#define USART_ISR_TXE  (1u << 7)
#define USART_ISR_TC   (1u << 6)

#define SYST_CSR  REG32(0xE000E010u)
#define SYST_RVR  REG32(0xE000E014u)
#define SYST_CVR  REG32(0xE000E018u)
#define SCB_ICSR  REG32(0xE000ED04u)
#define SCB_SHPR3 REG32(0xE000ED20u)
#define SCB_SHCSR REG32(0xE000ED24u)
#define SCB_CFSR  REG32(0xE000ED28u)
#define SCB_HFSR  REG32(0xE000ED2Cu)
#define NVIC_ISER(n) REG32(0xE000E100u + 4u * (n))
#define NVIC_ISPR(n) REG32(0xE000E200u + 4u * (n))
#define NVIC_IPR8(n) (*(volatile uint8_t *)(0xE000E400u + (n)))
#define NVIC_STIR REG32(0xE000EF00u)

/* Basic and general-purpose timer registers of the timer at base address `b`. */
#define TIM6_BASE   0x40001000u
#define TIM7_BASE   0x40001400u
#define TIM_CR1(b)  REG32((b) + 0x00u)
#define TIM_DIER(b) REG32((b) + 0x0Cu)
#define TIM_SR(b)   REG32((b) + 0x10u)
#define TIM_EGR(b)  REG32((b) + 0x14u)
#define TIM_CNT(b)  REG32((b) + 0x24u)
#define TIM_PSC(b)  REG32((b) + 0x28u)
#define TIM_ARR(b)  REG32((b) + 0x2Cu)
#define TIM6_IRQN   49u
#define TIM7_IRQN   50u

/* Define the naked exception handler `handler`, which passes the stacked
 * exception frame (on MSP or PSP, as EXC_RETURN bit 2 in LR selects) to
 * `void dispatch(uint32_t *frame)`. */
#define BM_FRAME_HANDLER(handler, dispatch)                                       \
    __attribute__((naked)) void handler(void)                                     \
    {                                                                             \
        __asm volatile("tst lr, #4\n"                                             \
                       "ite eq\n"                                                 \
                       "mrseq r0, msp\n"                                          \
                       "mrsne r0, psp\n"                                          \
                       "b " #dispatch "\n");                                      \
    }

static inline void console_init(void)
{
    RCC_APB1ENR1 |= 1u << 17; /* USART2EN */
    USART_BRR(USART2_BASE) = 160000000u / 115200u;
    USART_CR1(USART2_BASE) = (1u << 3) | (1u << 0); /* TE, UE */
}

static inline void console_putc(char c)
{
    while (!(USART_ISR(USART2_BASE) & USART_ISR_TXE)) {
    }
    USART_TDR(USART2_BASE) = (uint8_t)c;
}

static inline void console_puts(const char *text)
{
    while (*text) {
        console_putc(*text++);
    }
}

static inline void console_putu(uint32_t value)
{
    char digits[11];
    int n = 0;
    do {
        digits[n++] = (char)('0' + value % 10u);
        value /= 10u;
    } while (value);
    while (n) {
        console_putc(digits[--n]);
    }
}

static inline void console_puthex(uint32_t value)
{
    static const char hex[] = "0123456789abcdef";
    console_puts("0x");
    for (int shift = 28; shift >= 0; shift -= 4) {
        console_putc(hex[(value >> shift) & 0xFu]);
    }
}

/* Print "key=value" with no newline, so several fields can share a line. */
static inline void console_field(const char *key, uint32_t value)
{
    console_puts(key);
    console_putc('=');
    console_putu(value);
}

/* Print "key=value" followed by a newline. */
static inline void console_kv(const char *key, uint32_t value)
{
    console_puts(key);
    console_putc('=');
    console_putu(value);
    console_putc('\n');
}

#endif
