/* Microvisor system calls for applications on the STM32U585.
 *
 * Declares every call, structure and constant of the Microvisor application
 * ABI under the names of the Microvisor SDK, so application source written
 * for the original compiles against this header unchanged. The calls are
 * plain AAPCS functions at fixed addresses in the call gateway (0x0C1FE000);
 * sdk/ld/mv_syscalls.ld binds each name to its address.
 *
 * Layout rules the ABI depends on, pinned by the static asserts at the end:
 * - an enum whose largest value is 0xff is one byte wide, every other enum is
 *   four bytes wide (the __MAX member forces the width, and arm-none-eabi-gcc
 *   packs enums to the smallest type by default);
 * - structures follow the 32-bit AAPCS: pointers and handles are 4 bytes,
 *   uint64_t is 8-byte aligned;
 * - a versioned structure holds a version word followed by an anonymous
 *   union whose member v1 is the only version defined.
 *
 * Every call returns an enum MvStatus; outputs are written only through the
 * pointers passed in. A pointer the application may not access (outputs
 * outside SRAM, inputs outside flash and SRAM) makes the call return
 * MV_STATUS_PARAMETERFAULT without doing anything.
 */

#ifndef MV_API_H
#define MV_API_H

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------ */
/* Status codes                                                             */
/* ------------------------------------------------------------------------ */

/* Result of every call, returned in R0 (4 bytes). */
enum MvStatus {
    MV_STATUS_OKAY = 0x0,
    MV_STATUS_TIMENOTSET = 0x1,                  /* wall time not synchronised yet */
    MV_STATUS_PARAMETERFAULT = 0x2,              /* a pointer or parameter is invalid */
    MV_STATUS_INVALIDBUFFERSIZE = 0x3,
    MV_STATUS_PERIPHERALACCESSFAULT = 0x4,       /* register not allowed or not word aligned */
    MV_STATUS_BUFFERALREADYINUSE = 0x5,
    MV_STATUS_INVALIDINTERRUPT = 0x6,
    MV_STATUS_INVALIDHANDLE = 0x7,               /* unknown, stale or wrong-type handle */
    MV_STATUS_TOOMANYNOTIFICATIONBUFFERS = 0x8,
    MV_STATUS_INVALIDVECTOR = 0x9,
    MV_STATUS_UNAVAILABLE = 0xa,                 /* not possible in the current state */
    MV_STATUS_UNSUPPORTEDSTRUCTUREVERSION = 0xb,
    MV_STATUS_TOOMANYCHANNELS = 0xc,
    MV_STATUS_UNKNOWNCHANNELENDPOINT = 0xd,
    MV_STATUS_UNKNOWNCHANNELTYPE = 0xe,
    MV_STATUS_CHANNELCLOSED = 0xf,
    MV_STATUS_NETWORKNOTCONNECTED = 0x10,
    MV_STATUS_RATELIMITED = 0x11,
    MV_STATUS_INVALIDBUFFERALIGNMENT = 0x12,
    MV_STATUS_LATEFAULT = 0x13,                  /* fault found after part of the work was done */
    MV_STATUS_RESPONSENOTPRESENT = 0x14,
    MV_STATUS_INDEXINVALID = 0x15,
    MV_STATUS_OFFSETINVALID = 0x16,
    MV_STATUS_REQUESTALREADYSENT = 0x17,
    MV_STATUS_REQUESTUNSUCCESSFUL = 0x18,
    MV_STATUS_LOGMESSAGETOOLONG = 0x19,
    MV_STATUS_LOGGINGDISABLEDBYSERVER = 0x1a,
    MV_STATUS_TOOMANYCONFIGKEYS = 0x1b,
    MV_STATUS_UNKNOWNCONFIGSTORE = 0x1c,
    MV_STATUS_UNKNOWNCONFIGSCOPE = 0x1d,
    MV_STATUS_INVALIDCONFIGKEY = 0x1e,
    MV_STATUS_INVALIDAUTHENTICATION = 0x1f,
    MV_STATUS_WRONGDATAREQUESTED = 0x20,
    MV_STATUS_INTERNALERROR = 0x21,
    MV_STATUS_TOOMANYELEMENTS = 0x22,
    MV_STATUS_REQUIREDELEMENTMISSING = 0x23,
    MV_STATUS_MICROVISORBUSY = 0x24,
    MV_STATUS_ADDRESSOUTOFRANGE = 0x25,
    MV_STATUS_INPUTTOOLONG = 0x26,
    MV_STATUS__MAX = 0xffffffff,
};

/* ------------------------------------------------------------------------ */
/* Opaque handles: 32-bit values chosen by the microvisor, never zero.      */
/* ------------------------------------------------------------------------ */

typedef struct MvNotificationHandleOpaque *MvNotificationHandle;
typedef struct MvNetworkHandleOpaque *MvNetworkHandle;
typedef struct MvChannelHandleOpaque *MvChannelHandle;
typedef struct MvSystemEventHandleOpaque *MvSystemEventHandle;
typedef struct MvExternalFlashHandleOpaque *MvExternalFlashHandle;

/* ------------------------------------------------------------------------ */
/* Notifications                                                            */
/* ------------------------------------------------------------------------ */

/* Kind of a notification record (4 bytes). */
enum MvEventType {
    MV_EVENTTYPE_NOEVENT = 0x0,                  /* empty slot; the app writes it after reading */
    MV_EVENTTYPE_NETWORKSTATUSCHANGED = 0x1,
    MV_EVENTTYPE_CHANNELDATAREADABLE = 0x2,
    MV_EVENTTYPE_CHANNELDATAWRITESPACE = 0x3,
    MV_EVENTTYPE_CHANNELNOTCONNECTED = 0x4,
    MV_EVENTTYPE_UPDATEDOWNLOADED = 0x5,         /* an update is staged (UPDATE system source) */
    MV_EVENTTYPE__MAX = 0xffffffff,
};

/* One 16-byte record of a notification ring buffer. */
struct MvNotification {
    uint64_t microseconds;                       /* same time base as mvGetMicroseconds */
    enum MvEventType event_type;
    uint32_t tag;                                /* the value given when the source was bound */
};

/* Parameters of mvSetupNotifications. */
struct MvNotificationSetup {
    uint32_t irq;                                /* NVIC interrupt pended for each new record */
    struct MvNotification *buffer;               /* ring buffer in SRAM */
    uint32_t buffer_size;                        /* bytes: a multiple of 16, at least 32 */
};

/* ------------------------------------------------------------------------ */
/* Network                                                                  */
/* ------------------------------------------------------------------------ */

struct MvRequestNetworkParams {
    uint32_t version;                            /* 1 */
    union {
        struct {
            MvNotificationHandle notification_handle;
            uint32_t notification_tag;
        } v1;
    };
};

/* State of the link to the cloud (4 bytes). The values of CONNECTED and
 * CONNECTING are as numbered here, whatever older SDK comments say. */
enum MvNetworkStatus {
    MV_NETWORKSTATUS_DELIBERATELYOFFLINE = 0x0,
    MV_NETWORKSTATUS_CONNECTED = 0x1,
    MV_NETWORKSTATUS_CONNECTING = 0x2,
    MV_NETWORKSTATUS_DISCONNECTEDWITHLINKUP = 0x3,
    MV_NETWORKSTATUS__MAX = 0xffffffff,
};

/* Bits of the connectivity bitfield written by mvGetNetworkReasons (4 bytes).
 * ENHANCECALM is the only bit that prevents connection attempts. */
enum MvNetworkReason {
    MV_NETWORKREASON_NOTCONNECTING = 0x0,
    MV_NETWORKREASON_USINGNETWORK = 0x1,
    MV_NETWORKREASON_NEVERUSEDNETWORKAPI = 0x2,
    MV_NETWORKREASON_MINIMUMCHECKINEXPIRED = 0x4,
    MV_NETWORKREASON_RTCNOTSET = 0x8,
    MV_NETWORKREASON_KERNELERROR = 0x10,
    MV_NETWORKREASON_APPLICATIONERROR = 0x20,
    MV_NETWORKREASON_COLDBOOTCONNECTION = 0x40,
    MV_NETWORKREASON_FETCHINGUPDATE = 0x80,
    MV_NETWORKREASON_DEBUGGERATTACHED = 0x100,
    MV_NETWORKREASON_NOAPPLICATIONCODE = 0x200,
    MV_NETWORKREASON_ENHANCECALM = 0x800,
    MV_NETWORKREASON__MAX = 0xffffffff,
};

/* ------------------------------------------------------------------------ */
/* Channels                                                                 */
/* ------------------------------------------------------------------------ */

/* Content carried by a channel (4 bytes). */
enum MvChannelType {
    MV_CHANNELTYPE_OPAQUEBYTES = 0x0,
    MV_CHANNELTYPE_MQTT = 0x1,
    MV_CHANNELTYPE_HTTP = 0x2,
    MV_CHANNELTYPE_CONFIGFETCH = 0x3,
    MV_CHANNELTYPE__MAX = 0xffffffff,
};

/* A byte string that need not be NUL-terminated. */
struct MvSizedString {
    const uint8_t *data;
    uint32_t length;                             /* bytes */
};

/* Parameters of mvOpenChannel. Both buffers must be 512-byte aligned and a
 * multiple of 512 bytes long. */
struct MvOpenChannelParams {
    uint32_t version;                            /* 1 */
    union {
        struct {
            MvNotificationHandle notification_handle;
            uint32_t notification_tag;
            MvNetworkHandle network_handle;
            uint8_t *receive_buffer;
            uint32_t receive_buffer_len;
            uint8_t *send_buffer;
            uint32_t send_buffer_len;
            enum MvChannelType channel_type;
            struct MvSizedString endpoint;       /* ignored except for OPAQUEBYTES */
        } v1;
    };
};

/* Reason a channel closed (4 bytes). */
enum MvClosureReason {
    MV_CLOSUREREASON_NONE = 0x0,                 /* still open, or reason unknown */
    MV_CLOSUREREASON_CHANNELCLOSEDBYSERVER = 0x1,
    MV_CLOSUREREASON_CHANNELRESETBYSERVER = 0x2,
    MV_CLOSUREREASON_NETWORKDISCONNECTED = 0x3,
    MV_CLOSUREREASON_CONNECTIONTERMINATED = 0x4,
    MV_CLOSUREREASON_NOTYETOPEN = 0x5,
    MV_CLOSUREREASON_CLOSEDBYAPPLICATION = 0x6,
    MV_CLOSUREREASON_UNEXPECTEDLYTERMINATED = 0x7,
    MV_CLOSUREREASON__MAX = 0xffffffff,
};

/* ------------------------------------------------------------------------ */
/* HTTP                                                                     */
/* ------------------------------------------------------------------------ */

/* One request header line, e.g. "Accept: text/plain". Note the order:
 * length first, unlike struct MvSizedString. */
struct MvHttpHeader {
    uint32_t length;
    const uint8_t *data;
};

struct MvHttpRequest {
    struct MvSizedString method;                 /* GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS */
    struct MvSizedString url;                    /* https:// only */
    uint32_t num_headers;                        /* at most 32 */
    const struct MvHttpHeader *headers;
    struct MvSizedString body;
    uint32_t timeout_ms;                         /* 5000 to 10000 */
};

/* Outcome of an HTTP request, reported in the response (4 bytes). */
enum MvHttpResult {
    MV_HTTPRESULT_OK = 0x0,
    MV_HTTPRESULT_UNSUPPORTEDURISCHEME = 0x1,
    MV_HTTPRESULT_UNSUPPORTEDMETHOD = 0x2,
    MV_HTTPRESULT_INVALIDHEADERS = 0x3,
    MV_HTTPRESULT_INVALIDTIMEOUT = 0x4,
    MV_HTTPRESULT_REQUESTFAILED = 0x5,
    MV_HTTPRESULT_RESPONSETOOLARGE = 0x6,        /* response does not fit the receive buffer */
    MV_HTTPRESULT__MAX = 0xffffffff,
};

struct MvHttpResponseData {
    enum MvHttpResult result;
    uint32_t status_code;
    uint32_t num_headers;
    uint32_t body_length;                        /* bytes */
};

/* ------------------------------------------------------------------------ */
/* Configuration and secrets                                                */
/* ------------------------------------------------------------------------ */

/* Visibility of a config item (4 bytes). */
enum MvConfigKeyFetchScope {
    MV_CONFIGKEYFETCHSCOPE_ACCOUNT = 0x0,
    MV_CONFIGKEYFETCHSCOPE_DEVICE = 0x1,
    MV_CONFIGKEYFETCHSCOPE__MAX = 0xffffffff,
};

/* Store of a config item (4 bytes): secrets cannot be read back over the REST API. */
enum MvConfigKeyFetchStore {
    MV_CONFIGKEYFETCHSTORE_SECRET = 0x0,
    MV_CONFIGKEYFETCHSTORE_CONFIG = 0x1,
    MV_CONFIGKEYFETCHSTORE__MAX = 0xffffffff,
};

struct MvConfigKeyToFetch {
    enum MvConfigKeyFetchScope scope;
    enum MvConfigKeyFetchStore store;
    struct MvSizedString key;                    /* printable ASCII */
};

struct MvConfigKeyFetchParams {
    uint32_t num_items;
    const struct MvConfigKeyToFetch *keys_to_fetch;
};

/* Outcome of a whole config fetch (4 bytes). */
enum MvConfigFetchResult {
    MV_CONFIGFETCHRESULT_OK = 0x0,
    MV_CONFIGFETCHRESULT_RESPONSETOOLARGE = 0x1,
    MV_CONFIGFETCHRESULT__MAX = 0xffffffff,
};

struct MvConfigResponseData {
    enum MvConfigFetchResult result;
    uint32_t num_items;                          /* items come back in request order */
};

/* Outcome for one fetched key (4 bytes). */
enum MvConfigKeyFetchResult {
    MV_CONFIGKEYFETCHRESULT_OK = 0x0,
    MV_CONFIGKEYFETCHRESULT_KEYNOTFOUND = 0x1,
    MV_CONFIGKEYFETCHRESULT_SERVERERROR = 0x2,
    MV_CONFIGKEYFETCHRESULT__MAX = 0xffffffff,
};

/* An output string: the microvisor copies at most size bytes into data and
 * stores the number of bytes in *length. */
struct MvSizedStringBuffer {
    uint8_t *data;
    uint32_t size;
    uint32_t *length;
};

struct MvConfigResponseReadItemParams {
    uint32_t item_index;
    enum MvConfigKeyFetchResult *result;
    struct MvSizedStringBuffer buf;
};

/* ------------------------------------------------------------------------ */
/* MQTT                                                                     */
/* ------------------------------------------------------------------------ */

/* Kind of the next item readable on an MQTT channel (4 bytes). */
enum MvMqttReadableDataType {
    MV_MQTTREADABLEDATATYPE_NONE = 0x0,
    MV_MQTTREADABLEDATATYPE_MESSAGERECEIVED = 0x1,
    MV_MQTTREADABLEDATATYPE_MESSAGELOST = 0x2,
    MV_MQTTREADABLEDATATYPE_CONNECTRESPONSE = 0x3,
    MV_MQTTREADABLEDATATYPE_SUBSCRIBERESPONSE = 0x4,
    MV_MQTTREADABLEDATATYPE_UNSUBSCRIBERESPONSE = 0x5,
    MV_MQTTREADABLEDATATYPE_PUBLISHRESPONSE = 0x6,
    MV_MQTTREADABLEDATATYPE_DISCONNECTRESPONSE = 0x7,
    MV_MQTTREADABLEDATATYPE__MAX = 0xffffffff,
};

/* MQTT protocol version spoken with the broker (4 bytes). */
enum MvMqttProtocolVersion {
    MV_MQTTPROTOCOLVERSION_V3_1_1 = 0x0,
    MV_MQTTPROTOCOLVERSION_V5 = 0x1,
    MV_MQTTPROTOCOLVERSION__MAX = 0xffffffff,
};

/* MQTT authentication method (1 byte); username and password need MQTT v5. */
enum MvMqttAuthenticationMethod {
    MV_MQTTAUTHENTICATIONMETHOD_NONE = 0x0,
    MV_MQTTAUTHENTICATIONMETHOD_USERNAMEPASSWORD = 0x1,
    MV_MQTTAUTHENTICATIONMETHOD__MAX = 0xff,
};

struct MvUsernamePassword {
    struct MvSizedString username;
    struct MvSizedString password;
};

struct MvMqttAuthentication {
    enum MvMqttAuthenticationMethod method;      /* one byte, then 3 bytes of padding */
    struct MvUsernamePassword username_password;
};

struct MvTlsCertificateChain {
    uint32_t num_certs;                          /* at most 8 */
    const struct MvSizedString *certs;
};

struct MvOwnTlsCertificateChain {
    struct MvTlsCertificateChain chain;
    struct MvSizedString key;
};

struct MvTlsCredentials {
    struct MvTlsCertificateChain cacert;
    struct MvOwnTlsCertificateChain clientcert;
};

struct MvMqttWill {
    struct MvSizedString topic;
    struct MvSizedString payload;
    uint32_t qos;
    uint8_t retain;
};

struct MvMqttConnectRequest {
    enum MvMqttProtocolVersion protocol_version;
    struct MvSizedString host;
    uint16_t port;
    struct MvSizedString clientid;
    struct MvMqttAuthentication authentication;
    const struct MvTlsCredentials *tls_credentials;
    uint32_t keepalive;                          /* seconds */
    uint8_t clean_start;
    const struct MvMqttWill *will;               /* may be NULL */
};

/* State of a completed MQTT request (4 bytes). */
enum MvMqttRequestState {
    MV_MQTTREQUESTSTATE_REQUESTCOMPLETED = 0x0,
    MV_MQTTREQUESTSTATE_INVALIDPARAMETERS = 0x1,
    MV_MQTTREQUESTSTATE_ALREADYCONNECTED = 0x2,
    MV_MQTTREQUESTSTATE_NOTCONNECTED = 0x3,
    MV_MQTTREQUESTSTATE_NXDOMAIN = 0x4,          /* connect only */
    MV_MQTTREQUESTSTATE_UNKNOWNCA = 0x5,         /* connect only */
    MV_MQTTREQUESTSTATE_CERTIFICATEEXPIRED = 0x6, /* connect only */
    MV_MQTTREQUESTSTATE_SOCKETERROR = 0x7,       /* connect only */
    MV_MQTTREQUESTSTATE_CONNECTIONCIRCUITBREAKER = 0x8,
    MV_MQTTREQUESTSTATE__MAX = 0xffffffff,
};

struct MvMqttConnectResponse {
    enum MvMqttRequestState request_state;
    uint32_t reason_code;
};

struct MvMqttSubscription {
    struct MvSizedString topic;
    uint32_t desired_qos;
    uint32_t nl;                                 /* no local (v5 only) */
    uint32_t rap;                                /* retain as published (v5 only) */
    uint32_t rh;                                 /* retain handling (v5 only) */
};

struct MvMqttSubscribeRequest {
    uint32_t correlation_id;
    const struct MvMqttSubscription *subscriptions;
    uint32_t num_subscriptions;                  /* at most 8 */
};

/* Output pointers for mvMqttReadSubscribeResponse. */
struct MvMqttSubscribeResponse {
    enum MvMqttRequestState *request_state;
    uint32_t *correlation_id;
    uint32_t *reason_codes;
    uint32_t reason_codes_size;                  /* bytes */
    uint32_t *reason_codes_len;
};

struct MvMqttUnsubscribeRequest {
    uint32_t correlation_id;
    const struct MvSizedString *topics;
    uint32_t num_topics;                         /* at most 8 */
};

/* Output pointers for mvMqttReadUnsubscribeResponse. */
struct MvMqttUnsubscribeResponse {
    enum MvMqttRequestState *request_state;
    uint32_t *correlation_id;
    uint32_t *reason_codes;
    uint32_t reason_codes_size;                  /* bytes */
    uint32_t *reason_codes_len;
};

struct MvMqttPublishRequest {
    uint32_t correlation_id;
    struct MvSizedString topic;
    struct MvSizedString payload;
    uint32_t desired_qos;
    uint32_t retain;
};

struct MvMqttPublishResponse {
    enum MvMqttRequestState request_state;
    uint32_t correlation_id;
    uint32_t reason_code;                        /* always 0 with MQTT 3.1.1 */
};

/* Output pointers for mvMqttReceiveMessage. */
struct MvMqttMessage {
    uint32_t *correlation_id;
    struct MvSizedStringBuffer topic;
    struct MvSizedStringBuffer payload;
    uint32_t *qos;                               /* acknowledge when above 0 */
    uint8_t *retain;
};

/* Reason an MQTT message was lost (4 bytes). */
enum MvMqttLostMessageReason {
    MV_MQTTLOSTMESSAGEREASON_DEVICERECEIVEBUFFERTOOSMALL = 0x0,
    MV_MQTTLOSTMESSAGEREASON__MAX = 0xffffffff,
};

/* Output pointers for mvMqttReceiveLostMessageInfo. */
struct MvMqttLostMessageInfo {
    enum MvMqttLostMessageReason *reason;
    struct MvSizedStringBuffer topic;
    uint32_t *message_len;
};

struct MvMqttDisconnectResponse {
    enum MvMqttRequestState request_state;
    uint32_t disconnect_code;
};

/* ------------------------------------------------------------------------ */
/* Power, system notifications, restart                                     */
/* ------------------------------------------------------------------------ */

/* STM32U5 low-power mode for mvPowerSave (1 byte). */
enum MvPowerSavingMode {
    MV_POWERSAVINGMODE_SLEEP = 0x0,
    MV_POWERSAVINGMODE_STOP0 = 0x1,
    MV_POWERSAVINGMODE_STOP1 = 0x2,
    MV_POWERSAVINGMODE_STOP2 = 0x3,
    MV_POWERSAVINGMODE_STOP3 = 0x4,
    MV_POWERSAVINGMODE__MAX = 0xff,
};

/* Source of system-wide notifications (4 bytes). */
enum MvSystemNotificationSource {
    MV_SYSTEMNOTIFICATIONSOURCE_NETWORK = 0x0,   /* NETWORKSTATUSCHANGED for the cloud link */
    MV_SYSTEMNOTIFICATIONSOURCE_UPDATE = 0x1,    /* UPDATEDOWNLOADED for staged updates */
    MV_SYSTEMNOTIFICATIONSOURCE__MAX = 0xffffffff,
};

struct MvOpenSystemNotificationParams {
    MvNotificationHandle notification_handle;
    uint32_t notification_tag;
    enum MvSystemNotificationSource notification_source;
};

/* STM32U5 deep-sleep mode for mvDeepSleep (1 byte). */
enum MvDeepSleepMode {
    MV_DEEPSLEEPMODE_STANDBY = 0x0,
    MV_DEEPSLEEPMODE_SHUTDOWN = 0x1,
    MV_DEEPSLEEPMODE__MAX = 0xff,
};

/* Reason the application (re)started (1 byte). */
enum MvWakeReason {
    MV_WAKEREASON_COLDBOOT = 0x0,                /* also waking from SHUTDOWN */
    MV_WAKEREASON_REMOTEMICROVISORRESTART = 0x1,
    MV_WAKEREASON_REMOTEAPPLICATIONRESTART = 0x2,
    MV_WAKEREASON_DEBUGGERRESTART = 0x3,
    MV_WAKEREASON_MICROVISORCRASH = 0x4,
    MV_WAKEREASON_MICROVISORWATCHDOG = 0x5,
    MV_WAKEREASON_MICROVISOROUTOFMEMORY = 0x6,
    MV_WAKEREASON_MICROVISORERROR = 0x7,
    MV_WAKEREASON_APPLICATIONCRASH = 0x8,
    MV_WAKEREASON_APPLICATIONUPDATE = 0x9,
    MV_WAKEREASON_MICROVISORUPDATE = 0xa,
    MV_WAKEREASON_OPTIONBYTES = 0xb,
    MV_WAKEREASON_DEEPSLEEPCHECKIN = 0xc,
    MV_WAKEREASON_DEEPSLEEPAPPLICATION = 0xd,
    MV_WAKEREASON_DEEPSLEEPMODEM = 0xe,
    MV_WAKEREASON_DEEPSLEEPAPPLICATIONRTC = 0xf,
    MV_WAKEREASON_DEEPSLEEPOTHER = 0x10,
    MV_WAKEREASON__MAX = 0xff,
};

/* Mode of mvRestart (4 bytes). */
enum MvRestartMode {
    MV_RESTARTMODE_AUTOAPPLYUPDATE = 0x0,        /* restart the app or device, applying staged updates */
    MV_RESTARTMODE__MAX = 0xffffffff,
};

/* ------------------------------------------------------------------------ */
/* External flash                                                           */
/* ------------------------------------------------------------------------ */

struct MvExternalFlashInfo {
    uint32_t version;                            /* set to 1 by the caller */
    union {
        struct {
            uint32_t chip_id;
            uint32_t size;                       /* bytes available to the application */
            uint32_t num_handles;                /* handles open now */
        } v1;
    };
};

/* ------------------------------------------------------------------------ */
/* Wi-Fi                                                                    */
/* ------------------------------------------------------------------------ */

/* Mode in which mvSetWifiConfig applies its settings (1 byte). */
enum MvWifiConfigMode {
    MV_WIFICONFIGMODE_APPLYNOW = 0x0,            /* store and use for every reconnection */
    MV_WIFICONFIGMODE_CLEARNOW = 0x1,            /* erase and stop reconnecting */
    MV_WIFICONFIGMODE__MAX = 0xff,
};

struct MvWifiConfig {
    uint32_t version;                            /* 1 */
    union {
        struct {
            enum MvWifiConfigMode config_mode;
            struct MvSizedString wifi_ssid;
            struct MvSizedString wifi_password;
        } v1;
    };
};

/* Output pointers for mvGetWifiConfig; the password is never returned. */
struct MvWifiConfigOut {
    uint32_t version;                            /* 1 */
    union {
        struct {
            struct MvSizedStringBuffer ssid;
            uint8_t *has_encryption;
        } v1;
    };
};

/* ------------------------------------------------------------------------ */
/* Calls, grouped by API family. Gateway addresses are in mv_syscalls.ld.    */
/* ------------------------------------------------------------------------ */

#ifdef __cplusplus
extern "C" {
#endif

/* Time, clocks and device identity. */
enum MvStatus mvNoOp(void);
enum MvStatus mvGetMicroseconds(uint64_t *ms);
enum MvStatus mvGetWallTime(uint64_t *usec);
enum MvStatus mvGetSysClk(uint32_t *hz);
enum MvStatus mvGetHClk(uint32_t *hz);
enum MvStatus mvGetPClk1(uint32_t *hz);
enum MvStatus mvGetPClk2(uint32_t *hz);
/* Writes the 34-byte device SID (not NUL-terminated); len must be 34. */
enum MvStatus mvGetDeviceId(uint8_t *buf, uint32_t len);

/* Peripheral registers the microvisor keeps secure (RCC and a few others).
 * mvPeriphPoke32 stores (*reg & ~mask) ^ xorvalue. */
enum MvStatus mvPeriphPeek32(uint32_t reg, uint32_t *output);
enum MvStatus mvPeriphPoke32(uint32_t reg, uint32_t mask, uint32_t xorvalue);

/* Notification centres. The app sets up, enables and prioritises the IRQ. */
enum MvStatus mvSetupNotifications(const struct MvNotificationSetup *notifications,
                                   MvNotificationHandle *handle_out);
/* Writes 0 through handle_in_out on success. */
enum MvStatus mvCloseNotifications(MvNotificationHandle *handle_in_out);
enum MvStatus mvTempTriggerNotification(MvNotificationHandle handle, enum MvEventType type,
                                        uint32_t tag);

/* Fast interrupts. */
enum MvStatus mvSetFastInterrupt(uint32_t irqn);
enum MvStatus mvClearFastInterrupt(uint32_t irqn);
enum MvStatus mvEnableFastInterrupt(uint32_t irqn);
enum MvStatus mvDisableFastInterrupt(uint32_t irqn);
enum MvStatus mvDisableAllFastInterrupts(void);
enum MvStatus mvEnableAllFastInterrupts(void);

/* Network requests (reference counted). */
enum MvStatus mvRequestNetwork(const struct MvRequestNetworkParams *params,
                               MvNetworkHandle *handle);
/* Writes 0 through handle on success. */
enum MvStatus mvReleaseNetwork(MvNetworkHandle *handle);
enum MvStatus mvGetNetworkStatus(MvNetworkHandle handle, enum MvNetworkStatus *status);
enum MvStatus mvGetNetworkReasons(enum MvNetworkReason *reasons, uint32_t *request_ref_count);

/* Channels. */
enum MvStatus mvOpenChannel(const struct MvOpenChannelParams *params, MvChannelHandle *handle);
/* Writes 0 through handle on success. */
enum MvStatus mvCloseChannel(MvChannelHandle *handle);
enum MvStatus mvGetChannelClosureReason(MvChannelHandle handle, enum MvClosureReason *reason_out);
enum MvStatus mvReadChannel(MvChannelHandle handle, uint8_t **read_pointer_out,
                            uint32_t *length_out);
enum MvStatus mvReadChannelComplete(MvChannelHandle handle, uint32_t consumed);
/* Writes as much as fits and reports the count. */
enum MvStatus mvWriteChannelStream(MvChannelHandle handle, const uint8_t *data, uint32_t len,
                                   uint32_t *written);
/* Writes all of data or nothing; len 0 reports the free space. */
enum MvStatus mvWriteChannel(MvChannelHandle handle, const uint8_t *data, uint32_t len,
                             uint32_t *available);

/* HTTP over an HTTP channel: one request per channel. */
enum MvStatus mvSendHttpRequest(MvChannelHandle handle, const struct MvHttpRequest *request);
enum MvStatus mvReadHttpResponseData(MvChannelHandle handle,
                                     struct MvHttpResponseData *response_data);
/* Copies up to size bytes of one header line; the length is not reported. */
enum MvStatus mvReadHttpResponseHeader(MvChannelHandle handle, uint32_t header_index,
                                       uint8_t *buf, uint32_t size);
enum MvStatus mvReadHttpResponseBody(MvChannelHandle handle, uint32_t offset, uint8_t *buf,
                                     uint32_t size);

/* Server logging. */
enum MvStatus mvServerLoggingInit(uint8_t *buffer, uint32_t length_bytes);
enum MvStatus mvServerLog(const uint8_t *message, uint16_t length_bytes);

/* Config and secrets over a CONFIGFETCH channel: one fetch per channel. */
enum MvStatus mvSendConfigFetchRequest(MvChannelHandle handle,
                                       const struct MvConfigKeyFetchParams *request);
enum MvStatus mvReadConfigFetchResponseData(MvChannelHandle handle,
                                            struct MvConfigResponseData *response_data);
enum MvStatus mvReadConfigResponseItem(MvChannelHandle handle,
                                       const struct MvConfigResponseReadItemParams *params);

/* MQTT over an MQTT channel: one connect per channel. */
enum MvStatus mvMqttGetNextReadableDataType(MvChannelHandle handle,
                                            enum MvMqttReadableDataType *data_type);
enum MvStatus mvMqttRequestConnect(MvChannelHandle handle,
                                   const struct MvMqttConnectRequest *request);
enum MvStatus mvMqttReadConnectResponse(MvChannelHandle handle,
                                        struct MvMqttConnectResponse *response_data);
enum MvStatus mvMqttRequestSubscribe(MvChannelHandle handle,
                                     const struct MvMqttSubscribeRequest *request);
enum MvStatus mvMqttReadSubscribeResponse(MvChannelHandle handle,
                                          const struct MvMqttSubscribeResponse *response_data);
enum MvStatus mvMqttRequestUnsubscribe(MvChannelHandle handle,
                                       const struct MvMqttUnsubscribeRequest *request);
enum MvStatus mvMqttReadUnsubscribeResponse(MvChannelHandle handle,
                                            const struct MvMqttUnsubscribeResponse *response_data);
enum MvStatus mvMqttRequestPublish(MvChannelHandle handle,
                                   const struct MvMqttPublishRequest *request);
enum MvStatus mvMqttReadPublishResponse(MvChannelHandle handle,
                                        struct MvMqttPublishResponse *response_data);
enum MvStatus mvMqttReceiveMessage(MvChannelHandle handle,
                                   const struct MvMqttMessage *message_data);
enum MvStatus mvMqttReceiveLostMessageInfo(MvChannelHandle handle,
                                           const struct MvMqttLostMessageInfo *lost_message_info);
enum MvStatus mvMqttAcknowledgeMessage(MvChannelHandle handle, uint32_t correlation_id);
enum MvStatus mvMqttRequestDisconnect(MvChannelHandle handle);
enum MvStatus mvMqttReadDisconnectResponse(MvChannelHandle handle,
                                           struct MvMqttDisconnectResponse *response_data);

/* Factory testing: outside test mode mvTestingComplete returns UNAVAILABLE. */
enum MvStatus mvTestingComplete(uint32_t status);
enum MvStatus mvTestLoggingInit(uint8_t *buffer, uint32_t length_bytes);
enum MvStatus mvTestLog(const uint8_t *message, uint16_t length_bytes);

/* Power, LED, system notifications, restart and wake reason. These return
 * MV_STATUS_UNAVAILABLE when called from an interrupt handler. */
enum MvStatus mvPowerSave(enum MvPowerSavingMode mode);
/* enable: 0 turns the system LED off, 1 turns it on; other values are reserved. */
enum MvStatus mvSystemLedEnable(uint32_t enable);
enum MvStatus mvOpenSystemNotification(const struct MvOpenSystemNotificationParams *params,
                                       MvSystemEventHandle *handle);
enum MvStatus mvCloseSystemNotification(MvSystemEventHandle *handle);
enum MvStatus mvDeepSleep(enum MvDeepSleepMode mode);
enum MvStatus mvGetWakeReason(enum MvWakeReason *mode);
/* Does not return on success. */
enum MvStatus mvRestart(enum MvRestartMode mode);

/* External SPI flash, addressed from 0 to MvExternalFlashInfo.v1.size - 1.
 * Erase address and length must be multiples of 4096. */
enum MvStatus mvExternalFlashOpen(MvExternalFlashHandle *handle);
enum MvStatus mvExternalFlashClose(MvExternalFlashHandle *handle);
enum MvStatus mvExternalFlashGetInfo(MvExternalFlashHandle handle,
                                     struct MvExternalFlashInfo *info);
enum MvStatus mvExternalFlashReadBlocking(MvExternalFlashHandle handle, uint32_t address,
                                          uint32_t length, uint8_t *buffer);
enum MvStatus mvExternalFlashWriteBlocking(MvExternalFlashHandle handle, uint32_t address,
                                           uint32_t length, const uint8_t *buffer);
enum MvStatus mvExternalFlashEraseBlocking(MvExternalFlashHandle handle, uint32_t address,
                                           uint32_t length);

/* Wi-Fi settings kept by the microvisor. */
enum MvStatus mvSetWifiConfig(const struct MvWifiConfig *params);
enum MvStatus mvGetWifiConfig(const struct MvWifiConfigOut *params);

#ifdef __cplusplus
} /* extern "C" */
#endif

/* ------------------------------------------------------------------------ */
/* Layout checks: every size and offset of the ABI.                         */
/* ------------------------------------------------------------------------ */

#ifdef __cplusplus
#define MV_LAYOUT_ASSERT(expression) static_assert(expression, #expression)
#else
#define MV_LAYOUT_ASSERT(expression) _Static_assert(expression, #expression)
#endif
#define MV_ASSERT_SIZE(type, size) MV_LAYOUT_ASSERT(sizeof(type) == (size))
#define MV_ASSERT_OFFSET(type, member, offset) \
    MV_LAYOUT_ASSERT(offsetof(type, member) == (offset))

/* Enumerations: one byte where the largest value is 0xff, else four. */
MV_ASSERT_SIZE(enum MvStatus, 4);
MV_ASSERT_SIZE(enum MvEventType, 4);
MV_ASSERT_SIZE(enum MvNetworkStatus, 4);
MV_ASSERT_SIZE(enum MvNetworkReason, 4);
MV_ASSERT_SIZE(enum MvChannelType, 4);
MV_ASSERT_SIZE(enum MvClosureReason, 4);
MV_ASSERT_SIZE(enum MvHttpResult, 4);
MV_ASSERT_SIZE(enum MvConfigKeyFetchScope, 4);
MV_ASSERT_SIZE(enum MvConfigKeyFetchStore, 4);
MV_ASSERT_SIZE(enum MvConfigFetchResult, 4);
MV_ASSERT_SIZE(enum MvConfigKeyFetchResult, 4);
MV_ASSERT_SIZE(enum MvMqttReadableDataType, 4);
MV_ASSERT_SIZE(enum MvMqttProtocolVersion, 4);
MV_ASSERT_SIZE(enum MvMqttAuthenticationMethod, 1);
MV_ASSERT_SIZE(enum MvMqttRequestState, 4);
MV_ASSERT_SIZE(enum MvMqttLostMessageReason, 4);
MV_ASSERT_SIZE(enum MvPowerSavingMode, 1);
MV_ASSERT_SIZE(enum MvSystemNotificationSource, 4);
MV_ASSERT_SIZE(enum MvDeepSleepMode, 1);
MV_ASSERT_SIZE(enum MvWakeReason, 1);
MV_ASSERT_SIZE(enum MvRestartMode, 4);
MV_ASSERT_SIZE(enum MvWifiConfigMode, 1);

/* Handles. */
MV_ASSERT_SIZE(MvNotificationHandle, 4);
MV_ASSERT_SIZE(MvNetworkHandle, 4);
MV_ASSERT_SIZE(MvChannelHandle, 4);
MV_ASSERT_SIZE(MvSystemEventHandle, 4);
MV_ASSERT_SIZE(MvExternalFlashHandle, 4);

MV_ASSERT_SIZE(struct MvNotification, 16);
MV_ASSERT_OFFSET(struct MvNotification, microseconds, 0);
MV_ASSERT_OFFSET(struct MvNotification, event_type, 8);
MV_ASSERT_OFFSET(struct MvNotification, tag, 12);

MV_ASSERT_SIZE(struct MvNotificationSetup, 12);
MV_ASSERT_OFFSET(struct MvNotificationSetup, irq, 0);
MV_ASSERT_OFFSET(struct MvNotificationSetup, buffer, 4);
MV_ASSERT_OFFSET(struct MvNotificationSetup, buffer_size, 8);

MV_ASSERT_SIZE(struct MvRequestNetworkParams, 12);
MV_ASSERT_OFFSET(struct MvRequestNetworkParams, version, 0);
MV_ASSERT_OFFSET(struct MvRequestNetworkParams, v1.notification_handle, 4);
MV_ASSERT_OFFSET(struct MvRequestNetworkParams, v1.notification_tag, 8);

MV_ASSERT_SIZE(struct MvSizedString, 8);
MV_ASSERT_OFFSET(struct MvSizedString, data, 0);
MV_ASSERT_OFFSET(struct MvSizedString, length, 4);

MV_ASSERT_SIZE(struct MvOpenChannelParams, 44);
MV_ASSERT_OFFSET(struct MvOpenChannelParams, version, 0);
MV_ASSERT_OFFSET(struct MvOpenChannelParams, v1.notification_handle, 4);
MV_ASSERT_OFFSET(struct MvOpenChannelParams, v1.notification_tag, 8);
MV_ASSERT_OFFSET(struct MvOpenChannelParams, v1.network_handle, 12);
MV_ASSERT_OFFSET(struct MvOpenChannelParams, v1.receive_buffer, 16);
MV_ASSERT_OFFSET(struct MvOpenChannelParams, v1.receive_buffer_len, 20);
MV_ASSERT_OFFSET(struct MvOpenChannelParams, v1.send_buffer, 24);
MV_ASSERT_OFFSET(struct MvOpenChannelParams, v1.send_buffer_len, 28);
MV_ASSERT_OFFSET(struct MvOpenChannelParams, v1.channel_type, 32);
MV_ASSERT_OFFSET(struct MvOpenChannelParams, v1.endpoint.data, 36);
MV_ASSERT_OFFSET(struct MvOpenChannelParams, v1.endpoint.length, 40);

MV_ASSERT_SIZE(struct MvHttpHeader, 8);
MV_ASSERT_OFFSET(struct MvHttpHeader, length, 0);
MV_ASSERT_OFFSET(struct MvHttpHeader, data, 4);

MV_ASSERT_SIZE(struct MvHttpRequest, 36);
MV_ASSERT_OFFSET(struct MvHttpRequest, method.data, 0);
MV_ASSERT_OFFSET(struct MvHttpRequest, method.length, 4);
MV_ASSERT_OFFSET(struct MvHttpRequest, url.data, 8);
MV_ASSERT_OFFSET(struct MvHttpRequest, url.length, 12);
MV_ASSERT_OFFSET(struct MvHttpRequest, num_headers, 16);
MV_ASSERT_OFFSET(struct MvHttpRequest, headers, 20);
MV_ASSERT_OFFSET(struct MvHttpRequest, body.data, 24);
MV_ASSERT_OFFSET(struct MvHttpRequest, body.length, 28);
MV_ASSERT_OFFSET(struct MvHttpRequest, timeout_ms, 32);

MV_ASSERT_SIZE(struct MvHttpResponseData, 16);
MV_ASSERT_OFFSET(struct MvHttpResponseData, result, 0);
MV_ASSERT_OFFSET(struct MvHttpResponseData, status_code, 4);
MV_ASSERT_OFFSET(struct MvHttpResponseData, num_headers, 8);
MV_ASSERT_OFFSET(struct MvHttpResponseData, body_length, 12);

MV_ASSERT_SIZE(struct MvConfigKeyToFetch, 16);
MV_ASSERT_OFFSET(struct MvConfigKeyToFetch, scope, 0);
MV_ASSERT_OFFSET(struct MvConfigKeyToFetch, store, 4);
MV_ASSERT_OFFSET(struct MvConfigKeyToFetch, key.data, 8);
MV_ASSERT_OFFSET(struct MvConfigKeyToFetch, key.length, 12);

MV_ASSERT_SIZE(struct MvConfigKeyFetchParams, 8);
MV_ASSERT_OFFSET(struct MvConfigKeyFetchParams, num_items, 0);
MV_ASSERT_OFFSET(struct MvConfigKeyFetchParams, keys_to_fetch, 4);

MV_ASSERT_SIZE(struct MvConfigResponseData, 8);
MV_ASSERT_OFFSET(struct MvConfigResponseData, result, 0);
MV_ASSERT_OFFSET(struct MvConfigResponseData, num_items, 4);

MV_ASSERT_SIZE(struct MvSizedStringBuffer, 12);
MV_ASSERT_OFFSET(struct MvSizedStringBuffer, data, 0);
MV_ASSERT_OFFSET(struct MvSizedStringBuffer, size, 4);
MV_ASSERT_OFFSET(struct MvSizedStringBuffer, length, 8);

MV_ASSERT_SIZE(struct MvConfigResponseReadItemParams, 20);
MV_ASSERT_OFFSET(struct MvConfigResponseReadItemParams, item_index, 0);
MV_ASSERT_OFFSET(struct MvConfigResponseReadItemParams, result, 4);
MV_ASSERT_OFFSET(struct MvConfigResponseReadItemParams, buf.data, 8);
MV_ASSERT_OFFSET(struct MvConfigResponseReadItemParams, buf.size, 12);
MV_ASSERT_OFFSET(struct MvConfigResponseReadItemParams, buf.length, 16);

MV_ASSERT_SIZE(struct MvUsernamePassword, 16);
MV_ASSERT_OFFSET(struct MvUsernamePassword, username.data, 0);
MV_ASSERT_OFFSET(struct MvUsernamePassword, username.length, 4);
MV_ASSERT_OFFSET(struct MvUsernamePassword, password.data, 8);
MV_ASSERT_OFFSET(struct MvUsernamePassword, password.length, 12);

MV_ASSERT_SIZE(struct MvMqttAuthentication, 20);
MV_ASSERT_OFFSET(struct MvMqttAuthentication, method, 0);
MV_ASSERT_OFFSET(struct MvMqttAuthentication, username_password.username.data, 4);
MV_ASSERT_OFFSET(struct MvMqttAuthentication, username_password.username.length, 8);
MV_ASSERT_OFFSET(struct MvMqttAuthentication, username_password.password.data, 12);
MV_ASSERT_OFFSET(struct MvMqttAuthentication, username_password.password.length, 16);

MV_ASSERT_SIZE(struct MvTlsCertificateChain, 8);
MV_ASSERT_OFFSET(struct MvTlsCertificateChain, num_certs, 0);
MV_ASSERT_OFFSET(struct MvTlsCertificateChain, certs, 4);

MV_ASSERT_SIZE(struct MvOwnTlsCertificateChain, 16);
MV_ASSERT_OFFSET(struct MvOwnTlsCertificateChain, chain.num_certs, 0);
MV_ASSERT_OFFSET(struct MvOwnTlsCertificateChain, chain.certs, 4);
MV_ASSERT_OFFSET(struct MvOwnTlsCertificateChain, key.data, 8);
MV_ASSERT_OFFSET(struct MvOwnTlsCertificateChain, key.length, 12);

MV_ASSERT_SIZE(struct MvTlsCredentials, 24);
MV_ASSERT_OFFSET(struct MvTlsCredentials, cacert.num_certs, 0);
MV_ASSERT_OFFSET(struct MvTlsCredentials, cacert.certs, 4);
MV_ASSERT_OFFSET(struct MvTlsCredentials, clientcert.chain.num_certs, 8);
MV_ASSERT_OFFSET(struct MvTlsCredentials, clientcert.chain.certs, 12);
MV_ASSERT_OFFSET(struct MvTlsCredentials, clientcert.key.data, 16);
MV_ASSERT_OFFSET(struct MvTlsCredentials, clientcert.key.length, 20);

MV_ASSERT_SIZE(struct MvMqttWill, 24);
MV_ASSERT_OFFSET(struct MvMqttWill, topic.data, 0);
MV_ASSERT_OFFSET(struct MvMqttWill, topic.length, 4);
MV_ASSERT_OFFSET(struct MvMqttWill, payload.data, 8);
MV_ASSERT_OFFSET(struct MvMqttWill, payload.length, 12);
MV_ASSERT_OFFSET(struct MvMqttWill, qos, 16);
MV_ASSERT_OFFSET(struct MvMqttWill, retain, 20);

MV_ASSERT_SIZE(struct MvMqttConnectRequest, 60);
MV_ASSERT_OFFSET(struct MvMqttConnectRequest, protocol_version, 0);
MV_ASSERT_OFFSET(struct MvMqttConnectRequest, host.data, 4);
MV_ASSERT_OFFSET(struct MvMqttConnectRequest, host.length, 8);
MV_ASSERT_OFFSET(struct MvMqttConnectRequest, port, 12);
MV_ASSERT_OFFSET(struct MvMqttConnectRequest, clientid.data, 16);
MV_ASSERT_OFFSET(struct MvMqttConnectRequest, clientid.length, 20);
MV_ASSERT_OFFSET(struct MvMqttConnectRequest, authentication.method, 24);
MV_ASSERT_OFFSET(struct MvMqttConnectRequest, authentication.username_password.username.data,
                 28);
MV_ASSERT_OFFSET(struct MvMqttConnectRequest,
                 authentication.username_password.username.length, 32);
MV_ASSERT_OFFSET(struct MvMqttConnectRequest, authentication.username_password.password.data,
                 36);
MV_ASSERT_OFFSET(struct MvMqttConnectRequest,
                 authentication.username_password.password.length, 40);
MV_ASSERT_OFFSET(struct MvMqttConnectRequest, tls_credentials, 44);
MV_ASSERT_OFFSET(struct MvMqttConnectRequest, keepalive, 48);
MV_ASSERT_OFFSET(struct MvMqttConnectRequest, clean_start, 52);
MV_ASSERT_OFFSET(struct MvMqttConnectRequest, will, 56);

MV_ASSERT_SIZE(struct MvMqttConnectResponse, 8);
MV_ASSERT_OFFSET(struct MvMqttConnectResponse, request_state, 0);
MV_ASSERT_OFFSET(struct MvMqttConnectResponse, reason_code, 4);

MV_ASSERT_SIZE(struct MvMqttSubscription, 24);
MV_ASSERT_OFFSET(struct MvMqttSubscription, topic.data, 0);
MV_ASSERT_OFFSET(struct MvMqttSubscription, topic.length, 4);
MV_ASSERT_OFFSET(struct MvMqttSubscription, desired_qos, 8);
MV_ASSERT_OFFSET(struct MvMqttSubscription, nl, 12);
MV_ASSERT_OFFSET(struct MvMqttSubscription, rap, 16);
MV_ASSERT_OFFSET(struct MvMqttSubscription, rh, 20);

MV_ASSERT_SIZE(struct MvMqttSubscribeRequest, 12);
MV_ASSERT_OFFSET(struct MvMqttSubscribeRequest, correlation_id, 0);
MV_ASSERT_OFFSET(struct MvMqttSubscribeRequest, subscriptions, 4);
MV_ASSERT_OFFSET(struct MvMqttSubscribeRequest, num_subscriptions, 8);

MV_ASSERT_SIZE(struct MvMqttSubscribeResponse, 20);
MV_ASSERT_OFFSET(struct MvMqttSubscribeResponse, request_state, 0);
MV_ASSERT_OFFSET(struct MvMqttSubscribeResponse, correlation_id, 4);
MV_ASSERT_OFFSET(struct MvMqttSubscribeResponse, reason_codes, 8);
MV_ASSERT_OFFSET(struct MvMqttSubscribeResponse, reason_codes_size, 12);
MV_ASSERT_OFFSET(struct MvMqttSubscribeResponse, reason_codes_len, 16);

MV_ASSERT_SIZE(struct MvMqttUnsubscribeRequest, 12);
MV_ASSERT_OFFSET(struct MvMqttUnsubscribeRequest, correlation_id, 0);
MV_ASSERT_OFFSET(struct MvMqttUnsubscribeRequest, topics, 4);
MV_ASSERT_OFFSET(struct MvMqttUnsubscribeRequest, num_topics, 8);

MV_ASSERT_SIZE(struct MvMqttUnsubscribeResponse, 20);
MV_ASSERT_OFFSET(struct MvMqttUnsubscribeResponse, request_state, 0);
MV_ASSERT_OFFSET(struct MvMqttUnsubscribeResponse, correlation_id, 4);
MV_ASSERT_OFFSET(struct MvMqttUnsubscribeResponse, reason_codes, 8);
MV_ASSERT_OFFSET(struct MvMqttUnsubscribeResponse, reason_codes_size, 12);
MV_ASSERT_OFFSET(struct MvMqttUnsubscribeResponse, reason_codes_len, 16);

MV_ASSERT_SIZE(struct MvMqttPublishRequest, 28);
MV_ASSERT_OFFSET(struct MvMqttPublishRequest, correlation_id, 0);
MV_ASSERT_OFFSET(struct MvMqttPublishRequest, topic.data, 4);
MV_ASSERT_OFFSET(struct MvMqttPublishRequest, topic.length, 8);
MV_ASSERT_OFFSET(struct MvMqttPublishRequest, payload.data, 12);
MV_ASSERT_OFFSET(struct MvMqttPublishRequest, payload.length, 16);
MV_ASSERT_OFFSET(struct MvMqttPublishRequest, desired_qos, 20);
MV_ASSERT_OFFSET(struct MvMqttPublishRequest, retain, 24);

MV_ASSERT_SIZE(struct MvMqttPublishResponse, 12);
MV_ASSERT_OFFSET(struct MvMqttPublishResponse, request_state, 0);
MV_ASSERT_OFFSET(struct MvMqttPublishResponse, correlation_id, 4);
MV_ASSERT_OFFSET(struct MvMqttPublishResponse, reason_code, 8);

MV_ASSERT_SIZE(struct MvMqttMessage, 36);
MV_ASSERT_OFFSET(struct MvMqttMessage, correlation_id, 0);
MV_ASSERT_OFFSET(struct MvMqttMessage, topic.data, 4);
MV_ASSERT_OFFSET(struct MvMqttMessage, topic.size, 8);
MV_ASSERT_OFFSET(struct MvMqttMessage, topic.length, 12);
MV_ASSERT_OFFSET(struct MvMqttMessage, payload.data, 16);
MV_ASSERT_OFFSET(struct MvMqttMessage, payload.size, 20);
MV_ASSERT_OFFSET(struct MvMqttMessage, payload.length, 24);
MV_ASSERT_OFFSET(struct MvMqttMessage, qos, 28);
MV_ASSERT_OFFSET(struct MvMqttMessage, retain, 32);

MV_ASSERT_SIZE(struct MvMqttLostMessageInfo, 20);
MV_ASSERT_OFFSET(struct MvMqttLostMessageInfo, reason, 0);
MV_ASSERT_OFFSET(struct MvMqttLostMessageInfo, topic.data, 4);
MV_ASSERT_OFFSET(struct MvMqttLostMessageInfo, topic.size, 8);
MV_ASSERT_OFFSET(struct MvMqttLostMessageInfo, topic.length, 12);
MV_ASSERT_OFFSET(struct MvMqttLostMessageInfo, message_len, 16);

MV_ASSERT_SIZE(struct MvMqttDisconnectResponse, 8);
MV_ASSERT_OFFSET(struct MvMqttDisconnectResponse, request_state, 0);
MV_ASSERT_OFFSET(struct MvMqttDisconnectResponse, disconnect_code, 4);

MV_ASSERT_SIZE(struct MvOpenSystemNotificationParams, 12);
MV_ASSERT_OFFSET(struct MvOpenSystemNotificationParams, notification_handle, 0);
MV_ASSERT_OFFSET(struct MvOpenSystemNotificationParams, notification_tag, 4);
MV_ASSERT_OFFSET(struct MvOpenSystemNotificationParams, notification_source, 8);

MV_ASSERT_SIZE(struct MvExternalFlashInfo, 16);
MV_ASSERT_OFFSET(struct MvExternalFlashInfo, version, 0);
MV_ASSERT_OFFSET(struct MvExternalFlashInfo, v1.chip_id, 4);
MV_ASSERT_OFFSET(struct MvExternalFlashInfo, v1.size, 8);
MV_ASSERT_OFFSET(struct MvExternalFlashInfo, v1.num_handles, 12);

MV_ASSERT_SIZE(struct MvWifiConfig, 24);
MV_ASSERT_OFFSET(struct MvWifiConfig, version, 0);
MV_ASSERT_OFFSET(struct MvWifiConfig, v1.config_mode, 4);
MV_ASSERT_OFFSET(struct MvWifiConfig, v1.wifi_ssid.data, 8);
MV_ASSERT_OFFSET(struct MvWifiConfig, v1.wifi_ssid.length, 12);
MV_ASSERT_OFFSET(struct MvWifiConfig, v1.wifi_password.data, 16);
MV_ASSERT_OFFSET(struct MvWifiConfig, v1.wifi_password.length, 20);

MV_ASSERT_SIZE(struct MvWifiConfigOut, 20);
MV_ASSERT_OFFSET(struct MvWifiConfigOut, version, 0);
MV_ASSERT_OFFSET(struct MvWifiConfigOut, v1.ssid.data, 4);
MV_ASSERT_OFFSET(struct MvWifiConfigOut, v1.ssid.size, 8);
MV_ASSERT_OFFSET(struct MvWifiConfigOut, v1.ssid.length, 12);
MV_ASSERT_OFFSET(struct MvWifiConfigOut, v1.has_encryption, 16);

#endif /* MV_API_H */
