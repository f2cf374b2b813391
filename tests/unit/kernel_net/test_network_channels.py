"""Network requests, channel lifetime, opaque bytes and server-log delivery."""

from __future__ import annotations

from typing import Any

from openvisor.kernel.abi import (
    MvChannelType,
    MvClosureReason,
    MvEventType,
    MvNetworkReason,
    MvNetworkStatus,
    MvStatus,
    MvWakeReason,
)
from openvisor.kernel.crash import CrashLog, CrashReport
from openvisor.kernel.structs import NOTIFICATION_SETUP, OPEN_CHANNEL_PARAMS, REQUEST_NETWORK_PARAMS
from openvisor.link import messages as msg

SLOTS = 8
IRQ = 51  # the centre IRQ the app fixture's tests use (TIM8_BRK)
DEVICE = "UV" + "5" * 32  # the app fixture's device id

App = Any  # tests/unit/kernel_net/conftest.py: App


def setup_centre(app: App) -> tuple[int, int]:
    """Open a notification centre; return (handle, ring buffer address)."""
    ring = app.alloc(16 * SLOTS, 8)
    setup = app.put_struct(NOTIFICATION_SETUP, irq=IRQ, buffer=ring, buffer_size=16 * SLOTS)
    out = app.alloc(4)
    assert app.call("mvSetupNotifications", setup, out) == MvStatus.OKAY
    return app.u32(out), ring


def request_network(app: App, centre: int, tag: int = 0x11) -> int:
    params = app.put_struct(
        REQUEST_NETWORK_PARAMS, version=1, v1__notification_handle=centre, v1__notification_tag=tag
    )
    out = app.alloc(4)
    assert app.call("mvRequestNetwork", params, out) == MvStatus.OKAY
    return app.u32(out)


def open_params(
    app: App,
    centre: int,
    network: int,
    channel_type: int,
    *,
    endpoint: bytes = b"",
    **overrides: int,
) -> int:
    rx = app.alloc(1024, 512)
    tx = app.alloc(1024, 512)
    text = app.put(endpoint or b"x")
    values = {
        "version": 1,
        "v1__notification_handle": centre,
        "v1__notification_tag": 0x22,
        "v1__network_handle": network,
        "v1__receive_buffer": rx,
        "v1__receive_buffer_len": 1024,
        "v1__send_buffer": tx,
        "v1__send_buffer_len": 1024,
        "v1__channel_type": channel_type,
        "v1__endpoint__data": text,
        "v1__endpoint__length": len(endpoint),
    }
    values.update(overrides)
    return app.put_struct(OPEN_CHANNEL_PARAMS, **values)


def open_channel(app: App, centre: int, network: int, channel_type: int, **kwargs: object) -> int:
    params = open_params(app, centre, network, channel_type, **kwargs)  # type: ignore[arg-type]
    out = app.alloc(4)
    status = app.call("mvOpenChannel", params, out)
    assert status == MvStatus.OKAY, MvStatus(status).name
    return app.u32(out)


def test_request_network_connects_and_notifies(app: App) -> None:
    centre, ring = setup_centre(app)
    handle = request_network(app, centre, tag=0x33)
    status_out = app.alloc(4)
    assert app.call("mvGetNetworkStatus", handle, status_out) == MvStatus.OKAY
    assert app.u32(status_out) == MvNetworkStatus.CONNECTED
    assert app.notifications(ring, SLOTS) == [(MvEventType.NETWORKSTATUSCHANGED, 0x33)]
    assert IRQ in app.machine.pended

    reasons, count = app.alloc(4), app.alloc(4)
    assert app.call("mvGetNetworkReasons", reasons, count) == MvStatus.OKAY
    assert app.u32(count) == 1
    assert app.u32(reasons) & MvNetworkReason.USINGNETWORK


def test_link_loss_sets_connecting(app: App) -> None:
    centre, ring = setup_centre(app)
    handle = request_network(app, centre)
    app.hub.set_reachable(DEVICE, False)
    app.pump()
    status_out = app.alloc(4)
    app.call("mvGetNetworkStatus", handle, status_out)
    assert app.u32(status_out) == MvNetworkStatus.CONNECTING
    assert len(app.notifications(ring, SLOTS)) == 2


def test_release_network_zeroes_handle(app: App) -> None:
    centre, _ = setup_centre(app)
    handle = request_network(app, centre)
    slot = app.put(handle.to_bytes(4, "little"))
    assert app.call("mvReleaseNetwork", slot) == MvStatus.OKAY
    assert app.u32(slot) == 0
    assert app.net.request_count() == 0
    assert app.call("mvReleaseNetwork", slot) == MvStatus.INVALIDHANDLE
    assert app.call("mvGetNetworkStatus", handle, app.alloc(4)) == MvStatus.INVALIDHANDLE


def test_request_network_errors(app: App) -> None:
    centre, _ = setup_centre(app)
    out = app.alloc(4)
    bad_version = app.put_struct(REQUEST_NETWORK_PARAMS, version=2, v1__notification_handle=centre)
    assert app.call("mvRequestNetwork", bad_version, out) == MvStatus.UNSUPPORTEDSTRUCTUREVERSION
    bad_centre = app.put_struct(REQUEST_NETWORK_PARAMS, version=1, v1__notification_handle=77)
    assert app.call("mvRequestNetwork", bad_centre, out) == MvStatus.PARAMETERFAULT
    good = app.put_struct(REQUEST_NETWORK_PARAMS, version=1, v1__notification_handle=centre)
    assert app.call("mvRequestNetwork", 0x1000_0000, out) == MvStatus.PARAMETERFAULT
    assert app.call("mvRequestNetwork", good, 0x0800_0000) == MvStatus.PARAMETERFAULT
    for _ in range(16):
        assert app.call("mvRequestNetwork", good, out) == MvStatus.OKAY
    assert app.call("mvRequestNetwork", good, out) == MvStatus.PARAMETERFAULT
    assert app.net.request_count() == 16


def test_open_channel_rules(app: App) -> None:
    centre, _ = setup_centre(app)
    network = request_network(app, centre)
    out = app.alloc(4)
    http = MvChannelType.HTTP

    def status(**overrides: int) -> int:
        return app.call("mvOpenChannel", open_params(app, centre, network, http, **overrides), out)

    assert status(version=2) == MvStatus.UNSUPPORTEDSTRUCTUREVERSION
    assert status(v1__send_buffer=0x2000_0100) == MvStatus.INVALIDBUFFERALIGNMENT
    assert status(v1__receive_buffer_len=700) == MvStatus.INVALIDBUFFERSIZE
    assert status(v1__send_buffer_len=0) == MvStatus.INVALIDBUFFERSIZE
    assert status(v1__channel_type=9) == MvStatus.UNKNOWNCHANNELTYPE
    assert status(v1__network_handle=5) == MvStatus.INVALIDHANDLE
    assert status(v1__notification_handle=5) == MvStatus.INVALIDHANDLE
    assert status(v1__receive_buffer=0x0800_0000) == MvStatus.PARAMETERFAULT
    bad_endpoint = open_params(app, centre, network, MvChannelType.OPAQUEBYTES, endpoint=b"a b")
    assert app.call("mvOpenChannel", bad_endpoint, out) == MvStatus.UNKNOWNCHANNELENDPOINT
    assert app.net.channels == {}

    for _ in range(4):
        open_channel(app, centre, network, http)
    assert status() == MvStatus.TOOMANYCHANNELS
    opens = [m for m in app.received if isinstance(m, msg.ChannelOpen)]
    assert len(opens) == 4
    assert opens[0].channel_type == http


def test_open_channel_rate_limit(app: App) -> None:
    centre, _ = setup_centre(app)
    network = request_network(app, centre)
    out = app.alloc(4)
    for _ in range(8):
        handle = open_channel(app, centre, network, MvChannelType.HTTP)
        slot = app.put(handle.to_bytes(4, "little"))
        assert app.call("mvCloseChannel", slot) == MvStatus.OKAY
    params = open_params(app, centre, network, MvChannelType.HTTP)
    assert app.call("mvOpenChannel", params, out) == MvStatus.RATELIMITED
    app.machine.now_us += 1_000_001
    assert app.call("mvOpenChannel", params, out) == MvStatus.OKAY


def test_open_channel_needs_network(app: App) -> None:
    centre, _ = setup_centre(app)
    network = request_network(app, centre)
    app.hub.set_reachable(DEVICE, False)
    app.pump()
    params = open_params(app, centre, network, MvChannelType.HTTP)
    assert app.call("mvOpenChannel", params, app.alloc(4)) == MvStatus.NETWORKNOTCONNECTED


def test_close_and_closure_reason(app: App) -> None:
    centre, ring = setup_centre(app)
    network = request_network(app, centre)
    handle = open_channel(app, centre, network, MvChannelType.OPAQUEBYTES, endpoint=b"echo")
    reason = app.alloc(4)
    assert app.call("mvGetChannelClosureReason", handle, reason) == MvStatus.OKAY
    assert app.u32(reason) == MvClosureReason.NONE

    app.hub.set_reachable(DEVICE, False)
    app.pump()
    assert app.call("mvGetChannelClosureReason", handle, reason) == MvStatus.OKAY
    assert app.u32(reason) == MvClosureReason.NETWORKDISCONNECTED
    assert (MvEventType.CHANNELNOTCONNECTED, 0x22) in app.notifications(ring, SLOTS)
    assert app.call("mvReadChannel", handle, app.alloc(4), app.alloc(4)) == MvStatus.CHANNELCLOSED

    slot = app.put(handle.to_bytes(4, "little"))
    assert app.call("mvCloseChannel", slot) == MvStatus.OKAY
    assert app.u32(slot) == 0
    assert app.call("mvGetChannelClosureReason", handle, reason) == MvStatus.INVALIDHANDLE


def test_opaque_bytes_echo(app: App) -> None:
    def echo(device_id: str, message: msg.Message) -> None:
        if isinstance(message, msg.ChannelData):
            app.service.send(device_id, msg.ChannelData(channel=message.channel, data=message.data))

    app.service.on_message(echo)
    centre, ring = setup_centre(app)
    network = request_network(app, centre)
    handle = open_channel(app, centre, network, MvChannelType.OPAQUEBYTES, endpoint=b"echo")
    data = app.put(b"hello world")
    available = app.alloc(4)
    assert app.call("mvWriteChannel", handle, data, 11, available) == MvStatus.OKAY
    assert app.u32(available) == 1024
    app.pump()
    assert (MvEventType.CHANNELDATAREADABLE, 0x22) in app.notifications(ring, SLOTS)

    pointer, length = app.alloc(4), app.alloc(4)
    assert app.call("mvReadChannel", handle, pointer, length) == MvStatus.OKAY
    assert app.u32(length) == 11
    assert app.machine.mem_read(app.u32(pointer), 11) == b"hello world"
    assert app.call("mvReadChannelComplete", handle, 6) == MvStatus.OKAY
    app.call("mvReadChannel", handle, pointer, length)
    assert app.u32(length) == 5
    assert app.machine.mem_read(app.u32(pointer), 5) == b"world"
    assert app.call("mvReadChannelComplete", handle, 6) == MvStatus.INVALIDBUFFERSIZE


def test_opaque_backlog_and_stream_write(app: App) -> None:
    centre, _ = setup_centre(app)
    network = request_network(app, centre)
    handle = open_channel(app, centre, network, MvChannelType.OPAQUEBYTES, endpoint=b"sink")
    app.service.send(DEVICE, msg.ChannelData(channel=handle, data=bytes(range(256)) * 6))
    app.pump()
    pointer, length = app.alloc(4), app.alloc(4)
    app.call("mvReadChannel", handle, pointer, length)
    assert app.u32(length) == 1024
    assert app.call("mvReadChannelComplete", handle, 1024) == MvStatus.OKAY
    app.call("mvReadChannel", handle, pointer, length)
    assert app.u32(length) == 512
    assert app.machine.mem_read(app.u32(pointer), 4) == bytes([0, 1, 2, 3])

    data = app.put(b"z" * 2000)
    written = app.alloc(4)
    assert app.call("mvWriteChannelStream", handle, data, 2000, written) == MvStatus.OKAY
    assert app.u32(written) == 1024
    assert app.call("mvWriteChannel", handle, data, 2000, written) == MvStatus.INVALIDBUFFERSIZE
    sent = [m for m in app.received if isinstance(m, msg.ChannelData)]
    assert [len(m.data) for m in sent] == [1024]


def test_server_logs_flow_to_link(app: App) -> None:
    buffer = app.alloc(1024, 512)
    assert app.call("mvServerLoggingInit", buffer, 1024) == MvStatus.OKAY
    text = app.put(b"hello log")
    assert app.call("mvServerLog", text, 9) == MvStatus.OKAY
    app.pump()
    batches = [m for m in app.received if isinstance(m, msg.LogBatch)]
    assert [r.text for b in batches for r in b.records] == [b"hello log"]
    first_seq = batches[0].records[0].seq
    assert first_seq >> 32 >= 1

    app.hub.set_reachable(DEVICE, False)
    app.pump()
    assert app.call("mvServerLog", text, 9) == MvStatus.OKAY
    app.pump()
    assert sum(isinstance(m, msg.LogBatch) for m in app.received) == 1
    app.hub.set_reachable(DEVICE, True)
    app.pump()
    records = [r for m in app.received if isinstance(m, msg.LogBatch) for r in m.records]
    assert len(records) == 2
    assert records[1].seq == first_seq + 1


def test_logs_wait_without_network_request(app: App) -> None:
    centre, _ = setup_centre(app)
    handle = request_network(app, centre)
    slot = app.put(handle.to_bytes(4, "little"))
    app.call("mvReleaseNetwork", slot)
    buffer = app.alloc(1024, 512)
    app.call("mvServerLoggingInit", buffer, 1024)
    app.call("mvServerLog", app.put(b"held"), 4)
    app.pump()
    assert not any(isinstance(m, msg.LogBatch) for m in app.received)
    request_network(app, centre)
    app.pump()
    assert any(isinstance(m, msg.LogBatch) for m in app.received)


def test_time_and_logging_control(app: App) -> None:
    app.service.send(DEVICE, msg.TimeSync(unix_micros=1_800_000_000_000_000))
    app.service.send(DEVICE, msg.LoggingControl(enabled=False))
    app.pump()
    wall = app.kernel.wall_time_us()
    assert wall is not None
    assert abs(wall - 1_800_000_000_000_000) < 1_000_000
    buffer = app.alloc(1024, 512)
    app.call("mvServerLoggingInit", buffer, 1024)
    assert app.call("mvServerLog", app.put(b"x"), 1) == MvStatus.LOGGINGDISABLEDBYSERVER


def test_crash_reports_flow_to_link(app: App) -> None:
    report = CrashReport(
        kind="fault",
        detail="read of secure memory",
        micros=5_000,
        uptime_us=1_000,
        pc=0x0800_0100,
        lr=0x0800_0201,
        sp=0x2000_1000,
        xpsr=0x0100_0000,
        fault_address=0x3000_0000,
        access="read",
        registers={"r0": 1},
        stack="00ff",
    )
    app.hub.set_reachable(DEVICE, False)
    app.pump()
    app.kernel.family_state(CrashLog).record(report)
    app.kernel.app_restarted(MvWakeReason.APPLICATIONCRASH)
    assert app.kernel.family_state(CrashLog).reports == []
    assert app.link.pending() == 1
    assert not any(isinstance(m, msg.Report) for m in app.received)

    app.hub.set_reachable(DEVICE, True)
    reports = [m for m in app.received if isinstance(m, msg.Report)]
    assert len(reports) == 1
    assert reports[0].report_kind == "crash"
    assert reports[0].body["pc"] == 0x0800_0100
    assert reports[0].body["fault_address"] == 0x3000_0000
    assert reports[0].report_id.startswith(DEVICE)


def test_offline_logs_dated_after_time_sync(app: App) -> None:
    buffer = app.alloc(1024, 512)
    assert app.call("mvServerLoggingInit", buffer, 1024) == MvStatus.OKAY
    app.kernel.clear_wall_time()
    app.hub.set_reachable(DEVICE, False)
    app.pump()
    assert app.kernel.wall_time_us() is None
    app.machine.now_us = 1_000_000
    assert app.call("mvServerLog", app.put(b"offline"), 7) == MvStatus.OKAY
    app.machine.now_us = 3_000_000
    app.kernel.sync_wall_time(1_800_000_000_000_000)
    app.hub.set_reachable(DEVICE, True)
    app.pump()
    (batch,) = [m for m in app.received if isinstance(m, msg.LogBatch)]
    (record,) = batch.records
    assert record.micros == app.kernel.micros() - 2_000_000
    assert record.unix_micros == 1_800_000_000_000_000 - 2_000_000
    assert batch.sent_micros == app.kernel.micros()


def test_restored_logs_carry_no_age(app: App) -> None:
    from openvisor.kernel import Kernel
    from openvisor.kernel.net import attach

    buffer = app.alloc(1024, 512)
    app.call("mvServerLoggingInit", buffer, 1024)
    app.kernel.clear_wall_time()
    app.hub.set_reachable(DEVICE, False)
    app.pump()
    app.machine.now_us = 5_000_000
    assert app.call("mvServerLog", app.put(b"earlier process"), 15) == MvStatus.OKAY
    app.kernel.flush()

    # A new process: a new kernel on the same state directory and link.
    restarted = Kernel(device_id=DEVICE, state_dir=app.kernel.state_dir, link=app.link, seed=2)
    restarted.attach(type(app.machine)())
    restarted.clear_wall_time()
    attach(restarted)
    app.hub.set_reachable(DEVICE, True)
    restarted.run_pending()
    records = [r for m in app.received if isinstance(m, msg.LogBatch) for r in m.records]
    batches = [m for m in app.received if isinstance(m, msg.LogBatch)]
    assert [r.text for r in records] == [b"earlier process"]
    assert records[0].unix_micros is None
    assert batches[0].sent_micros is None
