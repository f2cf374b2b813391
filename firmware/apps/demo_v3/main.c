/* Demo application, version 3: a broken release that crashes at start, so the
 * device rolls back to the version it ran before. */

#include <stdint.h>

#include "log.h"

int main(void)
{
    log_init();
    log_printf("demo v3 starting");

    /* 0x0C000000 is secure flash: the write faults and the microvisor ends the app. */
    *(volatile uint32_t *)0x0C000000u = 0xDEADBEEFu;

    log_printf("demo v3: still running after the faulting write");
    for (;;) {
        __asm volatile("wfi");
    }
}
