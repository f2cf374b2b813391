/* Factory self-test image: logs to the test console and the server log, checks
 * a few calls, prints a USART2 console line, lights the user LED, then reports
 * the number of failed checks with mvTestingComplete (0 = pass). */

#include <stdint.h>
#include <string.h>

#include "mv_syscalls.h"

static uint8_t test_log_buffer[1024] __attribute__((aligned(512)));
static uint8_t server_log_buffer[1024] __attribute__((aligned(512)));

#define RCC_AHB2ENR1 (*(volatile uint32_t *)0x46020C8Cu)
#define RCC_APB1ENR1 (*(volatile uint32_t *)0x46020C9Cu)
#define GPIOA_MODER (*(volatile uint32_t *)0x42020000u)
#define GPIOA_BSRR (*(volatile uint32_t *)0x42020018u)
#define USART2_CR1 (*(volatile uint32_t *)0x40004400u)
#define USART2_BRR (*(volatile uint32_t *)0x4000440Cu)
#define USART2_ISR (*(volatile uint32_t *)0x4000441Cu)
#define USART2_TDR (*(volatile uint32_t *)0x40004428u)

static void say(const char *text)
{
    mvTestLog((const uint8_t *)text, (uint16_t)strlen(text));
}

/* Print a line on the USART2 console: 115200 baud from PCLK1, TE and UE set. */
static void console(const char *text)
{
    RCC_APB1ENR1 |= 1u << 17;
    USART2_BRR = 160000000u / 115200u;
    USART2_CR1 = (1u << 3) | 1u;
    for (const char *c = text; *c; c++) {
        while (!(USART2_ISR & (1u << 7))) {
        }
        USART2_TDR = (uint8_t)*c;
    }
}

/* Light the user LED (PA5). */
static void led_on(void)
{
    RCC_AHB2ENR1 |= 1u;
    GPIOA_MODER = (GPIOA_MODER & ~(3u << 10)) | (1u << 10);
    GPIOA_BSRR = 1u << 5;
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
    console("selftest: console ok\r\n");
    led_on();
    say(failures ? "selftest: FAIL" : "selftest: PASS");
    mvTestingComplete(failures);
    for (;;) {
        __asm volatile("wfi");
    }
}
