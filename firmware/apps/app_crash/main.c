/* Example that crashes on purpose: it logs why it started, then writes to
 * secure flash, which ends the app. The microvisor records a crash report and
 * restarts it with wake reason APPLICATIONCRASH, so every boot after the first
 * logs that reason. */

#include <stdint.h>

#include "log.h"
#include "mv_syscalls.h"

/* Kept out of line so the crash report's stack shows a named frame. */
__attribute__((noinline)) static void write_secure_flash(void)
{
    *(volatile uint32_t *)0x0C000000u = 0xDEADBEEFu;
}

int main(void)
{
    log_init();

    enum MvWakeReason wake = MV_WAKEREASON_COLDBOOT;
    mvGetWakeReason(&wake);
    if (wake == MV_WAKEREASON_APPLICATIONCRASH) {
        log_printf("app_crash restarted after a crash (wake reason %u)", (unsigned)wake);
    } else {
        log_printf("app_crash started (wake reason %u)", (unsigned)wake);
    }

    log_printf("app_crash: writing to secure flash at 0x0C000000");
    write_secure_flash();

    log_printf("app_crash: the faulting write returned");
    for (;;) {
        __asm volatile("wfi");
    }
}
