/* Crashes on its first boot (a read of secure SRAM); on the boot after the
 * crash it checks the wake reason and ends the factory test with status 42,
 * or 1 if the wake reason is not APPLICATIONCRASH. */

#include <stdint.h>
#include <string.h>

#include "mv_syscalls.h"

static uint8_t test_log_buffer[1024] __attribute__((aligned(512)));

static void say(const char *text)
{
    mvTestLog((const uint8_t *)text, (uint16_t)strlen(text));
}

int main(void)
{
    enum MvWakeReason reason = MV_WAKEREASON_COLDBOOT;

    mvTestLoggingInit(test_log_buffer, sizeof test_log_buffer);
    mvGetWakeReason(&reason);
    if (reason == MV_WAKEREASON_COLDBOOT) {
        say("crash_once: first boot, crashing");
        (void)*(volatile uint32_t *)0x30000000u;
    }
    say(reason == MV_WAKEREASON_APPLICATIONCRASH ? "crash_once: restarted after crash"
                                                  : "crash_once: unexpected wake reason");
    mvTestingComplete(reason == MV_WAKEREASON_APPLICATIONCRASH ? 42u : 1u);
    for (;;) {
        __asm volatile("wfi");
    }
}
