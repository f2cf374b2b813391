/* SysTick-driven blink: toggles the user LED (PA5) every 10 ms tick and
 * prints the SysTick count at each toggle, then reports the elapsed ticks. */

#include "bm_io.h"

static volatile uint32_t ticks;

void SysTick_Handler(void)
{
    ticks++;
}

int main(void)
{
    console_init();
    RCC_AHB2ENR1 |= 1u; /* GPIOAEN */
    GPIO_MODER(GPIOA_BASE) = (GPIO_MODER(GPIOA_BASE) & ~(3u << 10)) | (1u << 10);

    /* 10 ms at 160 MHz from the processor clock. */
    SYST_RVR = 1600000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = 0x7u; /* ENABLE, TICKINT, CLKSOURCE */

    console_puts("blink start\n");
    uint32_t seen = 0;
    for (int toggle = 0; toggle < 6; toggle++) {
        while (ticks == seen) {
            __asm volatile("wfi");
        }
        seen = ticks;
        if (toggle & 1) {
            GPIO_BSRR(GPIOA_BASE) = 1u << (5 + 16);
        } else {
            GPIO_BSRR(GPIOA_BASE) = 1u << 5;
        }
        console_kv("tick", seen);
    }
    SYST_CSR = 0;
    console_puts("blink done\n");
    for (;;) {
        __asm volatile("wfi");
    }
}
