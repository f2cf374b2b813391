/* Shared declarations of the conformance firmware: the canary arena, bad
 * pointers, the handles each phase sets up, and the case table that
 * sdk/tools/generate.py writes into cases.c. */

#ifndef CONFORMANCE_H
#define CONFORMANCE_H

#include <stddef.h>
#include <stdint.h>

#include "mv_syscalls.h"

#define RAM_BASE 0x20000000u
#define RAM_END 0x20080000u
/* The top 2 KiB of SRAM hold canaries; flags.mk moves the stack below them. */
#define TOP_CANARY_BASE 0x2007F800u
#define TOP_CANARY_SIZE 0x800u
#define ARENA_SIZE 4096u

/* A handle value the microvisor has not issued. */
#define BOGUS_HANDLE ((uintptr_t)0xDEADBEEFu)
#define NOTIFICATION_IRQ 51u /* TIM8_BRK: the centre of phase HANDLES */
#define SPARE_IRQ 52u        /* TIM8_UP: used by no centre */

/* The reserved gateway entry has no declaration in mv_syscalls.h. */
#define mvTemporaryStructTest ((enum MvStatus(*)(const void *))0x0C1FE061u)

enum BadKind {
    BAD_NULL,
    BAD_SECURE,   /* secure flash, 0x0C000000 */
    BAD_UNMAPPED, /* 0x60000000: nothing is mapped there */
    BAD_FLASH,    /* the app's own flash, readable but not writable */
    BAD_STRADDLE, /* starts in SRAM and ends past its last byte */
};

/* An address of the given kind for an object of size bytes. */
uintptr_t bad_pointer(enum BadKind kind, uint32_t size, uint32_t align);
/* Bump allocation in the canary arena, which the runner refills per case. */
void *arena_alloc(uint32_t size, uint32_t align);
/* Copies the arena and the top-of-SRAM canaries just before the call. */
void canary_snapshot(void);

#define ARENA(type) ((type *)arena_alloc(sizeof(type), _Alignof(type)))
#define ARENA_ARRAY(type, count) ((type *)arena_alloc((count) * sizeof(type), _Alignof(type)))
#define ARENA_BUFFER(size) ((uint8_t *)arena_alloc((size), 4u))
#define ARENA_ALIGNED(size, align) ((uint8_t *)arena_alloc((size), (align)))
#define BAD_OBJECT(kind, type) ((type *)bad_pointer((kind), sizeof(type), _Alignof(type)))
#define BAD_OBJECT_SIZED(kind, type, size) ((type *)bad_pointer((kind), (size), _Alignof(type)))
#define BAD_BUFFER(kind, size) ((uint8_t *)bad_pointer((kind), (size), 1u))
#define MISALIGNED(pointer) ((__typeof__(pointer))((uintptr_t)(pointer) + 1u))

/* Set up by the runner before phase HANDLES. */
extern MvNotificationHandle g_notification;
extern struct MvNotification g_notification_buffer[8];
extern MvNetworkHandle g_network;
extern MvExternalFlashHandle g_flash;
extern uint32_t g_flash_size;
extern MvSystemEventHandle g_system_event;
/* Set up by the runner before phase CHANNELS. */
extern MvChannelHandle g_http;
extern MvChannelHandle g_config;
extern MvChannelHandle g_mqtt;
/* Opened before phase FULL. */
extern MvChannelHandle g_opaque;

/* Valid arguments built in the arena (constructors.c). */
struct MvOpenChannelParams *new_open_channel_params(void);
struct MvHttpRequest *new_http_request(void);
struct MvConfigKeyFetchParams *new_config_fetch_params(void);
struct MvConfigResponseReadItemParams *new_config_read_item_params(void);
struct MvMqttConnectRequest *new_mqtt_connect_request(void);
/* Makes a v5 connect request name both a password and a client certificate. */
void add_password_and_certificate(struct MvMqttConnectRequest *request);
struct MvMqttSubscribeRequest *new_mqtt_subscribe_request(void);
struct MvMqttSubscribeResponse *new_mqtt_subscribe_response(void);
struct MvMqttUnsubscribeRequest *new_mqtt_unsubscribe_request(void);
struct MvMqttUnsubscribeResponse *new_mqtt_unsubscribe_response(void);
struct MvMqttPublishRequest *new_mqtt_publish_request(void);
struct MvMqttMessage *new_mqtt_message(void);
struct MvMqttLostMessageInfo *new_mqtt_lost_message_info(void);

struct ConformanceCase {
    enum MvStatus (*run)(void);
    const char *title;
    enum MvStatus expected;
    uint8_t phase; /* 0 BOOT, 1 HANDLES, 2 CHANNELS, 3 FULL */
    uint8_t paced; /* wait 200 ms first: the call is rate limited */
};

extern const struct ConformanceCase g_cases[];
extern const uint32_t g_case_count;

#endif
