#include "board.h"

#include "mv_syscalls.h"

#define RCC_AHB2ENR1   0x46020C8Cu
#define GPIOA_MODER    (*(volatile uint32_t *)0x42020000u)
#define GPIOA_BSRR     (*(volatile uint32_t *)0x42020018u)
#define GPIOA_ODR      (*(volatile uint32_t *)0x42020014u)
#define SYST_CSR       (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR       (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR       (*(volatile uint32_t *)0xE000E018u)
#define NVIC_ISER(n)   (*(volatile uint32_t *)(0xE000E100u + 4u * (n)))
#define LED_PIN        5u

static volatile uint32_t s_millis;

void SysTick_Handler(void)
{
    s_millis++;
}

void board_init(void)
{
    uint32_t hclk = 0;
    if (mvGetHClk(&hclk) != MV_STATUS_OKAY || hclk == 0) {
        hclk = 160000000u;
    }
    SYST_RVR = hclk / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = 0x7u; /* processor clock, interrupt, enable */

    /* RCC_AHB2ENR1 bit 0 is GPIOAEN: mask 1 clears it, xor 1 sets it again. */
    mvPeriphPoke32(RCC_AHB2ENR1, 1u, 1u);
    GPIOA_MODER = (GPIOA_MODER & ~(3u << (2 * LED_PIN))) | (1u << (2 * LED_PIN));
}

uint32_t board_millis(void)
{
    return s_millis;
}

void board_delay_ms(uint32_t ms)
{
    uint32_t start = s_millis;
    while (s_millis - start < ms) {
        __asm volatile("wfi");
    }
}

void board_led_set(int on)
{
    GPIOA_BSRR = on ? (1u << LED_PIN) : (1u << (LED_PIN + 16));
}

void board_led_toggle(void)
{
    board_led_set(!(GPIOA_ODR & (1u << LED_PIN)));
}

void board_enable_irq(uint32_t irqn)
{
    NVIC_ISER(irqn / 32u) = 1u << (irqn % 32u);
}
