"""Conformance cases: every call of the ABI table with each kind of bad argument.

Each case changes one argument of an otherwise valid call and names the status
the microvisor must return. The kinds of bad argument:

- pointers: NULL, secure flash (0x0C00_0000), unmapped (0x6000_0000), app flash
  where the call writes, a span that straddles the end of SRAM, and an odd
  address for types aligned to 2 bytes or more. Each gives
  MV_STATUS_PARAMETERFAULT, also when the pointer is nested in a structure;
- handles: zero, a value never issued, and a live handle of another type (or a
  channel of another kind): MV_STATUS_INVALIDHANDLE;
- sizes, alignments, versions, modes, IRQ numbers and register addresses out of
  range: the status each call documents.

Where the documentation leaves a status open, a case follows the documented
default behaviour; the ``note`` of such a case says so. The firmware runs the
cases in phase order, setting up the handles a phase needs in between, and
checks the canary bytes around every buffer a call could write.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import IntEnum

from mv_abi import CALLS_BY_NAME, MV_STATUS


class Phase(IntEnum):
    """Set-up stage of the firmware when a case runs."""

    BOOT = 0
    """Nothing: no logging, no handles, the network never requested."""
    HANDLES = 1
    """Test and server logging, a notification centre, a network request,
    external flash and an UPDATE system notification."""
    CHANNELS = 2
    """The network is connected and HTTP, config-fetch and MQTT channels are open."""
    FULL = 3
    """An OPAQUEBYTES channel is open too, so all four channel slots are taken."""


@dataclass(frozen=True)
class Case:
    """One call with one bad argument and the status it must return."""

    call: str
    label: str
    expected: str
    phase: Phase
    setup: tuple[str, ...]
    args: tuple[str, ...]
    paced: bool = False
    note: str = ""

    @property
    def title(self) -> str:
        """Short name used in logs and test reports, e.g. ``mvGetSysClk hz=null``."""
        return f"{self.call} {self.label}"

    @property
    def expected_value(self) -> int:
        """The MvStatus number of ``expected``."""
        return MV_STATUS[self.expected]


OUT_KINDS = ("null", "secure", "unmapped", "flash", "straddle")
IN_KINDS = ("null", "secure", "unmapped", "straddle")
_KIND_MACRO = {
    "null": "BAD_NULL",
    "secure": "BAD_SECURE",
    "unmapped": "BAD_UNMAPPED",
    "flash": "BAD_FLASH",
    "straddle": "BAD_STRADDLE",
}
# Types aligned to one byte: an odd address is a valid pointer to them.
_BYTE_ALIGNED = {"uint8_t", "enum MvWakeReason", "enum MvMqttAuthenticationMethod"}


@dataclass(frozen=True)
class _Base:
    """A valid call that the bad-argument helpers change one argument of."""

    call: str
    phase: Phase
    setup: tuple[str, ...]
    args: tuple[str, ...]
    paced: bool = False

    def case(self, label: str, change: list[str], expected: str, note: str = "") -> Case:
        return Case(
            call=self.call,
            label=label,
            expected=expected,
            phase=self.phase,
            setup=self.setup + tuple(change),
            args=self.args,
            paced=self.paced,
            note=note,
        )


def _base(call: str, phase: Phase, setup: list[str], args: list[str], paced: bool = False) -> _Base:
    if call not in CALLS_BY_NAME:
        raise ValueError(f"{call} is not in the call table")
    if len(args) != len(CALLS_BY_NAME[call].params):
        raise ValueError(
            f"{call} takes {len(CALLS_BY_NAME[call].params)} arguments, not {len(args)}"
        )
    return _Base(call, phase, tuple(setup), tuple(args), paced)


def bad_object(base: _Base, lvalue: str, ctype: str, *, writes: bool) -> Iterator[Case]:
    """Point ``lvalue`` (a ``ctype *``) at each bad place; the call must fault."""
    for kind in OUT_KINDS if writes else IN_KINDS:
        yield base.case(
            f"{lvalue}={kind}",
            [f"{lvalue} = BAD_OBJECT({_KIND_MACRO[kind]}, {ctype});"],
            "PARAMETERFAULT",
        )
    if ctype not in _BYTE_ALIGNED:
        yield base.case(
            f"{lvalue}=misaligned", [f"{lvalue} = MISALIGNED({lvalue});"], "PARAMETERFAULT"
        )


def bad_buffer(base: _Base, lvalue: str, length: str, *, writes: bool) -> Iterator[Case]:
    """Point the byte buffer ``lvalue`` of ``length`` bytes at each bad place."""
    for kind in OUT_KINDS if writes else IN_KINDS:
        yield base.case(
            f"{lvalue}={kind}",
            [f"{lvalue} = BAD_BUFFER({_KIND_MACRO[kind]}, {length});"],
            "PARAMETERFAULT",
        )


def bad_handle(base: _Base, lvalue: str, htype: str, wrong: str) -> Iterator[Case]:
    """Replace the handle ``lvalue`` with zero, a never-issued value and ``wrong``."""
    yield base.case(f"{lvalue}=zero", [f"{lvalue} = ({htype})0;"], "INVALIDHANDLE")
    yield base.case(f"{lvalue}=unknown", [f"{lvalue} = ({htype})BOGUS_HANDLE;"], "INVALIDHANDLE")
    yield base.case(
        f"{lvalue}=wrongtype", [f"{lvalue} = ({htype})(void *){wrong};"], "INVALIDHANDLE"
    )


def _handle_pointer_call(
    call: str, phase: Phase, htype: str, live: str, wrong: str
) -> Iterator[Case]:
    """Cases of a close/release call taking a pointer to a handle."""

    base = _base(
        call, phase, [f"{htype} *handle = ARENA({htype});", f"*handle = {live};"], ["handle"]
    )
    yield from bad_object(base, "handle", htype, writes=True)
    yield from bad_handle(base, "*handle", htype, wrong)


def _out_only(call: str, ctype: str, phase: Phase = Phase.BOOT) -> Iterator[Case]:
    base = _base(call, phase, [f"{ctype} *out = ARENA({ctype});"], ["out"])
    yield from bad_object(base, "out", ctype, writes=True)


def _time_and_device() -> Iterator[Case]:
    yield _base("mvNoOp", Phase.BOOT, [], []).case("baseline", [], "OKAY")
    yield from _out_only("mvGetMicroseconds", "uint64_t")
    yield from _out_only("mvGetWallTime", "uint64_t")
    for clock in ("mvGetSysClk", "mvGetHClk", "mvGetPClk1", "mvGetPClk2"):
        yield from _out_only(clock, "uint32_t")

    base = _base(
        "mvGetDeviceId",
        Phase.BOOT,
        ["uint8_t *buf = ARENA_BUFFER(34);", "uint32_t len = 34;"],
        ["buf", "len"],
    )
    yield from bad_buffer(base, "buf", "34", writes=True)
    for length in ("0", "33", "35"):
        yield base.case(f"len={length}", [f"len = {length};"], "INVALIDBUFFERSIZE")

    base = _base(
        "mvTemporaryStructTest", Phase.BOOT, ["const void *in = ARENA_BUFFER(32);"], ["in"]
    )
    note = "reserved entry with no public declaration"
    yield base.case("valid", [], "UNAVAILABLE", note)
    yield base.case("in=secure", ["in = BAD_BUFFER(BAD_SECURE, 32);"], "UNAVAILABLE", note)


def _peripherals() -> Iterator[Case]:
    rcc_cr = "0x46020C00u"

    base = _base(
        "mvPeriphPeek32",
        Phase.BOOT,
        [f"uint32_t reg = {rcc_cr};", "uint32_t *output = ARENA(uint32_t);"],
        ["reg", "output"],
    )
    yield from bad_object(base, "output", "uint32_t", writes=True)
    yield base.case("reg=unaligned", ["reg = 0x46020C02u;"], "PERIPHERALACCESSFAULT")
    yield base.case("reg=unsupported", ["reg = 0x60000000u;"], "PERIPHERALACCESSFAULT")

    base = _base("mvPeriphPoke32", Phase.BOOT, [f"uint32_t reg = {rcc_cr};"], ["reg", "0", "0"])
    yield base.case("reg=unaligned", ["reg = 0x46020C02u;"], "PERIPHERALACCESSFAULT")
    yield base.case("reg=unsupported", ["reg = 0x60000000u;"], "PERIPHERALACCESSFAULT")


def _fast_interrupts() -> Iterator[Case]:
    for call in (
        "mvSetFastInterrupt",
        "mvClearFastInterrupt",
        "mvEnableFastInterrupt",
        "mvDisableFastInterrupt",
    ):
        base = _base(call, Phase.BOOT, ["uint32_t irqn = 0;"], ["irqn"])
        yield base.case("irqn=125", ["irqn = 125;"], "INVALIDINTERRUPT")
        yield base.case("irqn=0xffffffff", ["irqn = 0xFFFFFFFFu;"], "INVALIDINTERRUPT")
    for call in ("mvDisableAllFastInterrupts", "mvEnableAllFastInterrupts"):
        yield _base(call, Phase.BOOT, [], []).case("baseline", [], "OKAY")


def _notifications() -> Iterator[Case]:
    setup = [
        "struct MvNotificationSetup *setup = ARENA(struct MvNotificationSetup);",
        "setup->irq = SPARE_IRQ;",
        "setup->buffer = (struct MvNotification *)ARENA_ALIGNED(64, 8);",
        "setup->buffer_size = 64;",
        "MvNotificationHandle *handle = ARENA(MvNotificationHandle);",
    ]
    base = _base("mvSetupNotifications", Phase.BOOT, setup, ["setup", "handle"])
    yield from bad_object(base, "setup", "struct MvNotificationSetup", writes=False)
    yield from bad_object(base, "handle", "MvNotificationHandle", writes=True)
    for kind in OUT_KINDS:
        yield base.case(
            f"setup->buffer={kind}",
            [f"setup->buffer = BAD_OBJECT_SIZED({_KIND_MACRO[kind]}, struct MvNotification, 64);"],
            "PARAMETERFAULT",
        )
    for size in ("0", "16", "24", "40"):
        yield base.case(
            f"setup->buffer_size={size}", [f"setup->buffer_size = {size};"], "INVALIDBUFFERSIZE"
        )
    yield base.case("setup->irq=125", ["setup->irq = 125;"], "INVALIDINTERRUPT")
    yield base.case("setup->irq=0xffffffff", ["setup->irq = 0xFFFFFFFFu;"], "INVALIDINTERRUPT")

    later = replace(base, phase=Phase.HANDLES)
    yield later.case("setup->irq=in-use", ["setup->irq = NOTIFICATION_IRQ;"], "INVALIDINTERRUPT")
    yield later.case(
        "setup->buffer=in-use", ["setup->buffer = g_notification_buffer;"], "BUFFERALREADYINUSE"
    )

    yield from _handle_pointer_call(
        "mvCloseNotifications", Phase.HANDLES, "MvNotificationHandle", "g_notification", "g_network"
    )

    base = _base(
        "mvTempTriggerNotification",
        Phase.HANDLES,
        ["MvNotificationHandle handle = g_notification;"],
        ["handle", "MV_EVENTTYPE_NETWORKSTATUSCHANGED", "0"],
    )
    yield from bad_handle(base, "handle", "MvNotificationHandle", "g_network")


def _network() -> Iterator[Case]:
    setup = [
        "struct MvRequestNetworkParams *params = ARENA(struct MvRequestNetworkParams);",
        "params->version = 1;",
        "params->v1.notification_handle = g_notification;",
        "params->v1.notification_tag = 0x200;",
        "MvNetworkHandle *handle = ARENA(MvNetworkHandle);",
    ]
    base = _base("mvRequestNetwork", Phase.HANDLES, setup, ["params", "handle"])
    yield from bad_object(base, "params", "struct MvRequestNetworkParams", writes=False)
    yield from bad_object(base, "handle", "MvNetworkHandle", writes=True)
    for version in ("0", "2"):
        yield base.case(
            f"params->version={version}",
            [f"params->version = {version};"],
            "UNSUPPORTEDSTRUCTUREVERSION",
        )

    yield from _handle_pointer_call(
        "mvReleaseNetwork", Phase.HANDLES, "MvNetworkHandle", "g_network", "g_notification"
    )

    base = _base(
        "mvGetNetworkStatus",
        Phase.HANDLES,
        [
            "MvNetworkHandle handle = g_network;",
            "enum MvNetworkStatus *status = ARENA(enum MvNetworkStatus);",
        ],
        ["handle", "status"],
    )
    yield from bad_object(base, "status", "enum MvNetworkStatus", writes=True)
    yield from bad_handle(base, "handle", "MvNetworkHandle", "g_notification")

    base = _base(
        "mvGetNetworkReasons",
        Phase.BOOT,
        [
            "enum MvNetworkReason *reasons = ARENA(enum MvNetworkReason);",
            "uint32_t *count = ARENA(uint32_t);",
        ],
        ["reasons", "count"],
    )
    yield from bad_object(base, "reasons", "enum MvNetworkReason", writes=True)
    yield from bad_object(base, "count", "uint32_t", writes=True)


def _logging() -> Iterator[Case]:
    for init, log in (("mvServerLoggingInit", "mvServerLog"), ("mvTestLoggingInit", "mvTestLog")):
        base = _base(
            log,
            Phase.BOOT,
            ['const uint8_t *message = (const uint8_t *)"conformance";'],
            ["message", "11"],
        )
        yield base.case("before-init", [], "UNAVAILABLE")
        base = _base(
            init,
            Phase.BOOT,
            ["uint8_t *buffer = ARENA_ALIGNED(1024, 512);", "uint32_t length = 1024;"],
            ["buffer", "length"],
        )
        yield from bad_buffer(base, "buffer", "1024", writes=True)
        yield base.case("buffer=misaligned", ["buffer = buffer + 1;"], "INVALIDBUFFERALIGNMENT")
        yield base.case("length=0", ["length = 0;"], "INVALIDBUFFERSIZE")
        yield base.case(
            "length=100",
            ["length = 100;"],
            "INVALIDBUFFERSIZE",
            "default rule: a multiple of 512 bytes, at least 1024",
        )
        base = _base(
            log,
            Phase.HANDLES,
            ['const uint8_t *message = (const uint8_t *)"conformance";', "uint16_t length = 11;"],
            ["message", "length"],
        )
        yield from bad_buffer(base, "message", "11", writes=False)
        yield base.case(
            "length=65535",
            ["message = (const uint8_t *)RAM_BASE;", "length = 0xFFFF;"],
            "LOGMESSAGETOOLONG",
            "default limit: 1024 bytes",
        )


def _power_and_system() -> Iterator[Case]:
    yield _base("mvPowerSave", Phase.BOOT, [], ["(enum MvPowerSavingMode)5"]).case(
        "mode=5", [], "PARAMETERFAULT"
    )
    yield _base("mvDeepSleep", Phase.BOOT, [], ["(enum MvDeepSleepMode)2"]).case(
        "mode=2", [], "PARAMETERFAULT"
    )
    yield _base("mvRestart", Phase.BOOT, [], ["(enum MvRestartMode)1"]).case(
        "mode=1", [], "PARAMETERFAULT"
    )
    yield _base("mvSystemLedEnable", Phase.BOOT, [], ["2"]).case(
        "enable=2", [], "PARAMETERFAULT", "default: reserved values are rejected"
    )
    yield from _out_only("mvGetWakeReason", "enum MvWakeReason")

    setup = [
        "struct MvOpenSystemNotificationParams *params = ARENA(struct MvOpenSystemNotificationParams);",
        "params->notification_handle = g_notification;",
        "params->notification_tag = 0x300;",
        "params->notification_source = MV_SYSTEMNOTIFICATIONSOURCE_NETWORK;",
        "MvSystemEventHandle *handle = ARENA(MvSystemEventHandle);",
    ]
    base = _base("mvOpenSystemNotification", Phase.HANDLES, setup, ["params", "handle"])
    yield from bad_object(base, "params", "struct MvOpenSystemNotificationParams", writes=False)
    yield from bad_object(base, "handle", "MvSystemEventHandle", writes=True)
    yield from bad_handle(base, "params->notification_handle", "MvNotificationHandle", "g_network")
    yield base.case(
        "params->notification_source=7",
        ["params->notification_source = (enum MvSystemNotificationSource)7;"],
        "INVALIDHANDLE",
    )

    yield from _handle_pointer_call(
        "mvCloseSystemNotification",
        Phase.HANDLES,
        "MvSystemEventHandle",
        "g_system_event",
        "g_notification",
    )


def _external_flash() -> Iterator[Case]:
    base = _base(
        "mvExternalFlashOpen",
        Phase.BOOT,
        ["MvExternalFlashHandle *handle = ARENA(MvExternalFlashHandle);"],
        ["handle"],
    )
    yield from bad_object(base, "handle", "MvExternalFlashHandle", writes=True)

    yield from _handle_pointer_call(
        "mvExternalFlashClose", Phase.HANDLES, "MvExternalFlashHandle", "g_flash", "g_network"
    )

    base = _base(
        "mvExternalFlashGetInfo",
        Phase.HANDLES,
        [
            "MvExternalFlashHandle handle = g_flash;",
            "struct MvExternalFlashInfo *info = ARENA(struct MvExternalFlashInfo);",
            "info->version = 1;",
        ],
        ["handle", "info"],
    )
    yield from bad_object(base, "info", "struct MvExternalFlashInfo", writes=True)
    yield from bad_handle(base, "handle", "MvExternalFlashHandle", "g_network")
    for version in ("0", "2"):
        yield base.case(
            f"info->version={version}",
            [f"info->version = {version};"],
            "UNSUPPORTEDSTRUCTUREVERSION",
        )

    for call, writes in (
        ("mvExternalFlashReadBlocking", True),
        ("mvExternalFlashWriteBlocking", False),
    ):
        base = _base(
            call,
            Phase.HANDLES,
            [
                "MvExternalFlashHandle handle = g_flash;",
                "uint32_t address = 0;",
                "uint32_t length = 16;",
                "uint8_t *buffer = ARENA_BUFFER(16);",
            ],
            ["handle", "address", "length", "buffer"],
        )
        yield from bad_buffer(base, "buffer", "16", writes=writes)
        yield from bad_handle(base, "handle", "MvExternalFlashHandle", "g_network")
        yield base.case("address=end-8", ["address = g_flash_size - 8;"], "ADDRESSOUTOFRANGE")
        yield base.case("address=0xfffffff0", ["address = 0xFFFFFFF0u;"], "ADDRESSOUTOFRANGE")

    base = _base(
        "mvExternalFlashEraseBlocking",
        Phase.HANDLES,
        [
            "MvExternalFlashHandle handle = g_flash;",
            "uint32_t address = 0;",
            "uint32_t length = 4096;",
        ],
        ["handle", "address", "length"],
    )
    yield from bad_handle(base, "handle", "MvExternalFlashHandle", "g_network")
    yield base.case("address=1", ["address = 1;"], "INVALIDBUFFERALIGNMENT")
    yield base.case("length=100", ["length = 100;"], "INVALIDBUFFERALIGNMENT")
    yield base.case("address=end", ["address = g_flash_size;"], "ADDRESSOUTOFRANGE")


def _wifi() -> Iterator[Case]:
    setup = [
        "struct MvWifiConfig *params = ARENA(struct MvWifiConfig);",
        "params->version = 1;",
        "params->v1.config_mode = MV_WIFICONFIGMODE_APPLYNOW;",
        'params->v1.wifi_ssid.data = (const uint8_t *)"openvisor";',
        "params->v1.wifi_ssid.length = 9;",
        'params->v1.wifi_password.data = (const uint8_t *)"conformance";',
        "params->v1.wifi_password.length = 11;",
    ]
    base = _base("mvSetWifiConfig", Phase.BOOT, setup, ["params"])
    yield from bad_object(base, "params", "struct MvWifiConfig", writes=False)
    for member, length in (("wifi_ssid", "9"), ("wifi_password", "11")):
        for kind in IN_KINDS:
            yield base.case(
                f"params->v1.{member}.data={kind}",
                [f"params->v1.{member}.data = BAD_BUFFER({_KIND_MACRO[kind]}, {length});"],
                "PARAMETERFAULT",
            )
    yield base.case("params->version=2", ["params->version = 2;"], "UNSUPPORTEDSTRUCTUREVERSION")
    yield base.case(
        "params->v1.config_mode=7",
        ["params->v1.config_mode = (enum MvWifiConfigMode)7;"],
        "PARAMETERFAULT",
        "default: an unknown mode is a bad parameter",
    )
    yield base.case(
        "params->v1.wifi_ssid.length=33",
        [
            "params->v1.wifi_ssid.data = (const uint8_t *)RAM_BASE;",
            "params->v1.wifi_ssid.length = 33;",
        ],
        "INPUTTOOLONG",
        "default limit: 32-byte SSID",
    )
    yield base.case(
        "params->v1.wifi_password.length=65",
        [
            "params->v1.wifi_password.data = (const uint8_t *)RAM_BASE;",
            "params->v1.wifi_password.length = 65;",
        ],
        "INPUTTOOLONG",
        "default limit: 64-byte password",
    )

    setup = [
        "struct MvWifiConfigOut *params = ARENA(struct MvWifiConfigOut);",
        "params->version = 1;",
        "params->v1.ssid.data = ARENA_BUFFER(32);",
        "params->v1.ssid.size = 32;",
        "params->v1.ssid.length = ARENA(uint32_t);",
        "params->v1.has_encryption = ARENA(uint8_t);",
    ]
    base = _base("mvGetWifiConfig", Phase.BOOT, setup, ["params"])
    yield from bad_object(base, "params", "struct MvWifiConfigOut", writes=False)
    yield from bad_buffer(base, "params->v1.ssid.data", "32", writes=True)
    yield from bad_object(base, "params->v1.ssid.length", "uint32_t", writes=True)
    yield from bad_object(base, "params->v1.has_encryption", "uint8_t", writes=True)
    yield base.case("params->version=2", ["params->version = 2;"], "UNSUPPORTEDSTRUCTUREVERSION")


BASIC_FAMILIES = (
    _time_and_device,
    _peripherals,
    _fast_interrupts,
    _logging,
    _power_and_system,
    _notifications,
    _network,
    _external_flash,
    _wifi,
)
"""Case generators for every call outside the channel families."""
