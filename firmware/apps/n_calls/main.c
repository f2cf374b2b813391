/* The network and channel calls n_channels does not make, checked from
 * compiled code against a scripted cloud in the test.
 *
 * 1. mvRequestNetwork, then mvGetNetworkReasons: USINGNETWORK set, one request.
 * 2. An opaque-bytes channel to "echo": mvWriteChannelStream of 2000 bytes
 *    into a 1024-byte send buffer sends 1024, which come back.
 * 3. An MQTT channel: connect, subscribe; the cloud then sends a message too
 *    large for the receive buffer, read with mvMqttReceiveLostMessageInfo;
 *    unsubscribe and read the response.
 * 4. The cloud closes the MQTT channel: CHANNELNOTCONNECTED arrives,
 *    mvGetChannelClosureReason reports CHANNELCLOSEDBYSERVER and further
 *    requests return CHANNELCLOSED.
 * 5. mvReleaseNetwork zeroes the handle; the stale handle is then invalid.
 *
 * The app ends with mvTestingComplete(0), or the number of the failed step. */

#include <string.h>

#include "board.h"
#include "log.h"
#include "mv_syscalls.h"
#include "notifications.h"

#define OPAQUE_TAG 4u
#define MQTT_TAG 5u
#define TIMEOUT_MS 30000u

static uint8_t s_receive[1024] __attribute__((aligned(512)));
static uint8_t s_send[1024] __attribute__((aligned(512)));
static uint8_t s_pattern[2000];
static MvNetworkHandle s_network;

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

static struct MvNotification s_record;

static int wait_for(uint32_t tag)
{
    return notifications_wait(tag, TIMEOUT_MS, &s_record);
}

static int network_reasons(void)
{
    struct MvRequestNetworkParams params = {.version = 1};
    params.v1.notification_handle = notifications_handle();
    params.v1.notification_tag = 1;
    enum MvNetworkReason reasons = MV_NETWORKREASON_NOTCONNECTING;
    uint32_t count = 0;
    enum MvNetworkStatus status = MV_NETWORKSTATUS_DELIBERATELYOFFLINE;
    int ok = mvRequestNetwork(&params, &s_network) == MV_STATUS_OKAY &&
             mvGetNetworkReasons(&reasons, &count) == MV_STATUS_OKAY &&
             (reasons & MV_NETWORKREASON_USINGNETWORK) != 0u && count == 1u;
    uint32_t start = board_millis();
    while (ok && status != MV_NETWORKSTATUS_CONNECTED && board_millis() - start < TIMEOUT_MS) {
        mvGetNetworkStatus(s_network, &status);
        board_delay_ms(10);
    }
    log_printf("n_calls: reasons %#lx, %lu requests, status %u", (unsigned long)reasons,
               (unsigned long)count, (unsigned)status);
    return ok && status == MV_NETWORKSTATUS_CONNECTED;
}

static int stream_echo(void)
{
    MvChannelHandle channel = 0;
    if (open_channel(MV_CHANNELTYPE_OPAQUEBYTES, OPAQUE_TAG, "echo", &channel) != MV_STATUS_OKAY) {
        return 0;
    }
    for (uint32_t i = 0; i < sizeof(s_pattern); i++) {
        s_pattern[i] = (uint8_t)(i * 7u);
    }
    uint32_t written = 0;
    uint8_t *data = 0;
    uint32_t length = 0;
    int ok = mvWriteChannelStream(channel, s_pattern, sizeof(s_pattern), &written) ==
                 MV_STATUS_OKAY &&
             written == 1024u && wait_for(OPAQUE_TAG) &&
             mvReadChannel(channel, &data, &length) == MV_STATUS_OKAY && length == 1024u &&
             memcmp(data, s_pattern, 1024) == 0 &&
             mvReadChannelComplete(channel, length) == MV_STATUS_OKAY;
    log_printf("n_calls: stream wrote %lu, read back %lu", (unsigned long)written,
               (unsigned long)length);
    mvCloseChannel(&channel);
    return ok;
}

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

static MvChannelHandle s_mqtt;

static int mqtt_lost_and_unsubscribe(void)
{
    if (open_channel(MV_CHANNELTYPE_MQTT, MQTT_TAG, "", &s_mqtt) != MV_STATUS_OKAY) {
        return 0;
    }
    static const char host[] = "broker.test";
    static const char client_id[] = "n-calls";
    struct MvMqttConnectRequest connect = {
        .protocol_version = MV_MQTTPROTOCOLVERSION_V3_1_1,
        .host = {(const uint8_t *)host, sizeof(host) - 1},
        .port = 1883,
        .clientid = {(const uint8_t *)client_id, sizeof(client_id) - 1},
        .keepalive = 60,
        .clean_start = 1,
    };
    struct MvMqttConnectResponse connected = {0};
    static const char filter[] = "big/#";
    struct MvMqttSubscription subscription = {{(const uint8_t *)filter, sizeof(filter) - 1}, 1, 0, 0,
                                              0};
    struct MvMqttSubscribeRequest subscribe = {20, &subscription, 1};
    enum MvMqttRequestState state = MV_MQTTREQUESTSTATE_NOTCONNECTED;
    uint32_t correlation = 0, codes[2] = {0}, codes_len = 0;
    struct MvMqttSubscribeResponse subscribed = {&state, &correlation, codes, sizeof(codes),
                                                 &codes_len};
    int ok = mvMqttRequestConnect(s_mqtt, &connect) == MV_STATUS_OKAY &&
             next_item(s_mqtt) == MV_MQTTREADABLEDATATYPE_CONNECTRESPONSE &&
             mvMqttReadConnectResponse(s_mqtt, &connected) == MV_STATUS_OKAY &&
             mvMqttRequestSubscribe(s_mqtt, &subscribe) == MV_STATUS_OKAY &&
             next_item(s_mqtt) == MV_MQTTREADABLEDATATYPE_SUBSCRIBERESPONSE &&
             mvMqttReadSubscribeResponse(s_mqtt, &subscribed) == MV_STATUS_OKAY;

    enum MvMqttLostMessageReason reason = (enum MvMqttLostMessageReason)99;
    static char topic[32];
    uint32_t topic_len = 0, message_len = 0;
    struct MvMqttLostMessageInfo lost = {
        &reason, {(uint8_t *)topic, sizeof(topic) - 1, &topic_len}, &message_len};
    ok = ok && next_item(s_mqtt) == MV_MQTTREADABLEDATATYPE_MESSAGELOST &&
         mvMqttReceiveLostMessageInfo(s_mqtt, &lost) == MV_STATUS_OKAY &&
         reason == MV_MQTTLOSTMESSAGEREASON_DEVICERECEIVEBUFFERTOOSMALL;
    topic[topic_len < sizeof(topic) ? topic_len : 0] = '\0';
    log_printf("n_calls: lost message on %s, %lu bytes", topic, (unsigned long)message_len);

    struct MvSizedString topics[1] = {{(const uint8_t *)filter, sizeof(filter) - 1}};
    struct MvMqttUnsubscribeRequest unsubscribe = {21, topics, 1};
    struct MvMqttUnsubscribeResponse unsubscribed = {&state, &correlation, codes, sizeof(codes),
                                                     &codes_len};
    ok = ok && mvMqttRequestUnsubscribe(s_mqtt, &unsubscribe) == MV_STATUS_OKAY &&
         next_item(s_mqtt) == MV_MQTTREADABLEDATATYPE_UNSUBSCRIBERESPONSE &&
         mvMqttReadUnsubscribeResponse(s_mqtt, &unsubscribed) == MV_STATUS_OKAY &&
         correlation == 21u && state == MV_MQTTREQUESTSTATE_REQUESTCOMPLETED;
    log_printf("n_calls: unsubscribe response %lu (state %u, %lu codes)",
               (unsigned long)correlation, (unsigned)state, (unsigned long)codes_len);
    return ok;
}

static int remote_close(void)
{
    /* Wait for the channel-closed notification the cloud triggers. */
    uint32_t start = board_millis();
    int closed = 0;
    while (!closed && board_millis() - start < TIMEOUT_MS) {
        if (wait_for(MQTT_TAG) && s_record.event_type == MV_EVENTTYPE_CHANNELNOTCONNECTED) {
            closed = 1;
        }
    }
    enum MvClosureReason reason = MV_CLOSUREREASON_NONE;
    int ok = closed && mvGetChannelClosureReason(s_mqtt, &reason) == MV_STATUS_OKAY &&
             reason == MV_CLOSUREREASON_CHANNELCLOSEDBYSERVER &&
             mvMqttRequestDisconnect(s_mqtt) == MV_STATUS_CHANNELCLOSED &&
             mvCloseChannel(&s_mqtt) == MV_STATUS_OKAY && s_mqtt == 0u;
    log_printf("n_calls: channel closed by server (reason %u)", (unsigned)reason);
    return ok;
}

static int release(void)
{
    MvNetworkHandle stale = s_network;
    enum MvNetworkStatus status = MV_NETWORKSTATUS_CONNECTED;
    enum MvNetworkReason reasons = MV_NETWORKREASON_NOTCONNECTING;
    uint32_t count = 99;
    int ok = mvReleaseNetwork(&s_network) == MV_STATUS_OKAY && s_network == 0u &&
             mvGetNetworkStatus(stale, &status) == MV_STATUS_INVALIDHANDLE &&
             mvGetNetworkReasons(&reasons, &count) == MV_STATUS_OKAY && count == 0u;
    log_printf("n_calls: network released (%lu requests left)", (unsigned long)count);
    return ok;
}

int main(void)
{
    board_init();
    log_init();

    uint32_t failed_step = 0;
    if (notifications_init() != MV_STATUS_OKAY || !network_reasons()) {
        failed_step = 1;
    } else if (!stream_echo()) {
        failed_step = 2;
    } else if (!mqtt_lost_and_unsubscribe()) {
        failed_step = 3;
    } else if (!remote_close()) {
        failed_step = 4;
    } else if (!release()) {
        failed_step = 5;
    }
    log_printf("n_calls finished (failed step %lu)", (unsigned long)failed_step);
    mvTestingComplete(failed_step);
    for (;;) {
        __asm volatile("wfi");
    }
}
