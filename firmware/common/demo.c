/* The application of the guided demo and the update tests. DEMO_VERSION (set
 * in the app's flags.mk) changes its log lines and its blink pattern:
 * version 1 blinks once a second, version 2 flashes twice a second.
 *
 * The app subscribes to update events (an UPDATE system notification), so a
 * bundle with a politeness time lets it choose when to restart: when the
 * UPDATEDOWNLOADED event arrives it logs and calls mvRestart at once. */

#include <stdint.h>

#include "board.h"
#include "log.h"
#include "mv_syscalls.h"
#include "notifications.h"

#ifndef DEMO_VERSION
#error "DEMO_VERSION must be defined (see flags.mk)"
#endif

#define UPDATE_TAG 0x55504454u /* "UPDT" */
#define ALIVE_PERIOD_MS 5000u

/* LED steps of one blink period: on/off durations in milliseconds. */
#if DEMO_VERSION == 1
static const uint16_t k_pattern[] = {500, 500};
#else
static const uint16_t k_pattern[] = {100, 150, 100, 650};
#endif

static void handle_notifications(void)
{
    struct MvNotification record;
    while (notifications_next(&record)) {
        if (record.event_type == MV_EVENTTYPE_UPDATEDOWNLOADED) {
            log_printf("demo v%d: update downloaded, restarting to apply it", DEMO_VERSION);
            enum MvStatus status = mvRestart(MV_RESTARTMODE_AUTOAPPLYUPDATE);
            log_printf("demo v%d: mvRestart returned %u", DEMO_VERSION, (unsigned)status);
        }
    }
}

int main(void)
{
    board_init();
    log_init();

    enum MvWakeReason wake = MV_WAKEREASON_COLDBOOT;
    mvGetWakeReason(&wake);
    log_printf("demo v%d starting (wake reason %u)", DEMO_VERSION, (unsigned)wake);

    MvSystemEventHandle update_events = 0;
    enum MvStatus status = notifications_init();
    if (status == MV_STATUS_OKAY) {
        struct MvOpenSystemNotificationParams params = {
            .notification_handle = notifications_handle(),
            .notification_tag = UPDATE_TAG,
            .notification_source = MV_SYSTEMNOTIFICATIONSOURCE_UPDATE,
        };
        status = mvOpenSystemNotification(&params, &update_events);
    }
    if (status != MV_STATUS_OKAY) {
        log_printf("demo v%d: update notifications unavailable (status %u)", DEMO_VERSION,
                   (unsigned)status);
    }

    uint32_t step = 0;
    uint32_t next_alive = board_millis() + ALIVE_PERIOD_MS;
    for (;;) {
        board_led_set(step % 2u == 0u);
        board_delay_ms(k_pattern[step]);
        step = (step + 1u) % (sizeof(k_pattern) / sizeof(k_pattern[0]));

        handle_notifications();
        if ((int32_t)(board_millis() - next_alive) >= 0) {
            log_printf("demo v%d alive, uptime %lu s", DEMO_VERSION,
                       (unsigned long)(board_millis() / 1000u));
            next_alive += ALIVE_PERIOD_MS;
        }
    }
}
