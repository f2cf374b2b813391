"""Fuzz the system-call dispatcher: random registers and memory never raise, and only
documented statuses come back."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openvisor.kernel import gateway
from openvisor.kernel.abi import CALL_ADDRESSES, GATEWAY_BASE, MvStatus
from openvisor.kernel.handles import HandleKind

ARENA_SPAN = 4096

# Statuses each call documents, by call name. Calls are grouped by their
# families' rules:
# - PARAMETERFAULT for every call that takes a pointer (nested ones included);
# - INVALIDHANDLE for every call that takes a handle, directly or in a structure;
# - CHANNELCLOSED for every operation on a channel;
# - UNAVAILABLE from an interrupt handler for the calls added from SDK 0.6.5;
# - UNSUPPORTEDSTRUCTUREVERSION where the structure has a version word;
# - LATEFAULT where a pointer is used after the call had an effect.
# Where the Microvisor documentation is silent, the table contains openvisor's
# documented default (e.g. RESPONSENOTPRESENT before a config response
# arrives, WRONGDATAREQUESTED for an MQTT read of the wrong item kind).
_CHANNEL = {"OKAY", "PARAMETERFAULT", "INVALIDHANDLE", "CHANNELCLOSED"}
_MQTT_READ = _CHANNEL | {"WRONGDATAREQUESTED", "INVALIDBUFFERSIZE"}
_FAST_IRQ = {"OKAY", "INVALIDINTERRUPT", "UNAVAILABLE"}
_FLASH = {"OKAY", "UNAVAILABLE", "PARAMETERFAULT", "INVALIDHANDLE"}
_CLOCK = {"OKAY", "PARAMETERFAULT"}
DOCUMENTED_NAMES: dict[str, set[str]] = {
    "mvNoOp": {"OKAY"},
    "mvTemporaryStructTest": {"UNAVAILABLE"},
    "mvGetMicroseconds": _CLOCK,
    "mvGetWallTime": _CLOCK | {"TIMENOTSET"},
    "mvGetSysClk": _CLOCK,
    "mvGetHClk": _CLOCK,
    "mvGetPClk1": _CLOCK,
    "mvGetPClk2": _CLOCK,
    "mvGetDeviceId": {"OKAY", "PARAMETERFAULT", "INVALIDBUFFERSIZE"},
    "mvTempTriggerNotification": {"OKAY", "INVALIDHANDLE"},
    "mvPeriphPeek32": {"OKAY", "PERIPHERALACCESSFAULT", "PARAMETERFAULT"},
    "mvPeriphPoke32": {"OKAY", "PERIPHERALACCESSFAULT"},
    "mvSetupNotifications": {
        "OKAY",
        "PARAMETERFAULT",
        "INVALIDBUFFERSIZE",
        "BUFFERALREADYINUSE",
        "INVALIDINTERRUPT",
        "TOOMANYNOTIFICATIONBUFFERS",
    },
    "mvCloseNotifications": {"OKAY", "PARAMETERFAULT", "INVALIDHANDLE"},
    "mvSetFastInterrupt": _FAST_IRQ | {"INVALIDVECTOR"},
    "mvClearFastInterrupt": _FAST_IRQ,
    "mvEnableFastInterrupt": _FAST_IRQ,
    "mvDisableFastInterrupt": _FAST_IRQ,
    "mvEnableAllFastInterrupts": {"OKAY", "UNAVAILABLE"},
    "mvDisableAllFastInterrupts": {"OKAY", "UNAVAILABLE"},
    "mvRequestNetwork": {
        "OKAY",
        "PARAMETERFAULT",
        "INVALIDHANDLE",
        "UNSUPPORTEDSTRUCTUREVERSION",
    },
    "mvReleaseNetwork": {"OKAY", "PARAMETERFAULT", "INVALIDHANDLE"},
    "mvGetNetworkStatus": {"OKAY", "PARAMETERFAULT", "INVALIDHANDLE"},
    "mvGetNetworkReasons": {"OKAY", "PARAMETERFAULT"},
    "mvOpenChannel": {
        "OKAY",
        "PARAMETERFAULT",
        "INVALIDHANDLE",
        "UNSUPPORTEDSTRUCTUREVERSION",
        "INVALIDBUFFERALIGNMENT",
        "INVALIDBUFFERSIZE",
        "UNKNOWNCHANNELENDPOINT",
        "UNKNOWNCHANNELTYPE",
        "NETWORKNOTCONNECTED",
        "RATELIMITED",
        "UNAVAILABLE",
        "TOOMANYCHANNELS",
    },
    "mvCloseChannel": _CHANNEL,
    "mvGetChannelClosureReason": _CHANNEL,
    "mvReadChannel": _CHANNEL,
    "mvReadChannelComplete": _CHANNEL | {"INVALIDBUFFERSIZE"},
    "mvWriteChannelStream": _CHANNEL | {"LATEFAULT"},
    "mvWriteChannel": _CHANNEL | {"LATEFAULT", "INVALIDBUFFERSIZE"},
    "mvSendHttpRequest": _CHANNEL
    | {"LATEFAULT", "INVALIDBUFFERSIZE", "TOOMANYELEMENTS", "REQUESTALREADYSENT"},
    "mvReadHttpResponseData": _CHANNEL | {"RESPONSENOTPRESENT"},
    "mvReadHttpResponseHeader": _CHANNEL
    | {"RESPONSENOTPRESENT", "INDEXINVALID", "REQUESTUNSUCCESSFUL"},
    "mvReadHttpResponseBody": _CHANNEL
    | {"RESPONSENOTPRESENT", "OFFSETINVALID", "REQUESTUNSUCCESSFUL"},
    "mvSendConfigFetchRequest": _CHANNEL
    | {
        "LATEFAULT",
        "INVALIDBUFFERSIZE",
        "REQUESTALREADYSENT",
        "TOOMANYCONFIGKEYS",
        "UNKNOWNCONFIGSTORE",
        "UNKNOWNCONFIGSCOPE",
        "INVALIDCONFIGKEY",
    },
    "mvReadConfigFetchResponseData": _CHANNEL | {"RESPONSENOTPRESENT"},
    "mvReadConfigResponseItem": _CHANNEL
    | {"RESPONSENOTPRESENT", "INDEXINVALID", "INVALIDBUFFERSIZE"},
    "mvMqttRequestConnect": _CHANNEL
    | {
        "LATEFAULT",
        "REQUESTALREADYSENT",
        "INVALIDAUTHENTICATION",
        "TOOMANYELEMENTS",
        "REQUIREDELEMENTMISSING",
    },
    "mvMqttRequestSubscribe": _CHANNEL | {"LATEFAULT", "TOOMANYELEMENTS", "RATELIMITED"},
    "mvMqttRequestUnsubscribe": _CHANNEL | {"LATEFAULT", "TOOMANYELEMENTS", "RATELIMITED"},
    "mvMqttRequestPublish": _CHANNEL | {"LATEFAULT", "RATELIMITED"},
    "mvMqttRequestDisconnect": _CHANNEL,
    "mvMqttAcknowledgeMessage": _CHANNEL | {"RATELIMITED"},
    "mvMqttGetNextReadableDataType": _CHANNEL,
    "mvMqttReadConnectResponse": _MQTT_READ,
    "mvMqttReadSubscribeResponse": _MQTT_READ,
    "mvMqttReadUnsubscribeResponse": _MQTT_READ,
    "mvMqttReadPublishResponse": _MQTT_READ,
    "mvMqttReadDisconnectResponse": _MQTT_READ,
    "mvMqttReceiveMessage": _MQTT_READ,
    "mvMqttReceiveLostMessageInfo": _MQTT_READ,
    "mvServerLoggingInit": {
        "OKAY",
        "PARAMETERFAULT",
        "INVALIDBUFFERALIGNMENT",
        "INVALIDBUFFERSIZE",
    },
    "mvServerLog": {
        "OKAY",
        "UNAVAILABLE",
        "PARAMETERFAULT",
        "INVALIDBUFFERSIZE",
        "LOGMESSAGETOOLONG",
        "LOGGINGDISABLEDBYSERVER",
    },
    "mvTestLoggingInit": {
        "OKAY",
        "UNAVAILABLE",
        "PARAMETERFAULT",
        "INVALIDBUFFERALIGNMENT",
        "INVALIDBUFFERSIZE",
    },
    "mvTestLog": {
        "OKAY",
        "UNAVAILABLE",
        "PARAMETERFAULT",
        "INVALIDBUFFERSIZE",
        "LOGMESSAGETOOLONG",
    },
    "mvTestingComplete": {"OKAY", "UNAVAILABLE"},
    "mvOpenSystemNotification": {"OKAY", "UNAVAILABLE", "PARAMETERFAULT", "INVALIDHANDLE"},
    "mvCloseSystemNotification": {"OKAY", "UNAVAILABLE", "PARAMETERFAULT", "INVALIDHANDLE"},
    "mvRestart": {"OKAY", "UNAVAILABLE", "PARAMETERFAULT", "MICROVISORBUSY"},
    "mvGetWakeReason": {"OKAY", "UNAVAILABLE", "PARAMETERFAULT"},
    "mvPowerSave": {"OKAY", "UNAVAILABLE", "PARAMETERFAULT", "MICROVISORBUSY"},
    "mvDeepSleep": {"OKAY", "UNAVAILABLE", "PARAMETERFAULT", "MICROVISORBUSY"},
    "mvSystemLedEnable": {"OKAY", "UNAVAILABLE", "PARAMETERFAULT"},
    "mvExternalFlashOpen": {"OKAY", "UNAVAILABLE", "PARAMETERFAULT", "TOOMANYCHANNELS"},
    "mvExternalFlashClose": _FLASH,
    "mvExternalFlashGetInfo": _FLASH | {"UNSUPPORTEDSTRUCTUREVERSION"},
    "mvExternalFlashReadBlocking": _FLASH | {"ADDRESSOUTOFRANGE"},
    "mvExternalFlashWriteBlocking": _FLASH | {"ADDRESSOUTOFRANGE"},
    "mvExternalFlashEraseBlocking": _FLASH | {"ADDRESSOUTOFRANGE", "INVALIDBUFFERALIGNMENT"},
    "mvSetWifiConfig": {
        "OKAY",
        "PARAMETERFAULT",
        "UNSUPPORTEDSTRUCTUREVERSION",
        "INPUTTOOLONG",
    },
    "mvGetWifiConfig": {
        "OKAY",
        "PARAMETERFAULT",
        "UNSUPPORTEDSTRUCTUREVERSION",
        "INVALIDBUFFERSIZE",
    },
}
DOCUMENTED: dict[int, frozenset[MvStatus]] = {
    CALL_ADDRESSES[name]: frozenset(MvStatus[status] for status in statuses)
    for name, statuses in DOCUMENTED_NAMES.items()
}
CALL_NAMES = {address: name for name, address in CALL_ADDRESSES.items()}


def test_status_table_covers_every_call() -> None:
    assert set(DOCUMENTED_NAMES) == set(CALL_ADDRESSES)
    for name, statuses in DOCUMENTED_NAMES.items():
        assert "INTERNALERROR" not in statuses, name


def register_values(arena: int) -> st.SearchStrategy[int]:
    """Register values that reach deep into handlers: pointers, sizes, handles, garbage."""
    return st.one_of(
        st.integers(0, 0xFFFF_FFFF),
        st.integers(0, 64),
        st.sampled_from([0, 1, 16, 34, 512, 1024, 4096, 0xFFFF_FFFF, 0x8000_0000]),
        st.integers(arena, arena + ARENA_SPAN).map(lambda a: a & ~3),
        st.integers(arena - 64, arena + ARENA_SPAN + 64),
        st.sampled_from(
            [0x0800_0000, 0x0800_0001, 0x0C00_0000, 0x2007_FFFC, 0x2008_0000, 0x3000_0000]
        ),
    )


def fuzz_settings(examples: int) -> Any:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def run_one(harness: Any, address: int, registers: list[int], memory: bytes) -> int:
    kernel = harness.device.kernel
    harness.write(harness.arena, memory)
    # Pointers inside structures must also be able to name live handles.
    live = [handle for kind in HandleKind for handle, _ in kernel.handles.live(kind)]
    if live and registers[0] % 3 == 0:
        registers[0] = live[registers[1] % len(live)]
    status = gateway.dispatch(kernel, address, tuple(registers))  # type: ignore[arg-type]
    kernel.take_exit()
    return status


def call_inputs(arena: int) -> st.SearchStrategy[tuple[int, list[int], bytes]]:
    """A gateway entry, four registers and arena contents to put behind the pointers."""
    values = register_values(arena)

    def build(parts: tuple[int, list[int], list[int], bytes]) -> tuple[int, list[int], bytes]:
        address, registers, words, tail = parts
        # Pointer-like words first, so pointers nested in structures vary too.
        memory = b"".join(word.to_bytes(4, "little") for word in words) + tail
        return address, registers, memory

    return st.tuples(
        st.sampled_from(sorted(CALL_ADDRESSES.values())),
        st.lists(values, min_size=4, max_size=4),
        st.lists(values, max_size=8),
        st.binary(max_size=32),
    ).map(build)


def test_dispatcher_returns_documented_statuses(harness: Any) -> None:
    seen: set[int] = set()

    @fuzz_settings(600)
    @given(inputs=call_inputs(harness.arena))
    def check(inputs: tuple[int, list[int], bytes]) -> None:
        address, registers, memory = inputs
        status = run_one(harness, address, registers, memory)
        name = CALL_NAMES[address]
        allowed = DOCUMENTED[address]
        returned = MvStatus(status).name if status in MvStatus.__members__.values() else status
        assert status in allowed, (
            f"{name}({', '.join(hex(r) for r in registers)}) returned {returned}, "
            f"documented: {sorted(s.name for s in allowed)}"
        )
        seen.add(status)

    check()
    assert {MvStatus.OKAY, MvStatus.PARAMETERFAULT, MvStatus.INVALIDHANDLE} <= seen


def test_unknown_gateway_addresses_crash_the_app(harness: Any) -> None:
    @fuzz_settings(200)
    @given(offset=st.integers(0, 0x400).map(lambda o: o & ~1))
    def check(offset: int) -> None:
        address = GATEWAY_BASE + offset
        kernel = harness.device.kernel
        status = kernel.handle_gateway(harness.machine, address)
        app_exit = kernel.take_exit()
        if address in DOCUMENTED:
            assert status in DOCUMENTED[address], (CALL_NAMES[address], status)
        else:
            assert app_exit is not None and app_exit.kind.value == "crash"

    check()
