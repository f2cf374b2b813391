#include "notifications.h"

#include <string.h>

#include "board.h"

#define SLOTS 16u

/* The ring buffer the microvisor writes; the ISR copies records out of it. */
static struct MvNotification s_ring[SLOTS] __attribute__((aligned(8)));
static uint32_t s_ring_read;
/* Records waiting for the main loop. */
static struct MvNotification s_queue[SLOTS];
static volatile uint32_t s_queue_head, s_queue_tail;
static MvNotificationHandle s_handle;

void TIM8_BRK_IRQHandler(void)
{
    /* The microvisor writes event_type last and the app clears it after
     * reading, so a non-zero type marks an unread record. */
    while (s_ring[s_ring_read].event_type != MV_EVENTTYPE_NOEVENT) {
        uint32_t next_tail = (s_queue_tail + 1u) % SLOTS;
        if (next_tail != s_queue_head) {
            s_queue[s_queue_tail] = s_ring[s_ring_read];
            s_queue_tail = next_tail;
        }
        s_ring[s_ring_read].event_type = MV_EVENTTYPE_NOEVENT;
        s_ring_read = (s_ring_read + 1u) % SLOTS;
    }
}

enum MvStatus notifications_init(void)
{
    memset(s_ring, 0, sizeof(s_ring));
    struct MvNotificationSetup setup = {
        .irq = NOTIFICATIONS_IRQ,
        .buffer = s_ring,
        .buffer_size = sizeof(s_ring),
    };
    enum MvStatus status = mvSetupNotifications(&setup, &s_handle);
    if (status == MV_STATUS_OKAY) {
        board_enable_irq(NOTIFICATIONS_IRQ);
    }
    return status;
}

MvNotificationHandle notifications_handle(void)
{
    return s_handle;
}

bool notifications_next(struct MvNotification *out)
{
    if (s_queue_head == s_queue_tail) {
        return false;
    }
    *out = s_queue[s_queue_head];
    s_queue_head = (s_queue_head + 1u) % SLOTS;
    return true;
}

bool notifications_wait(uint32_t tag, uint32_t timeout_ms, struct MvNotification *out)
{
    uint32_t start = board_millis();
    for (;;) {
        /* Scan the queue for the tag, putting other records back in order. */
        uint32_t waiting = (s_queue_tail + SLOTS - s_queue_head) % SLOTS;
        for (uint32_t i = 0; i < waiting; i++) {
            struct MvNotification record;
            if (!notifications_next(&record)) {
                break;
            }
            if (record.tag == tag) {
                *out = record;
                return true;
            }
            __asm volatile("cpsid i");
            s_queue[s_queue_tail] = record;
            s_queue_tail = (s_queue_tail + 1u) % SLOTS;
            __asm volatile("cpsie i");
        }
        if (board_millis() - start >= timeout_ms) {
            return false;
        }
        board_delay_ms(10);
    }
}
