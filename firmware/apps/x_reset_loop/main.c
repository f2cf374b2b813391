/* Hostile application: requests a system reset (AIRCR.SYSRESETREQ) as soon as
 * it starts, on every boot. */

#include <stdint.h>

#define SCB_AIRCR (*(volatile uint32_t *)0xE000ED0Cu)

int main(void)
{
    SCB_AIRCR = (0x05FAu << 16) | (1u << 2);
    for (;;) {
        __asm volatile("dsb");
    }
}
