/* Busy-waits 0.5 s by polling mvGetMicroseconds, then stores the number of
 * calls and the start and end times it read in globals for the host to read
 * by symbol, sets busy_wait_done and waits for interrupts. */

#include <stdint.h>

#include "mv_syscalls.h"

#define WAIT_US 500000u

volatile uint32_t busy_wait_calls;
volatile uint64_t busy_wait_start_us;
volatile uint64_t busy_wait_end_us;
volatile uint32_t busy_wait_done;

int main(void)
{
    uint64_t start = 0;
    uint64_t now = 0;
    uint32_t calls = 1;

    mvGetMicroseconds(&start);
    do {
        mvGetMicroseconds(&now);
        calls++;
    } while (now - start < WAIT_US);
    busy_wait_calls = calls;
    busy_wait_start_us = start;
    busy_wait_end_us = now;
    busy_wait_done = 1u;
    for (;;) {
        __asm volatile("wfi");
    }
}
