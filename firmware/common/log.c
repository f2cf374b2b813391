#include "log.h"

#include <stdarg.h>
#include <stdio.h>

#include "mv_syscalls.h"

static uint8_t s_log_buffer[4096] __attribute__((aligned(512)));

void log_init(void)
{
    mvServerLoggingInit(s_log_buffer, sizeof(s_log_buffer));
}

void log_printf(const char *format, ...)
{
    char message[256];
    va_list args;
    va_start(args, format);
    int length = vsnprintf(message, sizeof(message), format, args);
    va_end(args);
    if (length < 0) {
        return;
    }
    if ((unsigned)length >= sizeof(message)) {
        length = sizeof(message) - 1;
    }
    mvServerLog((const uint8_t *)message, (uint16_t)length);
}
