/* Requests a system reset (AIRCR.SYSRESETREQ) at once on every boot. */
#include <stdint.h>

int main(void)
{
    *(volatile uint32_t *)0xE000ED0Cu = 0x05FA0004u;
    for (;;) {
    }
}
