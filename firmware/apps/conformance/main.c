/* Conformance firmware: runs every case of cases.c and records, for each, the
 * status the microvisor returned and whether any canary byte changed.
 *
 * Results stay in g_conformance_report, which a test reads from SRAM after the
 * run; failures and a summary also go to mvTestLog. The run ends with
 * mvTestingComplete(number of failed plus skipped cases), so 0 means every
 * case passed. Cases of a phase whose set-up failed are skipped. */

#include <stdio.h>
#include <string.h>

#include "board.h"
#include "conformance.h"

#define REPORT_MAGIC 0x434F4E46u /* "CONF": the run finished */
#define MAX_CASES 1024u
#define STATUS_SKIPPED 0xFFFFFFFFu
#define MAX_LOGGED_FAILURES 40u

/* Bits of ConformanceResult.canaries: which guarded memory changed. */
#define CANARY_ARENA 1u
#define CANARY_RAM_TOP 2u
#define CANARY_FLASH 4u

#define ARENA_FILL 0xA5A5A5A5u
#define TOP_FILL 0x5A5A5A5Au
#define FLASH_FILL 0xC3u

struct ConformanceResult {
    uint32_t status;
    uint32_t canaries;
};

/* Read by tests/integration/conformance: keep the layout in step. */
struct ConformanceReport {
    uint32_t magic;
    uint32_t case_count;
    uint32_t failures;
    uint32_t skipped;
    uint32_t setup_status;  /* status of the set-up step that failed, else 0 */
    uint32_t setup_step;    /* number given to setup_step() for that step, else 0 */
    struct ConformanceResult results[MAX_CASES];
};

struct ConformanceReport g_conformance_report;

MvNotificationHandle g_notification;
struct MvNotification g_notification_buffer[8] __attribute__((aligned(8)));
MvNetworkHandle g_network;
MvExternalFlashHandle g_flash;
uint32_t g_flash_size;
MvSystemEventHandle g_system_event;
MvChannelHandle g_http;
MvChannelHandle g_config;
MvChannelHandle g_mqtt;
MvChannelHandle g_opaque;

/* 1 KiB so that buffer-sized bad pointers to flash stay inside it. */
const uint8_t g_flash_canary[1024] __attribute__((aligned(512))) = {
    [0 ... 1023] = FLASH_FILL,
};

static uint32_t s_arena[ARENA_SIZE / 4] __attribute__((aligned(512)));
static uint32_t s_arena_shadow[ARENA_SIZE / 4];
static uint32_t s_top_shadow[TOP_CANARY_SIZE / 4];
static uint32_t s_arena_used;

static uint8_t s_test_log[2048] __attribute__((aligned(512)));
static uint8_t s_server_log[1024] __attribute__((aligned(512)));
static uint8_t s_channel_receive[4][1024] __attribute__((aligned(512)));
static uint8_t s_channel_send[4][512] __attribute__((aligned(512)));

uintptr_t bad_pointer(enum BadKind kind, uint32_t size, uint32_t align)
{
    switch (kind) {
    case BAD_NULL:
        return 0;
    case BAD_SECURE:
        return 0x0C000000u;
    case BAD_UNMAPPED:
        return 0x60000000u;
    case BAD_FLASH:
        return (uintptr_t)g_flash_canary;
    case BAD_STRADDLE:
        /* Keep the type's alignment where a straddling span allows it, so only
         * the range is wrong; a word can straddle only when misaligned. */
        for (uint32_t a = align; a >= 1u; a /= 2u) {
            uintptr_t start = (RAM_END - size / 2u) & ~(uintptr_t)(a - 1u);
            if (start + size > RAM_END) {
                return start;
            }
        }
        return RAM_END;
    }
    return 0;
}

void *arena_alloc(uint32_t size, uint32_t align)
{
    uint32_t offset = (s_arena_used + align - 1u) & ~(align - 1u);
    if (offset + size > ARENA_SIZE) {
        /* A case needs a bigger arena: fault, so the run fails visibly. */
        __asm volatile("udf #0");
    }
    s_arena_used = offset + size;
    return (uint8_t *)s_arena + offset;
}

static void arena_reset(void)
{
    for (uint32_t i = 0; i < ARENA_SIZE / 4; i++) {
        s_arena[i] = ARENA_FILL;
    }
    s_arena_used = 0;
}

void canary_snapshot(void)
{
    volatile uint32_t *top = (volatile uint32_t *)TOP_CANARY_BASE;
    for (uint32_t i = 0; i < ARENA_SIZE / 4; i++) {
        s_arena_shadow[i] = s_arena[i];
    }
    for (uint32_t i = 0; i < TOP_CANARY_SIZE / 4; i++) {
        s_top_shadow[i] = top[i];
    }
}

static uint32_t canary_changes(void)
{
    volatile uint32_t *top = (volatile uint32_t *)TOP_CANARY_BASE;
    uint32_t changes = 0;
    for (uint32_t i = 0; i < ARENA_SIZE / 4; i++) {
        if (s_arena[i] != s_arena_shadow[i]) {
            changes |= CANARY_ARENA;
            break;
        }
    }
    for (uint32_t i = 0; i < TOP_CANARY_SIZE / 4; i++) {
        if (top[i] != s_top_shadow[i]) {
            changes |= CANARY_RAM_TOP;
            break;
        }
    }
    for (uint32_t i = 0; i < sizeof(g_flash_canary); i++) {
        if (((volatile const uint8_t *)g_flash_canary)[i] != FLASH_FILL) {
            changes |= CANARY_FLASH;
            break;
        }
    }
    return changes;
}

static void fill_top_canaries(void)
{
    volatile uint32_t *top = (volatile uint32_t *)TOP_CANARY_BASE;
    for (uint32_t i = 0; i < TOP_CANARY_SIZE / 4; i++) {
        top[i] = TOP_FILL;
    }
}

/* Records the first failed set-up step; returns 1 when status is OKAY. */
static int setup_step(uint32_t step, enum MvStatus status)
{
    if (status != MV_STATUS_OKAY && g_conformance_report.setup_step == 0) {
        g_conformance_report.setup_step = step;
        g_conformance_report.setup_status = status;
    }
    return status == MV_STATUS_OKAY;
}

static int set_up_handles(void)
{
    int ok = setup_step(1, mvTestLoggingInit(s_test_log, sizeof(s_test_log)));
    ok = ok && setup_step(2, mvServerLoggingInit(s_server_log, sizeof(s_server_log)));

    struct MvNotificationSetup setup = {
        .irq = NOTIFICATION_IRQ,
        .buffer = g_notification_buffer,
        .buffer_size = sizeof(g_notification_buffer),
    };
    ok = ok && setup_step(3, mvSetupNotifications(&setup, &g_notification));

    struct MvRequestNetworkParams network = {.version = 1};
    network.v1.notification_handle = g_notification;
    network.v1.notification_tag = 0x4E4554u;
    ok = ok && setup_step(4, mvRequestNetwork(&network, &g_network));

    struct MvExternalFlashInfo info = {.version = 1};
    ok = ok && setup_step(5, mvExternalFlashOpen(&g_flash));
    ok = ok && setup_step(6, mvExternalFlashGetInfo(g_flash, &info));
    g_flash_size = info.v1.size;

    struct MvOpenSystemNotificationParams system = {
        .notification_handle = g_notification,
        .notification_tag = 0x535953u,
        .notification_source = MV_SYSTEMNOTIFICATIONSOURCE_UPDATE,
    };
    ok = ok && setup_step(7, mvOpenSystemNotification(&system, &g_system_event));
    return ok;
}

static enum MvStatus open_channel(uint32_t index, enum MvChannelType type, MvChannelHandle *out)
{
    static const char endpoint[] = "conformance";
    struct MvOpenChannelParams params = {.version = 1};
    params.v1.notification_handle = g_notification;
    params.v1.notification_tag = 0x43480000u + index;
    params.v1.network_handle = g_network;
    params.v1.receive_buffer = s_channel_receive[index];
    params.v1.receive_buffer_len = sizeof(s_channel_receive[index]);
    params.v1.send_buffer = s_channel_send[index];
    params.v1.send_buffer_len = sizeof(s_channel_send[index]);
    params.v1.channel_type = type;
    if (type == MV_CHANNELTYPE_OPAQUEBYTES) {
        params.v1.endpoint.data = (const uint8_t *)endpoint;
        params.v1.endpoint.length = sizeof(endpoint) - 1;
    } else {
        params.v1.endpoint.data = (const uint8_t *)"";
        params.v1.endpoint.length = 0;
    }
    board_delay_ms(200); /* mvOpenChannel allows 8 calls a second */
    return mvOpenChannel(&params, out);
}

static int set_up_channels(void)
{
    enum MvNetworkStatus network = MV_NETWORKSTATUS_DELIBERATELYOFFLINE;
    uint32_t start = board_millis();
    while (network != MV_NETWORKSTATUS_CONNECTED && board_millis() - start < 60000u) {
        board_delay_ms(100);
        if (!setup_step(8, mvGetNetworkStatus(g_network, &network))) {
            return 0;
        }
    }
    if (network != MV_NETWORKSTATUS_CONNECTED) {
        return setup_step(9, MV_STATUS_NETWORKNOTCONNECTED);
    }
    int ok = setup_step(10, open_channel(0, MV_CHANNELTYPE_HTTP, &g_http));
    ok = ok && setup_step(11, open_channel(1, MV_CHANNELTYPE_CONFIGFETCH, &g_config));
    ok = ok && setup_step(12, open_channel(2, MV_CHANNELTYPE_MQTT, &g_mqtt));
    return ok;
}

static void test_log(const char *message)
{
    /* Space the lines out: the test log buffer drains at the microvisor's pace. */
    mvTestLog((const uint8_t *)message, (uint16_t)strlen(message));
    board_delay_ms(20);
}

static void report(void)
{
    char line[160];
    uint32_t logged = 0;
    for (uint32_t i = 0; i < g_case_count && logged < MAX_LOGGED_FAILURES; i++) {
        const struct ConformanceResult *result = &g_conformance_report.results[i];
        if (result->status == STATUS_SKIPPED ||
            (result->status == g_cases[i].expected && result->canaries == 0)) {
            continue;
        }
        snprintf(line, sizeof(line), "FAIL %s: status %lu, expected %lu, canaries %lu",
                 g_cases[i].title, (unsigned long)result->status,
                 (unsigned long)g_cases[i].expected, (unsigned long)result->canaries);
        test_log(line);
        logged++;
    }
    if (g_conformance_report.setup_step != 0) {
        snprintf(line, sizeof(line), "set-up step %lu failed with status %lu",
                 (unsigned long)g_conformance_report.setup_step,
                 (unsigned long)g_conformance_report.setup_status);
        test_log(line);
    }
    snprintf(line, sizeof(line), "conformance: %lu cases, %lu failed, %lu skipped",
             (unsigned long)g_case_count, (unsigned long)g_conformance_report.failures,
             (unsigned long)g_conformance_report.skipped);
    test_log(line);
}

int main(void)
{
    board_init();
    fill_top_canaries();
    g_conformance_report.case_count = g_case_count;

    int phase_ready[4] = {1, 0, 0, 0};
    uint8_t phase = 0;
    for (uint32_t i = 0; i < g_case_count && i < MAX_CASES; i++) {
        const struct ConformanceCase *test = &g_cases[i];
        while (phase < test->phase) {
            phase++;
            if (phase == 1) {
                phase_ready[1] = set_up_handles();
            } else if (phase == 2) {
                phase_ready[2] = phase_ready[1] && set_up_channels();
            } else {
                phase_ready[3] = phase_ready[2] &&
                                 setup_step(13, open_channel(3, MV_CHANNELTYPE_OPAQUEBYTES,
                                                             &g_opaque));
            }
        }

        struct ConformanceResult *result = &g_conformance_report.results[i];
        if (!phase_ready[phase]) {
            result->status = STATUS_SKIPPED;
            g_conformance_report.skipped++;
            continue;
        }
        if (test->paced) {
            board_delay_ms(200);
        }
        arena_reset();
        result->status = test->run();
        result->canaries = canary_changes();
        if (result->status != test->expected || result->canaries != 0) {
            g_conformance_report.failures++;
        }
    }

    report();
    g_conformance_report.magic = REPORT_MAGIC;
    mvTestingComplete(g_conformance_report.failures + g_conformance_report.skipped);
    for (;;) {
        __asm volatile("wfi");
    }
}
