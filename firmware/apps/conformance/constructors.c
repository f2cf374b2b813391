/* Valid arguments for the channel families, built in the canary arena so a
 * call that writes where it should not shows in the canaries. */

#include <string.h>

#include "conformance.h"

#define TEXT(literal) {(const uint8_t *)(literal), sizeof(literal) - 1u}

struct MvOpenChannelParams *new_open_channel_params(void)
{
    struct MvOpenChannelParams *params = ARENA(struct MvOpenChannelParams);
    params->version = 1;
    params->v1.notification_handle = g_notification;
    params->v1.notification_tag = 0x400;
    params->v1.network_handle = g_network;
    params->v1.receive_buffer = ARENA_ALIGNED(1024, 512);
    params->v1.receive_buffer_len = 1024;
    params->v1.send_buffer = ARENA_ALIGNED(512, 512);
    params->v1.send_buffer_len = 512;
    params->v1.channel_type = MV_CHANNELTYPE_HTTP;
    params->v1.endpoint.data = (const uint8_t *)"";
    params->v1.endpoint.length = 0;
    return params;
}

struct MvHttpRequest *new_http_request(void)
{
    struct MvHttpHeader *header = ARENA(struct MvHttpHeader);
    header->data = (const uint8_t *)"Accept: */*";
    header->length = 11;
    struct MvHttpRequest *request = ARENA(struct MvHttpRequest);
    request->method = (struct MvSizedString)TEXT("GET");
    request->url = (struct MvSizedString)TEXT("https://127.0.0.1/conformance");
    request->num_headers = 1;
    request->headers = header;
    request->body = (struct MvSizedString){0, 0};
    request->timeout_ms = 5000;
    return request;
}

struct MvConfigKeyFetchParams *new_config_fetch_params(void)
{
    struct MvConfigKeyToFetch *key = ARENA(struct MvConfigKeyToFetch);
    key->scope = MV_CONFIGKEYFETCHSCOPE_DEVICE;
    key->store = MV_CONFIGKEYFETCHSTORE_CONFIG;
    key->key = (struct MvSizedString)TEXT("conformance");
    struct MvConfigKeyFetchParams *params = ARENA(struct MvConfigKeyFetchParams);
    params->num_items = 1;
    params->keys_to_fetch = key;
    return params;
}

struct MvConfigResponseReadItemParams *new_config_read_item_params(void)
{
    struct MvConfigResponseReadItemParams *params = ARENA(struct MvConfigResponseReadItemParams);
    params->item_index = 0;
    params->result = ARENA(enum MvConfigKeyFetchResult);
    params->buf.data = ARENA_BUFFER(32);
    params->buf.size = 32;
    params->buf.length = ARENA(uint32_t);
    return params;
}

struct MvMqttConnectRequest *new_mqtt_connect_request(void)
{
    /* TLS credentials with empty chains: the request names no certificate. */
    struct MvTlsCredentials *tls = ARENA(struct MvTlsCredentials);
    memset(tls, 0, sizeof(*tls));
    struct MvMqttConnectRequest *request = ARENA(struct MvMqttConnectRequest);
    memset(request, 0, sizeof(*request));
    request->protocol_version = MV_MQTTPROTOCOLVERSION_V3_1_1;
    request->host = (struct MvSizedString)TEXT("127.0.0.1");
    request->port = 1883;
    request->clientid = (struct MvSizedString)TEXT("conformance");
    request->authentication.method = MV_MQTTAUTHENTICATIONMETHOD_NONE;
    request->tls_credentials = tls;
    request->keepalive = 60;
    request->clean_start = 1;
    request->will = 0;
    return request;
}

void add_password_and_certificate(struct MvMqttConnectRequest *request)
{
    struct MvSizedString *certificate = ARENA(struct MvSizedString);
    *certificate = (struct MvSizedString)TEXT("certificate");
    struct MvTlsCredentials *tls = (struct MvTlsCredentials *)request->tls_credentials;
    tls->clientcert.chain.num_certs = 1;
    tls->clientcert.chain.certs = certificate;
    tls->clientcert.key = (struct MvSizedString)TEXT("key");
    request->protocol_version = MV_MQTTPROTOCOLVERSION_V5;
    request->authentication.method = MV_MQTTAUTHENTICATIONMETHOD_USERNAMEPASSWORD;
    request->authentication.username_password.username = (struct MvSizedString)TEXT("user");
    request->authentication.username_password.password = (struct MvSizedString)TEXT("secret");
}

struct MvMqttSubscribeRequest *new_mqtt_subscribe_request(void)
{
    struct MvMqttSubscription *subscription = ARENA(struct MvMqttSubscription);
    memset(subscription, 0, sizeof(*subscription));
    subscription->topic = (struct MvSizedString)TEXT("conformance/#");
    struct MvMqttSubscribeRequest *request = ARENA(struct MvMqttSubscribeRequest);
    request->correlation_id = 1;
    request->subscriptions = subscription;
    request->num_subscriptions = 1;
    return request;
}

struct MvMqttSubscribeResponse *new_mqtt_subscribe_response(void)
{
    struct MvMqttSubscribeResponse *response = ARENA(struct MvMqttSubscribeResponse);
    response->request_state = ARENA(enum MvMqttRequestState);
    response->correlation_id = ARENA(uint32_t);
    response->reason_codes = (uint32_t *)ARENA_BUFFER(32);
    response->reason_codes_size = 32;
    response->reason_codes_len = ARENA(uint32_t);
    return response;
}

struct MvMqttUnsubscribeRequest *new_mqtt_unsubscribe_request(void)
{
    struct MvSizedString *topic = ARENA(struct MvSizedString);
    *topic = (struct MvSizedString)TEXT("conformance/#");
    struct MvMqttUnsubscribeRequest *request = ARENA(struct MvMqttUnsubscribeRequest);
    request->correlation_id = 2;
    request->topics = topic;
    request->num_topics = 1;
    return request;
}

struct MvMqttUnsubscribeResponse *new_mqtt_unsubscribe_response(void)
{
    struct MvMqttUnsubscribeResponse *response = ARENA(struct MvMqttUnsubscribeResponse);
    response->request_state = ARENA(enum MvMqttRequestState);
    response->correlation_id = ARENA(uint32_t);
    response->reason_codes = (uint32_t *)ARENA_BUFFER(32);
    response->reason_codes_size = 32;
    response->reason_codes_len = ARENA(uint32_t);
    return response;
}

struct MvMqttPublishRequest *new_mqtt_publish_request(void)
{
    struct MvMqttPublishRequest *request = ARENA(struct MvMqttPublishRequest);
    request->correlation_id = 3;
    request->topic = (struct MvSizedString)TEXT("conformance/out");
    request->payload = (struct MvSizedString)TEXT("ping");
    request->desired_qos = 0;
    request->retain = 0;
    return request;
}

struct MvMqttMessage *new_mqtt_message(void)
{
    struct MvMqttMessage *message = ARENA(struct MvMqttMessage);
    message->correlation_id = ARENA(uint32_t);
    message->topic.data = ARENA_BUFFER(64);
    message->topic.size = 64;
    message->topic.length = ARENA(uint32_t);
    message->payload.data = ARENA_BUFFER(64);
    message->payload.size = 64;
    message->payload.length = ARENA(uint32_t);
    message->qos = ARENA(uint32_t);
    message->retain = ARENA(uint8_t);
    return message;
}

struct MvMqttLostMessageInfo *new_mqtt_lost_message_info(void)
{
    struct MvMqttLostMessageInfo *info = ARENA(struct MvMqttLostMessageInfo);
    info->reason = ARENA(enum MvMqttLostMessageReason);
    info->topic.data = ARENA_BUFFER(64);
    info->topic.size = 64;
    info->topic.length = ARENA(uint32_t);
    info->message_len = ARENA(uint32_t);
    return info;
}
