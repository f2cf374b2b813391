"""Numbers of the Microvisor application ABI: call addresses, statuses and enumerations.

Values are those of the Microvisor SDK for the STM32U585, so binaries built for
the original run unchanged. Enumerations whose largest value fits in a byte are
one byte wide in memory (``arm-none-eabi-gcc`` packs enums to the smallest type);
the structure layouts in :mod:`openvisor.kernel.structs` use the width noted here.
"""

from __future__ import annotations

from enum import IntEnum

GATEWAY_BASE = 0x0C1F_E000
"""First call-gateway entry (non-secure callable region)."""

GATEWAY_SIZE = 0x250
"""Bytes of the gateway that hold call entries; each entry is 8 bytes."""

KERNEL_VERSION = 1
"""Version of this kernel's ABI; a bundle's ``minimum_kernel_version`` is compared with it."""


class MvStatus(IntEnum):
    """Status word every call returns in R0 (4 bytes)."""

    OKAY = 0
    TIMENOTSET = 1
    PARAMETERFAULT = 2
    INVALIDBUFFERSIZE = 3
    PERIPHERALACCESSFAULT = 4
    BUFFERALREADYINUSE = 5
    INVALIDINTERRUPT = 6
    INVALIDHANDLE = 7
    TOOMANYNOTIFICATIONBUFFERS = 8
    INVALIDVECTOR = 9
    UNAVAILABLE = 10
    UNSUPPORTEDSTRUCTUREVERSION = 11
    TOOMANYCHANNELS = 12
    UNKNOWNCHANNELENDPOINT = 13
    UNKNOWNCHANNELTYPE = 14
    CHANNELCLOSED = 15
    NETWORKNOTCONNECTED = 16
    RATELIMITED = 17
    INVALIDBUFFERALIGNMENT = 18
    LATEFAULT = 19
    RESPONSENOTPRESENT = 20
    INDEXINVALID = 21
    OFFSETINVALID = 22
    REQUESTALREADYSENT = 23
    REQUESTUNSUCCESSFUL = 24
    LOGMESSAGETOOLONG = 25
    LOGGINGDISABLEDBYSERVER = 26
    TOOMANYCONFIGKEYS = 27
    UNKNOWNCONFIGSTORE = 28
    UNKNOWNCONFIGSCOPE = 29
    INVALIDCONFIGKEY = 30
    INVALIDAUTHENTICATION = 31
    WRONGDATAREQUESTED = 32
    INTERNALERROR = 33
    TOOMANYELEMENTS = 34
    REQUIREDELEMENTMISSING = 35
    MICROVISORBUSY = 36
    ADDRESSOUTOFRANGE = 37
    INPUTTOOLONG = 38


class MvEventType(IntEnum):
    """Event type of a notification record (4 bytes)."""

    NOEVENT = 0
    NETWORKSTATUSCHANGED = 1
    CHANNELDATAREADABLE = 2
    CHANNELDATAWRITESPACE = 3
    CHANNELNOTCONNECTED = 4
    UPDATEDOWNLOADED = 5


class MvNetworkStatus(IntEnum):
    """Network state reported by ``mvGetNetworkStatus`` (4 bytes)."""

    DELIBERATELYOFFLINE = 0
    CONNECTED = 1
    CONNECTING = 2
    DISCONNECTEDWITHLINKUP = 3


class MvNetworkReason(IntEnum):
    """Bits of the ``mvGetNetworkReasons`` bitfield (4 bytes)."""

    NOTCONNECTING = 0
    USINGNETWORK = 1
    NEVERUSEDNETWORKAPI = 2
    MINIMUMCHECKINEXPIRED = 4
    RTCNOTSET = 8
    KERNELERROR = 16
    APPLICATIONERROR = 32
    COLDBOOTCONNECTION = 64
    FETCHINGUPDATE = 128
    DEBUGGERATTACHED = 256
    NOAPPLICATIONCODE = 512
    ENHANCECALM = 2048


class MvChannelType(IntEnum):
    """Channel kinds for ``mvOpenChannel`` (4 bytes)."""

    OPAQUEBYTES = 0
    MQTT = 1
    HTTP = 2
    CONFIGFETCH = 3


class MvClosureReason(IntEnum):
    """Reason a channel closed (4 bytes)."""

    NONE = 0
    CHANNELCLOSEDBYSERVER = 1
    CHANNELRESETBYSERVER = 2
    NETWORKDISCONNECTED = 3
    CONNECTIONTERMINATED = 4
    NOTYETOPEN = 5
    CLOSEDBYAPPLICATION = 6
    UNEXPECTEDLYTERMINATED = 7


class MvHttpResult(IntEnum):
    """Outcome of an HTTP request (4 bytes)."""

    OK = 0
    UNSUPPORTEDURISCHEME = 1
    UNSUPPORTEDMETHOD = 2
    INVALIDHEADERS = 3
    INVALIDTIMEOUT = 4
    REQUESTFAILED = 5
    RESPONSETOOLARGE = 6


class MvConfigKeyFetchScope(IntEnum):
    """Scope of a config or secret key (4 bytes)."""

    ACCOUNT = 0
    DEVICE = 1


class MvConfigKeyFetchStore(IntEnum):
    """Store of a config or secret key (4 bytes)."""

    SECRET = 0
    CONFIG = 1


class MvConfigFetchResult(IntEnum):
    """Outcome of a whole config fetch (4 bytes)."""

    OK = 0
    RESPONSETOOLARGE = 1


class MvConfigKeyFetchResult(IntEnum):
    """Outcome for one fetched key (4 bytes)."""

    OK = 0
    KEYNOTFOUND = 1
    SERVERERROR = 2


class MvMqttReadableDataType(IntEnum):
    """Kind of the next item readable on an MQTT channel (4 bytes)."""

    NONE = 0
    MESSAGERECEIVED = 1
    MESSAGELOST = 2
    CONNECTRESPONSE = 3
    SUBSCRIBERESPONSE = 4
    UNSUBSCRIBERESPONSE = 5
    PUBLISHRESPONSE = 6
    DISCONNECTRESPONSE = 7


class MvMqttProtocolVersion(IntEnum):
    """MQTT protocol version (4 bytes)."""

    V3_1_1 = 0
    V5 = 1


class MvMqttAuthenticationMethod(IntEnum):
    """MQTT authentication method (1 byte)."""

    NONE = 0
    USERNAMEPASSWORD = 1


class MvMqttRequestState(IntEnum):
    """State of an MQTT request (4 bytes)."""

    REQUESTCOMPLETED = 0
    INVALIDPARAMETERS = 1
    ALREADYCONNECTED = 2
    NOTCONNECTED = 3
    NXDOMAIN = 4
    UNKNOWNCA = 5
    CERTIFICATEEXPIRED = 6
    SOCKETERROR = 7
    CONNECTIONCIRCUITBREAKER = 8


class MvMqttLostMessageReason(IntEnum):
    """Reason an MQTT message was lost (4 bytes)."""

    DEVICERECEIVEBUFFERTOOSMALL = 0


class MvPowerSavingMode(IntEnum):
    """Mode of ``mvPowerSave`` (1 byte)."""

    SLEEP = 0
    STOP0 = 1
    STOP1 = 2
    STOP2 = 3
    STOP3 = 4


class MvSystemNotificationSource(IntEnum):
    """Source of a system notification (4 bytes)."""

    NETWORK = 0
    UPDATE = 1


class MvDeepSleepMode(IntEnum):
    """Mode of ``mvDeepSleep`` (1 byte)."""

    STANDBY = 0
    SHUTDOWN = 1


class MvWakeReason(IntEnum):
    """Reason the application (re)started (1 byte)."""

    COLDBOOT = 0
    REMOTEMICROVISORRESTART = 1
    REMOTEAPPLICATIONRESTART = 2
    DEBUGGERRESTART = 3
    MICROVISORCRASH = 4
    MICROVISORWATCHDOG = 5
    MICROVISOROUTOFMEMORY = 6
    MICROVISORERROR = 7
    APPLICATIONCRASH = 8
    APPLICATIONUPDATE = 9
    MICROVISORUPDATE = 10
    OPTIONBYTES = 11
    DEEPSLEEPCHECKIN = 12
    DEEPSLEEPAPPLICATION = 13
    DEEPSLEEPMODEM = 14
    DEEPSLEEPAPPLICATIONRTC = 15
    DEEPSLEEPOTHER = 16


class MvRestartMode(IntEnum):
    """Mode of ``mvRestart`` (4 bytes)."""

    AUTOAPPLYUPDATE = 0


class MvWifiConfigMode(IntEnum):
    """Mode of ``mvSetWifiConfig`` (1 byte)."""

    APPLYNOW = 0
    CLEARNOW = 1


# Gateway entry address of every call, from the SDK's call table (Thumb bit clear).
CALL_ADDRESSES: dict[str, int] = {
    "mvEnableFastInterrupt": 0x0C1FE000,
    "mvWriteChannelStream": 0x0C1FE008,
    "mvGetMicroseconds": 0x0C1FE010,
    "mvGetSysClk": 0x0C1FE018,
    "mvDisableAllFastInterrupts": 0x0C1FE020,
    "mvGetDeviceId": 0x0C1FE028,
    "mvWriteChannel": 0x0C1FE030,
    "mvGetWallTime": 0x0C1FE038,
    "mvRequestNetwork": 0x0C1FE040,
    "mvGetChannelClosureReason": 0x0C1FE048,
    "mvCloseNotifications": 0x0C1FE050,
    "mvSetFastInterrupt": 0x0C1FE058,
    "mvTemporaryStructTest": 0x0C1FE060,
    "mvDisableFastInterrupt": 0x0C1FE068,
    "mvReadChannelComplete": 0x0C1FE070,
    "mvClearFastInterrupt": 0x0C1FE078,
    "mvSetupNotifications": 0x0C1FE080,
    "mvGetPClk1": 0x0C1FE088,
    "mvGetPClk2": 0x0C1FE090,
    "mvEnableAllFastInterrupts": 0x0C1FE098,
    "mvPeriphPoke32": 0x0C1FE0A8,
    "mvReadChannel": 0x0C1FE0B0,
    "mvGetHClk": 0x0C1FE0B8,
    "mvOpenChannel": 0x0C1FE0C0,
    "mvGetNetworkReasons": 0x0C1FE0C8,
    "mvReleaseNetwork": 0x0C1FE0D0,
    "mvNoOp": 0x0C1FE0D8,
    "mvTempTriggerNotification": 0x0C1FE0E0,
    "mvGetNetworkStatus": 0x0C1FE0E8,
    "mvPeriphPeek32": 0x0C1FE0F0,
    "mvCloseChannel": 0x0C1FE0F8,
    "mvSendHttpRequest": 0x0C1FE100,
    "mvReadHttpResponseBody": 0x0C1FE108,
    "mvReadHttpResponseHeader": 0x0C1FE110,
    "mvReadHttpResponseData": 0x0C1FE118,
    "mvServerLoggingInit": 0x0C1FE120,
    "mvServerLog": 0x0C1FE128,
    "mvSendConfigFetchRequest": 0x0C1FE130,
    "mvReadConfigFetchResponseData": 0x0C1FE138,
    "mvReadConfigResponseItem": 0x0C1FE140,
    "mvMqttReadUnsubscribeResponse": 0x0C1FE148,
    "mvMqttAcknowledgeMessage": 0x0C1FE150,
    "mvMqttReadDisconnectResponse": 0x0C1FE158,
    "mvMqttRequestDisconnect": 0x0C1FE160,
    "mvMqttReadConnectResponse": 0x0C1FE168,
    "mvMqttRequestPublish": 0x0C1FE170,
    "mvMqttRequestSubscribe": 0x0C1FE178,
    "mvMqttReadPublishResponse": 0x0C1FE180,
    "mvMqttReceiveLostMessageInfo": 0x0C1FE188,
    "mvMqttReceiveMessage": 0x0C1FE190,
    "mvMqttGetNextReadableDataType": 0x0C1FE198,
    "mvMqttRequestUnsubscribe": 0x0C1FE1A0,
    "mvMqttRequestConnect": 0x0C1FE1A8,
    "mvMqttReadSubscribeResponse": 0x0C1FE1B0,
    "mvTestingComplete": 0x0C1FE1B8,
    "mvTestLog": 0x0C1FE1C0,
    "mvTestLoggingInit": 0x0C1FE1C8,
    "mvPowerSave": 0x0C1FE1D0,
    "mvSystemLedEnable": 0x0C1FE1D8,
    "mvOpenSystemNotification": 0x0C1FE1E0,
    "mvCloseSystemNotification": 0x0C1FE1E8,
    "mvDeepSleep": 0x0C1FE1F0,
    "mvGetWakeReason": 0x0C1FE1F8,
    "mvRestart": 0x0C1FE200,
    "mvExternalFlashClose": 0x0C1FE208,
    "mvExternalFlashGetInfo": 0x0C1FE210,
    "mvExternalFlashWriteBlocking": 0x0C1FE218,
    "mvExternalFlashOpen": 0x0C1FE220,
    "mvExternalFlashEraseBlocking": 0x0C1FE228,
    "mvExternalFlashReadBlocking": 0x0C1FE230,
    "mvSetWifiConfig": 0x0C1FE240,
    "mvGetWifiConfig": 0x0C1FE248,
}

CALL_NAMES: dict[int, str] = {address: name for name, address in CALL_ADDRESSES.items()}


class StatusError(Exception):
    """Raised inside a call handler to end the call with ``status``.

    The gateway turns it into the R0 value; it never leaves the kernel.
    """

    def __init__(self, status: MvStatus, detail: str = "") -> None:
        super().__init__(f"{status.name}: {detail}" if detail else status.name)
        self.status = status
