/* One notification centre on TIM8_BRK (IRQ 51), an interrupt no peripheral of
 * the examples uses, with the records queued for the main loop. */

#ifndef OPENVISOR_NOTIFICATIONS_H
#define OPENVISOR_NOTIFICATIONS_H

#include <stdbool.h>

#include "mv_syscalls.h"

#define NOTIFICATIONS_IRQ 51u /* TIM8_BRK */

/* Sets up the centre and enables its IRQ; returns the status of mvSetupNotifications. */
enum MvStatus notifications_init(void);

/* The centre's handle, for network, channel and system-notification parameters. */
MvNotificationHandle notifications_handle(void);

/* Copies the oldest unread record into *out; false when none is waiting. */
bool notifications_next(struct MvNotification *out);

/* Sleeps until a record with this tag arrives or timeout_ms passes; the record
 * is consumed. Records with other tags stay queued. */
bool notifications_wait(uint32_t tag, uint32_t timeout_ms, struct MvNotification *out);

#endif
