/* Records why it started: each boot stores the mvGetWakeReason result in
 * last_wake_reason and its status in last_wake_status, for the host to read
 * by symbol, then waits for interrupts. */

#include <stdint.h>

#include "mv_syscalls.h"

volatile uint32_t last_wake_reason = 0xFFFFFFFFu;
volatile uint32_t last_wake_status = 0xFFFFFFFFu;

int main(void)
{
    enum MvWakeReason reason = MV_WAKEREASON_COLDBOOT;

    last_wake_status = (uint32_t)mvGetWakeReason(&reason);
    last_wake_reason = (uint32_t)reason;
    for (;;) {
        __asm volatile("wfi");
    }
}
