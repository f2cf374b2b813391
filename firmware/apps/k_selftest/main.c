/* Factory self-test image: logs to the test console and the server log, checks
 * a few calls, then reports the number of failed checks with mvTestingComplete
 * (0 = pass). The host expects exit status 0 and the lines below. */

#include <stdint.h>
#include <string.h>

#include "mv_syscalls.h"

static uint8_t test_log_buffer[1024] __attribute__((aligned(512)));
static uint8_t server_log_buffer[1024] __attribute__((aligned(512)));

static void say(const char *text)
{
    mvTestLog((const uint8_t *)text, (uint16_t)strlen(text));
}

int main(void)
{
    uint32_t failures = 0;
    uint32_t hz = 0;
    uint64_t micros = 0;
    uint8_t id[34];

    if (mvTestLoggingInit(test_log_buffer, sizeof test_log_buffer) != MV_STATUS_OKAY) {
        failures++;
    }
    if (mvServerLoggingInit(server_log_buffer, sizeof server_log_buffer) != MV_STATUS_OKAY) {
        failures++;
    }
    say("selftest: start");
    if (mvGetSysClk(&hz) != MV_STATUS_OKAY || hz != 160000000u) {
        failures++;
        say("selftest: sysclk wrong");
    }
    if (mvGetMicroseconds(&micros) != MV_STATUS_OKAY || micros == 0) {
        failures++;
        say("selftest: microseconds wrong");
    }
    if (mvGetDeviceId(id, sizeof id) != MV_STATUS_OKAY || id[0] != 'U' || id[1] != 'V') {
        failures++;
        say("selftest: device id wrong");
    }
    if (mvGetDeviceId(id, 8) != MV_STATUS_INVALIDBUFFERSIZE) {
        failures++;
        say("selftest: device id length not checked");
    }
    const char *line = "selftest: server log line";
    if (mvServerLog((const uint8_t *)line, (uint16_t)strlen(line)) != MV_STATUS_OKAY) {
        failures++;
    }
    say(failures ? "selftest: FAIL" : "selftest: PASS");
    mvTestingComplete(failures);
    for (;;) {
        __asm volatile("wfi");
    }
}
