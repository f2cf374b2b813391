"""The Microvisor call table as data: gateway address, name and C parameters of every call.

The SDK's generated files come from this table (``sdk/ld/mv_syscalls.ld`` and
the conformance firmware), and the unit tests check ``sdk/include/mv_syscalls.h``
and the kernel's own table against it. Parameter types are spelled as in the
header.
"""

from __future__ import annotations

from dataclasses import dataclass

GATEWAY_BASE = 0x0C1F_E000
RESERVED_CALLS = frozenset({"mvTemporaryStructTest"})
"""Table entries with no public declaration; they return MV_STATUS_UNAVAILABLE."""


@dataclass(frozen=True)
class Param:
    """One call parameter: its C type as the header spells it, and its name."""

    ctype: str
    name: str


@dataclass(frozen=True)
class Call:
    """One gateway entry: ``address`` is the entry without the Thumb bit."""

    address: int
    name: str
    params: tuple[Param, ...]

    @property
    def thumb_address(self) -> int:
        """The address a BL/BLX targets: the entry with the Thumb bit set."""
        return self.address | 1


def _call(address: int, name: str, *params: str) -> Call:
    """Build a Call from "ctype name" strings, the name being the last word."""
    parsed = []
    for text in params:
        ctype, _, pname = text.rpartition(" ")
        if pname.startswith("*"):
            stars = len(pname) - len(pname.lstrip("*"))
            ctype, pname = ctype + " " + "*" * stars, pname[stars:]
        parsed.append(Param(ctype.strip(), pname))
    return Call(address, name, tuple(parsed))


CH = "MvChannelHandle handle"

CALLS: tuple[Call, ...] = (
    _call(0x0C1FE000, "mvEnableFastInterrupt", "uint32_t irqn"),
    _call(
        0x0C1FE008,
        "mvWriteChannelStream",
        CH,
        "const uint8_t *data",
        "uint32_t len",
        "uint32_t *written",
    ),
    _call(0x0C1FE010, "mvGetMicroseconds", "uint64_t *ms"),
    _call(0x0C1FE018, "mvGetSysClk", "uint32_t *hz"),
    _call(0x0C1FE020, "mvDisableAllFastInterrupts"),
    _call(0x0C1FE028, "mvGetDeviceId", "uint8_t *buf", "uint32_t len"),
    _call(
        0x0C1FE030,
        "mvWriteChannel",
        CH,
        "const uint8_t *data",
        "uint32_t len",
        "uint32_t *available",
    ),
    _call(0x0C1FE038, "mvGetWallTime", "uint64_t *usec"),
    _call(
        0x0C1FE040,
        "mvRequestNetwork",
        "const struct MvRequestNetworkParams *params",
        "MvNetworkHandle *handle",
    ),
    _call(0x0C1FE048, "mvGetChannelClosureReason", CH, "enum MvClosureReason *reason_out"),
    _call(0x0C1FE050, "mvCloseNotifications", "MvNotificationHandle *handle_in_out"),
    _call(0x0C1FE058, "mvSetFastInterrupt", "uint32_t irqn"),
    _call(0x0C1FE060, "mvTemporaryStructTest", "const void *in"),
    _call(0x0C1FE068, "mvDisableFastInterrupt", "uint32_t irqn"),
    _call(0x0C1FE070, "mvReadChannelComplete", CH, "uint32_t consumed"),
    _call(0x0C1FE078, "mvClearFastInterrupt", "uint32_t irqn"),
    _call(
        0x0C1FE080,
        "mvSetupNotifications",
        "const struct MvNotificationSetup *notifications",
        "MvNotificationHandle *handle_out",
    ),
    _call(0x0C1FE088, "mvGetPClk1", "uint32_t *hz"),
    _call(0x0C1FE090, "mvGetPClk2", "uint32_t *hz"),
    _call(0x0C1FE098, "mvEnableAllFastInterrupts"),
    _call(0x0C1FE0A8, "mvPeriphPoke32", "uint32_t reg", "uint32_t mask", "uint32_t xorvalue"),
    _call(0x0C1FE0B0, "mvReadChannel", CH, "uint8_t **read_pointer_out", "uint32_t *length_out"),
    _call(0x0C1FE0B8, "mvGetHClk", "uint32_t *hz"),
    _call(
        0x0C1FE0C0,
        "mvOpenChannel",
        "const struct MvOpenChannelParams *params",
        "MvChannelHandle *handle",
    ),
    _call(
        0x0C1FE0C8,
        "mvGetNetworkReasons",
        "enum MvNetworkReason *reasons",
        "uint32_t *request_ref_count",
    ),
    _call(0x0C1FE0D0, "mvReleaseNetwork", "MvNetworkHandle *handle"),
    _call(0x0C1FE0D8, "mvNoOp"),
    _call(
        0x0C1FE0E0,
        "mvTempTriggerNotification",
        "MvNotificationHandle handle",
        "enum MvEventType type",
        "uint32_t tag",
    ),
    _call(
        0x0C1FE0E8, "mvGetNetworkStatus", "MvNetworkHandle handle", "enum MvNetworkStatus *status"
    ),
    _call(0x0C1FE0F0, "mvPeriphPeek32", "uint32_t reg", "uint32_t *output"),
    _call(0x0C1FE0F8, "mvCloseChannel", "MvChannelHandle *handle"),
    _call(0x0C1FE100, "mvSendHttpRequest", CH, "const struct MvHttpRequest *request"),
    _call(
        0x0C1FE108, "mvReadHttpResponseBody", CH, "uint32_t offset", "uint8_t *buf", "uint32_t size"
    ),
    _call(
        0x0C1FE110,
        "mvReadHttpResponseHeader",
        CH,
        "uint32_t header_index",
        "uint8_t *buf",
        "uint32_t size",
    ),
    _call(0x0C1FE118, "mvReadHttpResponseData", CH, "struct MvHttpResponseData *response_data"),
    _call(0x0C1FE120, "mvServerLoggingInit", "uint8_t *buffer", "uint32_t length_bytes"),
    _call(0x0C1FE128, "mvServerLog", "const uint8_t *message", "uint16_t length_bytes"),
    _call(
        0x0C1FE130, "mvSendConfigFetchRequest", CH, "const struct MvConfigKeyFetchParams *request"
    ),
    _call(
        0x0C1FE138,
        "mvReadConfigFetchResponseData",
        CH,
        "struct MvConfigResponseData *response_data",
    ),
    _call(
        0x0C1FE140,
        "mvReadConfigResponseItem",
        CH,
        "const struct MvConfigResponseReadItemParams *params",
    ),
    _call(
        0x0C1FE148,
        "mvMqttReadUnsubscribeResponse",
        CH,
        "const struct MvMqttUnsubscribeResponse *response_data",
    ),
    _call(0x0C1FE150, "mvMqttAcknowledgeMessage", CH, "uint32_t correlation_id"),
    _call(
        0x0C1FE158,
        "mvMqttReadDisconnectResponse",
        CH,
        "struct MvMqttDisconnectResponse *response_data",
    ),
    _call(0x0C1FE160, "mvMqttRequestDisconnect", CH),
    _call(
        0x0C1FE168, "mvMqttReadConnectResponse", CH, "struct MvMqttConnectResponse *response_data"
    ),
    _call(0x0C1FE170, "mvMqttRequestPublish", CH, "const struct MvMqttPublishRequest *request"),
    _call(0x0C1FE178, "mvMqttRequestSubscribe", CH, "const struct MvMqttSubscribeRequest *request"),
    _call(
        0x0C1FE180, "mvMqttReadPublishResponse", CH, "struct MvMqttPublishResponse *response_data"
    ),
    _call(
        0x0C1FE188,
        "mvMqttReceiveLostMessageInfo",
        CH,
        "const struct MvMqttLostMessageInfo *lost_message_info",
    ),
    _call(0x0C1FE190, "mvMqttReceiveMessage", CH, "const struct MvMqttMessage *message_data"),
    _call(
        0x0C1FE198, "mvMqttGetNextReadableDataType", CH, "enum MvMqttReadableDataType *data_type"
    ),
    _call(
        0x0C1FE1A0, "mvMqttRequestUnsubscribe", CH, "const struct MvMqttUnsubscribeRequest *request"
    ),
    _call(0x0C1FE1A8, "mvMqttRequestConnect", CH, "const struct MvMqttConnectRequest *request"),
    _call(
        0x0C1FE1B0,
        "mvMqttReadSubscribeResponse",
        CH,
        "const struct MvMqttSubscribeResponse *response_data",
    ),
    _call(0x0C1FE1B8, "mvTestingComplete", "uint32_t status"),
    _call(0x0C1FE1C0, "mvTestLog", "const uint8_t *message", "uint16_t length_bytes"),
    _call(0x0C1FE1C8, "mvTestLoggingInit", "uint8_t *buffer", "uint32_t length_bytes"),
    _call(0x0C1FE1D0, "mvPowerSave", "enum MvPowerSavingMode mode"),
    _call(0x0C1FE1D8, "mvSystemLedEnable", "uint32_t enable"),
    _call(
        0x0C1FE1E0,
        "mvOpenSystemNotification",
        "const struct MvOpenSystemNotificationParams *params",
        "MvSystemEventHandle *handle",
    ),
    _call(0x0C1FE1E8, "mvCloseSystemNotification", "MvSystemEventHandle *handle"),
    _call(0x0C1FE1F0, "mvDeepSleep", "enum MvDeepSleepMode mode"),
    _call(0x0C1FE1F8, "mvGetWakeReason", "enum MvWakeReason *mode"),
    _call(0x0C1FE200, "mvRestart", "enum MvRestartMode mode"),
    _call(0x0C1FE208, "mvExternalFlashClose", "MvExternalFlashHandle *handle"),
    _call(
        0x0C1FE210,
        "mvExternalFlashGetInfo",
        "MvExternalFlashHandle handle",
        "struct MvExternalFlashInfo *info",
    ),
    _call(
        0x0C1FE218,
        "mvExternalFlashWriteBlocking",
        "MvExternalFlashHandle handle",
        "uint32_t address",
        "uint32_t length",
        "const uint8_t *buffer",
    ),
    _call(0x0C1FE220, "mvExternalFlashOpen", "MvExternalFlashHandle *handle"),
    _call(
        0x0C1FE228,
        "mvExternalFlashEraseBlocking",
        "MvExternalFlashHandle handle",
        "uint32_t address",
        "uint32_t length",
    ),
    _call(
        0x0C1FE230,
        "mvExternalFlashReadBlocking",
        "MvExternalFlashHandle handle",
        "uint32_t address",
        "uint32_t length",
        "uint8_t *buffer",
    ),
    _call(0x0C1FE240, "mvSetWifiConfig", "const struct MvWifiConfig *params"),
    _call(0x0C1FE248, "mvGetWifiConfig", "const struct MvWifiConfigOut *params"),
)

CALLS_BY_NAME: dict[str, Call] = {call.name: call for call in CALLS}
PUBLIC_CALLS: tuple[Call, ...] = tuple(c for c in CALLS if c.name not in RESERVED_CALLS)

# MvStatus values by name, in the SDK's numbering.
MV_STATUS: dict[str, int] = {
    name: value
    for value, name in enumerate(
        [
            "OKAY",
            "TIMENOTSET",
            "PARAMETERFAULT",
            "INVALIDBUFFERSIZE",
            "PERIPHERALACCESSFAULT",
            "BUFFERALREADYINUSE",
            "INVALIDINTERRUPT",
            "INVALIDHANDLE",
            "TOOMANYNOTIFICATIONBUFFERS",
            "INVALIDVECTOR",
            "UNAVAILABLE",
            "UNSUPPORTEDSTRUCTUREVERSION",
            "TOOMANYCHANNELS",
            "UNKNOWNCHANNELENDPOINT",
            "UNKNOWNCHANNELTYPE",
            "CHANNELCLOSED",
            "NETWORKNOTCONNECTED",
            "RATELIMITED",
            "INVALIDBUFFERALIGNMENT",
            "LATEFAULT",
            "RESPONSENOTPRESENT",
            "INDEXINVALID",
            "OFFSETINVALID",
            "REQUESTALREADYSENT",
            "REQUESTUNSUCCESSFUL",
            "LOGMESSAGETOOLONG",
            "LOGGINGDISABLEDBYSERVER",
            "TOOMANYCONFIGKEYS",
            "UNKNOWNCONFIGSTORE",
            "UNKNOWNCONFIGSCOPE",
            "INVALIDCONFIGKEY",
            "INVALIDAUTHENTICATION",
            "WRONGDATAREQUESTED",
            "INTERNALERROR",
            "TOOMANYELEMENTS",
            "REQUIREDELEMENTMISSING",
            "MICROVISORBUSY",
            "ADDRESSOUTOFRANGE",
            "INPUTTOOLONG",
        ]
    )
}
