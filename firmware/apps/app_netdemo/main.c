/* Network example: a notification centre, a network request, a config fetch
 * and an HTTP GET.
 *
 * 1. Request the network and wait until it is CONNECTED.
 * 2. Fetch the device config key "netdemo-url" and the account secret
 *    "netdemo-token" over a CONFIGFETCH channel.
 * 3. GET the URL over an HTTP channel, sending the token as a bearer token,
 *    and log the status line and the start of the body.
 *
 * Each step logs what it did. The app ends with mvTestingComplete: status 0
 * when the GET returned 200, otherwise the number of the step that failed
 * (outside factory test mode the call returns UNAVAILABLE and the app idles). */

#include <stdio.h>
#include <string.h>

#include "board.h"
#include "log.h"
#include "mv_syscalls.h"
#include "notifications.h"

#define NETWORK_TAG 1u
#define CONFIG_TAG 2u
#define HTTP_TAG 3u
#define TIMEOUT_MS 30000u

static uint8_t s_receive[4096] __attribute__((aligned(512)));
static uint8_t s_send[1024] __attribute__((aligned(512)));
static char s_url[256];
static char s_token[128];

static MvNetworkHandle s_network;

static int connect_network(void)
{
    struct MvRequestNetworkParams params = {.version = 1};
    params.v1.notification_handle = notifications_handle();
    params.v1.notification_tag = NETWORK_TAG;
    enum MvStatus status = mvRequestNetwork(&params, &s_network);
    if (status != MV_STATUS_OKAY) {
        log_printf("netdemo: mvRequestNetwork failed (status %u)", (unsigned)status);
        return 0;
    }
    /* The link is often up already, and then no NETWORKSTATUSCHANGED follows:
     * poll the status instead of waiting for the event. */
    uint32_t start = board_millis();
    enum MvNetworkStatus network = MV_NETWORKSTATUS_DELIBERATELYOFFLINE;
    while (board_millis() - start < TIMEOUT_MS) {
        if (mvGetNetworkStatus(s_network, &network) == MV_STATUS_OKAY &&
            network == MV_NETWORKSTATUS_CONNECTED) {
            log_printf("netdemo: network connected after %lu ms",
                       (unsigned long)(board_millis() - start));
            return 1;
        }
        board_delay_ms(50);
    }
    log_printf("netdemo: network not connected after %lu ms (status %u)",
               (unsigned long)TIMEOUT_MS, (unsigned)network);
    return 0;
}

static enum MvStatus open_channel(enum MvChannelType type, uint32_t tag, MvChannelHandle *channel)
{
    struct MvOpenChannelParams params = {.version = 1};
    params.v1.notification_handle = notifications_handle();
    params.v1.notification_tag = tag;
    params.v1.network_handle = s_network;
    params.v1.receive_buffer = s_receive;
    params.v1.receive_buffer_len = sizeof(s_receive);
    params.v1.send_buffer = s_send;
    params.v1.send_buffer_len = sizeof(s_send);
    params.v1.channel_type = type;
    params.v1.endpoint.data = (const uint8_t *)"";
    params.v1.endpoint.length = 0;
    return mvOpenChannel(&params, channel);
}

/* Reads item `index` of a config response into out as a NUL-terminated string. */
static int read_config_item(MvChannelHandle channel, uint32_t index, char *out, uint32_t size)
{
    enum MvConfigKeyFetchResult result = MV_CONFIGKEYFETCHRESULT_SERVERERROR;
    uint32_t length = 0;
    struct MvConfigResponseReadItemParams item = {
        .item_index = index,
        .result = &result,
        .buf = {.data = (uint8_t *)out, .size = size - 1u, .length = &length},
    };
    enum MvStatus status = mvReadConfigResponseItem(channel, &item);
    if (status != MV_STATUS_OKAY || result != MV_CONFIGKEYFETCHRESULT_OK) {
        log_printf("netdemo: config item %lu unavailable (status %u, result %u)",
                   (unsigned long)index, (unsigned)status, (unsigned)result);
        out[0] = '\0';
        return 0;
    }
    out[length < size ? length : size - 1u] = '\0';
    return 1;
}

static int fetch_config(void)
{
    MvChannelHandle channel = 0;
    enum MvStatus status = open_channel(MV_CHANNELTYPE_CONFIGFETCH, CONFIG_TAG, &channel);
    if (status != MV_STATUS_OKAY) {
        log_printf("netdemo: opening the config channel failed (status %u)", (unsigned)status);
        return 0;
    }
    static const char url_key[] = "netdemo-url";
    static const char token_key[] = "netdemo-token";
    struct MvConfigKeyToFetch keys[2] = {
        {MV_CONFIGKEYFETCHSCOPE_DEVICE, MV_CONFIGKEYFETCHSTORE_CONFIG,
         {(const uint8_t *)url_key, sizeof(url_key) - 1}},
        {MV_CONFIGKEYFETCHSCOPE_ACCOUNT, MV_CONFIGKEYFETCHSTORE_SECRET,
         {(const uint8_t *)token_key, sizeof(token_key) - 1}},
    };
    struct MvConfigKeyFetchParams request = {.num_items = 2, .keys_to_fetch = keys};
    status = mvSendConfigFetchRequest(channel, &request);

    int found = 0;
    struct MvNotification record;
    struct MvConfigResponseData response = {0};
    if (status != MV_STATUS_OKAY) {
        log_printf("netdemo: config fetch rejected (status %u)", (unsigned)status);
    } else if (!notifications_wait(CONFIG_TAG, TIMEOUT_MS, &record)) {
        log_printf("netdemo: no config response within %lu ms", (unsigned long)TIMEOUT_MS);
    } else if ((status = mvReadConfigFetchResponseData(channel, &response)) != MV_STATUS_OKAY ||
               response.result != MV_CONFIGFETCHRESULT_OK) {
        log_printf("netdemo: config response unreadable (status %u, result %u)",
                   (unsigned)status, (unsigned)response.result);
    } else {
        found = read_config_item(channel, 0, s_url, sizeof(s_url));
        if (found) {
            log_printf("netdemo: config netdemo-url=%s", s_url);
        }
        /* A secret is never logged, only its length. */
        if (read_config_item(channel, 1, s_token, sizeof(s_token))) {
            log_printf("netdemo: secret netdemo-token has %u bytes", (unsigned)strlen(s_token));
        }
    }
    mvCloseChannel(&channel);
    return found;
}

static uint32_t http_get(void)
{
    MvChannelHandle channel = 0;
    enum MvStatus status = open_channel(MV_CHANNELTYPE_HTTP, HTTP_TAG, &channel);
    if (status != MV_STATUS_OKAY) {
        log_printf("netdemo: opening the HTTP channel failed (status %u)", (unsigned)status);
        return 0;
    }
    static char authorization[160];
    struct MvHttpHeader headers[1];
    uint32_t num_headers = 0;
    if (s_token[0] != '\0') {
        int length = snprintf(authorization, sizeof(authorization), "Authorization: Bearer %s",
                              s_token);
        headers[0].length = (uint32_t)length;
        headers[0].data = (const uint8_t *)authorization;
        num_headers = 1;
    }
    struct MvHttpRequest request = {
        .method = {(const uint8_t *)"GET", 3},
        .url = {(const uint8_t *)s_url, (uint32_t)strlen(s_url)},
        .num_headers = num_headers,
        .headers = headers,
        .body = {0, 0},
        .timeout_ms = 10000,
    };
    status = mvSendHttpRequest(channel, &request);

    uint32_t status_code = 0;
    struct MvNotification record;
    struct MvHttpResponseData response = {0};
    if (status != MV_STATUS_OKAY) {
        log_printf("netdemo: HTTP request rejected (status %u)", (unsigned)status);
    } else if (!notifications_wait(HTTP_TAG, TIMEOUT_MS, &record)) {
        log_printf("netdemo: no HTTP response within %lu ms", (unsigned long)TIMEOUT_MS);
    } else if ((status = mvReadHttpResponseData(channel, &response)) != MV_STATUS_OKAY) {
        log_printf("netdemo: HTTP response unreadable (status %u)", (unsigned)status);
    } else if (response.result != MV_HTTPRESULT_OK) {
        log_printf("netdemo: HTTP request failed (result %u)", (unsigned)response.result);
    } else {
        status_code = response.status_code;
        char body[129] = {0};
        uint32_t length = response.body_length < 128u ? response.body_length : 128u;
        mvReadHttpResponseBody(channel, 0, (uint8_t *)body, length);
        log_printf("netdemo: GET %s -> %lu, %lu body bytes: %s", s_url,
                   (unsigned long)status_code, (unsigned long)response.body_length, body);
    }
    mvCloseChannel(&channel);
    return status_code;
}

int main(void)
{
    board_init();
    log_init();
    log_printf("netdemo started");

    uint32_t failed_step = 0;
    enum MvStatus status = notifications_init();
    if (status != MV_STATUS_OKAY) {
        log_printf("netdemo: mvSetupNotifications failed (status %u)", (unsigned)status);
        failed_step = 1;
    } else if (!connect_network()) {
        failed_step = 2;
    } else if (!fetch_config()) {
        failed_step = 3;
    } else if (http_get() != 200u) {
        failed_step = 4;
    }
    log_printf("netdemo finished (failed step %lu)", (unsigned long)failed_step);

    /* Logs are sent while the network request is held; give them a moment. */
    board_delay_ms(500);
    mvTestingComplete(failed_step);
    for (;;) {
        __asm volatile("wfi");
    }
}
