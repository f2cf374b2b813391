/* Every cloud channel type in one run: config fetch, HTTP POST, opaque bytes
 * and MQTT, each checked against what the test on the other side does.
 *
 * 1. Request the network and wait until it is CONNECTED.
 * 2. Fetch the device configs "n-url" (an https URL) and "n-mqtt-port", and
 *    the account secret "n-token".
 * 3. POST "hello from n_channels" to n-url with the header "X-Test: <token>";
 *    expect status 201, read every header and the body in 16-byte chunks.
 * 4. Open an opaque-bytes channel to the endpoint "echo", write "ping" and
 *    read the same bytes back.
 * 5. Open an MQTT channel to 127.0.0.1:<n-mqtt-port>, subscribe to "n/down",
 *    publish "ready" to "n/up", receive one message on "n/down" and
 *    acknowledge it, then disconnect.
 *
 * The app ends with mvTestingComplete(0) on success, or the number of the
 * step that failed. */

#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "log.h"
#include "mv_syscalls.h"
#include "notifications.h"

#define NETWORK_TAG 1u
#define CONFIG_TAG 2u
#define HTTP_TAG 3u
#define OPAQUE_TAG 4u
#define MQTT_TAG 5u
#define TIMEOUT_MS 60000u

static uint8_t s_receive[4096] __attribute__((aligned(512)));
static uint8_t s_send[2048] __attribute__((aligned(512)));
static char s_url[200];
static char s_port[16];
static char s_token[64];
static MvNetworkHandle s_network;

static int connect_network(void)
{
    struct MvRequestNetworkParams params = {.version = 1};
    params.v1.notification_handle = notifications_handle();
    params.v1.notification_tag = NETWORK_TAG;
    if (mvRequestNetwork(&params, &s_network) != MV_STATUS_OKAY) {
        return 0;
    }
    uint32_t start = board_millis();
    enum MvNetworkStatus network = MV_NETWORKSTATUS_DELIBERATELYOFFLINE;
    while (board_millis() - start < TIMEOUT_MS) {
        if (mvGetNetworkStatus(s_network, &network) == MV_STATUS_OKAY &&
            network == MV_NETWORKSTATUS_CONNECTED) {
            log_printf("n_channels: network connected");
            return 1;
        }
        board_delay_ms(20);
    }
    return 0;
}

static enum MvStatus open_channel(enum MvChannelType type, uint32_t tag, const char *endpoint,
                                  MvChannelHandle *channel)
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
    params.v1.endpoint.data = (const uint8_t *)endpoint;
    params.v1.endpoint.length = (uint32_t)strlen(endpoint);
    return mvOpenChannel(&params, channel);
}

static int wait_for(uint32_t tag)
{
    struct MvNotification record;
    return notifications_wait(tag, TIMEOUT_MS, &record);
}

static int read_item(MvChannelHandle channel, uint32_t index, char *out, uint32_t size)
{
    enum MvConfigKeyFetchResult result = MV_CONFIGKEYFETCHRESULT_SERVERERROR;
    uint32_t length = 0;
    struct MvConfigResponseReadItemParams item = {
        .item_index = index,
        .result = &result,
        .buf = {.data = (uint8_t *)out, .size = size - 1u, .length = &length},
    };
    if (mvReadConfigResponseItem(channel, &item) != MV_STATUS_OKAY ||
        result != MV_CONFIGKEYFETCHRESULT_OK) {
        return 0;
    }
    out[length] = '\0';
    return 1;
}

static int fetch_config(void)
{
    MvChannelHandle channel = 0;
    if (open_channel(MV_CHANNELTYPE_CONFIGFETCH, CONFIG_TAG, "", &channel) != MV_STATUS_OKAY) {
        return 0;
    }
    static const char url_key[] = "n-url";
    static const char port_key[] = "n-mqtt-port";
    static const char token_key[] = "n-token";
    struct MvConfigKeyToFetch keys[3] = {
        {MV_CONFIGKEYFETCHSCOPE_DEVICE, MV_CONFIGKEYFETCHSTORE_CONFIG,
         {(const uint8_t *)url_key, sizeof(url_key) - 1}},
        {MV_CONFIGKEYFETCHSCOPE_DEVICE, MV_CONFIGKEYFETCHSTORE_CONFIG,
         {(const uint8_t *)port_key, sizeof(port_key) - 1}},
        {MV_CONFIGKEYFETCHSCOPE_ACCOUNT, MV_CONFIGKEYFETCHSTORE_SECRET,
         {(const uint8_t *)token_key, sizeof(token_key) - 1}},
    };
    struct MvConfigKeyFetchParams request = {.num_items = 3, .keys_to_fetch = keys};
    struct MvConfigResponseData response = {0};
    int ok = mvSendConfigFetchRequest(channel, &request) == MV_STATUS_OKAY && wait_for(CONFIG_TAG) &&
             mvReadConfigFetchResponseData(channel, &response) == MV_STATUS_OKAY &&
             response.result == MV_CONFIGFETCHRESULT_OK && response.num_items == 3 &&
             read_item(channel, 0, s_url, sizeof(s_url)) &&
             read_item(channel, 1, s_port, sizeof(s_port)) &&
             read_item(channel, 2, s_token, sizeof(s_token));
    log_printf("n_channels: config url=%s port=%s token bytes=%u", s_url, s_port,
               (unsigned)strlen(s_token));
    mvCloseChannel(&channel);
    return ok;
}

static int http_post(void)
{
    MvChannelHandle channel = 0;
    if (open_channel(MV_CHANNELTYPE_HTTP, HTTP_TAG, "", &channel) != MV_STATUS_OKAY) {
        return 0;
    }
    static char header[96];
    strcpy(header, "X-Test: ");
    strcat(header, s_token);
    struct MvHttpHeader headers[1] = {{(uint32_t)strlen(header), (const uint8_t *)header}};
    static const char body[] = "hello from n_channels";
    struct MvHttpRequest request = {
        .method = {(const uint8_t *)"POST", 4},
        .url = {(const uint8_t *)s_url, (uint32_t)strlen(s_url)},
        .num_headers = 1,
        .headers = headers,
        .body = {(const uint8_t *)body, sizeof(body) - 1},
        .timeout_ms = 10000,
    };
    struct MvHttpResponseData response = {0};
    int ok = mvSendHttpRequest(channel, &request) == MV_STATUS_OKAY && wait_for(HTTP_TAG) &&
             mvReadHttpResponseData(channel, &response) == MV_STATUS_OKAY &&
             response.result == MV_HTTPRESULT_OK && response.status_code == 201u;
    if (ok) {
        for (uint32_t i = 0; i < response.num_headers; i++) {
            char line[96] = {0};
            if (mvReadHttpResponseHeader(channel, i, (uint8_t *)line, sizeof(line) - 1u) !=
                MV_STATUS_OKAY) {
                ok = 0;
            }
        }
        static char text[512];
        uint32_t offset = 0;
        while (ok && offset < response.body_length && offset + 16u < sizeof(text)) {
            uint32_t chunk = response.body_length - offset < 16u ? response.body_length - offset : 16u;
            ok = mvReadHttpResponseBody(channel, offset, (uint8_t *)text + offset, chunk) ==
                 MV_STATUS_OKAY;
            offset += chunk;
        }
        text[offset] = '\0';
        log_printf("n_channels: POST -> %lu, %lu headers, body %s",
                   (unsigned long)response.status_code, (unsigned long)response.num_headers, text);
    } else {
        log_printf("n_channels: POST failed (result %u, status %lu)", (unsigned)response.result,
                   (unsigned long)response.status_code);
    }
    mvCloseChannel(&channel);
    return ok;
}

static int opaque_echo(void)
{
    MvChannelHandle channel = 0;
    if (open_channel(MV_CHANNELTYPE_OPAQUEBYTES, OPAQUE_TAG, "echo", &channel) != MV_STATUS_OKAY) {
        return 0;
    }
    uint32_t available = 0;
    uint8_t *data = 0;
    uint32_t length = 0;
    int ok = mvWriteChannel(channel, (const uint8_t *)"ping", 4, &available) == MV_STATUS_OKAY &&
             wait_for(OPAQUE_TAG) && mvReadChannel(channel, &data, &length) == MV_STATUS_OKAY &&
             length == 4u && memcmp(data, "ping", 4) == 0 &&
             mvReadChannelComplete(channel, length) == MV_STATUS_OKAY;
    log_printf("n_channels: opaque echo %s (%lu bytes)", ok ? "matched" : "failed",
               (unsigned long)length);
    mvCloseChannel(&channel);
    return ok;
}

/* Waits for the next MQTT item and returns its type. */
static enum MvMqttReadableDataType next_item(MvChannelHandle channel)
{
    enum MvMqttReadableDataType type = MV_MQTTREADABLEDATATYPE_NONE;
    uint32_t start = board_millis();
    while (board_millis() - start < TIMEOUT_MS) {
        if (mvMqttGetNextReadableDataType(channel, &type) == MV_STATUS_OKAY &&
            type != MV_MQTTREADABLEDATATYPE_NONE) {
            return type;
        }
        wait_for(MQTT_TAG);
    }
    return MV_MQTTREADABLEDATATYPE_NONE;
}

static int mqtt_exchange(void)
{
    MvChannelHandle channel = 0;
    if (open_channel(MV_CHANNELTYPE_MQTT, MQTT_TAG, "", &channel) != MV_STATUS_OKAY) {
        return 0;
    }
    static const char host[] = "127.0.0.1";
    static const char client_id[] = "n-channels";
    struct MvMqttConnectRequest connect = {
        .protocol_version = MV_MQTTPROTOCOLVERSION_V3_1_1,
        .host = {(const uint8_t *)host, sizeof(host) - 1},
        .port = (uint16_t)atoi(s_port),
        .clientid = {(const uint8_t *)client_id, sizeof(client_id) - 1},
        .authentication = {.method = MV_MQTTAUTHENTICATIONMETHOD_NONE},
        .tls_credentials = 0,
        .keepalive = 60,
        .clean_start = 1,
        .will = 0,
    };
    struct MvMqttConnectResponse connected = {0};
    int ok = mvMqttRequestConnect(channel, &connect) == MV_STATUS_OKAY &&
             next_item(channel) == MV_MQTTREADABLEDATATYPE_CONNECTRESPONSE &&
             mvMqttReadConnectResponse(channel, &connected) == MV_STATUS_OKAY &&
             connected.request_state == MV_MQTTREQUESTSTATE_REQUESTCOMPLETED &&
             connected.reason_code == 0u;
    log_printf("n_channels: MQTT connect %s", ok ? "accepted" : "failed");

    static const char down[] = "n/down";
    struct MvMqttSubscription subscription = {{(const uint8_t *)down, sizeof(down) - 1}, 1, 0, 0, 0};
    struct MvMqttSubscribeRequest subscribe = {10, &subscription, 1};
    enum MvMqttRequestState state = MV_MQTTREQUESTSTATE_NOTCONNECTED;
    uint32_t correlation = 0, codes[1] = {0}, codes_len = 0;
    struct MvMqttSubscribeResponse subscribed = {&state, &correlation, codes, sizeof(codes),
                                                 &codes_len};
    ok = ok && mvMqttRequestSubscribe(channel, &subscribe) == MV_STATUS_OKAY &&
         next_item(channel) == MV_MQTTREADABLEDATATYPE_SUBSCRIBERESPONSE &&
         mvMqttReadSubscribeResponse(channel, &subscribed) == MV_STATUS_OKAY &&
         state == MV_MQTTREQUESTSTATE_REQUESTCOMPLETED && correlation == 10u && codes_len == 1u;

    static const char up[] = "n/up";
    struct MvMqttPublishRequest publish = {
        11, {(const uint8_t *)up, sizeof(up) - 1}, {(const uint8_t *)"ready", 5}, 1, 0};
    struct MvMqttPublishResponse published = {0};
    ok = ok && mvMqttRequestPublish(channel, &publish) == MV_STATUS_OKAY &&
         next_item(channel) == MV_MQTTREADABLEDATATYPE_PUBLISHRESPONSE &&
         mvMqttReadPublishResponse(channel, &published) == MV_STATUS_OKAY &&
         published.correlation_id == 11u &&
         published.request_state == MV_MQTTREQUESTSTATE_REQUESTCOMPLETED;

    static char topic[32], payload[64];
    uint32_t message_id = 0, topic_len = 0, payload_len = 0, qos = 0;
    uint8_t retain = 0;
    struct MvMqttMessage message = {
        &message_id,
        {(uint8_t *)topic, sizeof(topic) - 1, &topic_len},
        {(uint8_t *)payload, sizeof(payload) - 1, &payload_len},
        &qos,
        &retain,
    };
    ok = ok && next_item(channel) == MV_MQTTREADABLEDATATYPE_MESSAGERECEIVED &&
         mvMqttReceiveMessage(channel, &message) == MV_STATUS_OKAY &&
         mvMqttAcknowledgeMessage(channel, message_id) == MV_STATUS_OKAY;
    topic[topic_len < sizeof(topic) ? topic_len : 0] = '\0';
    payload[payload_len < sizeof(payload) ? payload_len : 0] = '\0';
    log_printf("n_channels: MQTT message on %s: %s (qos %lu)", topic, payload, (unsigned long)qos);

    struct MvMqttDisconnectResponse disconnected = {0};
    ok = ok && mvMqttRequestDisconnect(channel) == MV_STATUS_OKAY &&
         next_item(channel) == MV_MQTTREADABLEDATATYPE_DISCONNECTRESPONSE &&
         mvMqttReadDisconnectResponse(channel, &disconnected) == MV_STATUS_OKAY &&
         disconnected.request_state == MV_MQTTREQUESTSTATE_REQUESTCOMPLETED;
    log_printf("n_channels: MQTT disconnect %s", ok ? "completed" : "failed");
    mvCloseChannel(&channel);
    return ok;
}

int main(void)
{
    board_init();
    log_init();
    log_printf("n_channels started");

    uint32_t failed_step = 0;
    if (notifications_init() != MV_STATUS_OKAY || !connect_network()) {
        failed_step = 1;
    } else if (!fetch_config()) {
        failed_step = 2;
    } else if (!http_post()) {
        failed_step = 3;
    } else if (!opaque_echo()) {
        failed_step = 4;
    } else if (!mqtt_exchange()) {
        failed_step = 5;
    }
    log_printf("n_channels finished (failed step %lu)", (unsigned long)failed_step);
    /* Logs leave while the network request is held; give them a moment. */
    board_delay_ms(500);
    mvTestingComplete(failed_step);
    for (;;) {
        __asm volatile("wfi");
    }
}
