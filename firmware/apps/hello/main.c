/* Smallest application: toggles the user LED (PA5) a few times and stops. */

#include <stdint.h>

#define RCC_AHB2ENR1 (*(volatile uint32_t *)0x46020C8C)
#define GPIOA_MODER  (*(volatile uint32_t *)0x42020000)
#define GPIOA_BSRR   (*(volatile uint32_t *)0x42020018)

int main(void)
{
    RCC_AHB2ENR1 |= 1u;
    GPIOA_MODER = (GPIOA_MODER & ~(3u << 10)) | (1u << 10);
    for (int i = 0; i < 4; i++) {
        GPIOA_BSRR = 1u << 5;
        GPIOA_BSRR = 1u << (5 + 16);
    }
    for (;;) {
        __asm volatile("wfi");
    }
}
