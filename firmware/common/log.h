/* printf-style logging to the server through mvServerLog. */

#ifndef OPENVISOR_LOG_H
#define OPENVISOR_LOG_H

/* Gives the microvisor a 4 KiB, 512-byte aligned log buffer. */
void log_init(void);

/* Formats one message (at most 255 bytes) and sends it with mvServerLog. */
void log_printf(const char *format, ...) __attribute__((format(printf, 1, 2)));

#endif
