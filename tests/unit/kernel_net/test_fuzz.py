"""Random arguments to every network-family call never escape as Python errors."""

from __future__ import annotations

import functools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openvisor.kernel.abi import CALL_ADDRESSES, MvStatus
from openvisor.kernel.gateway import registered
from openvisor.kernel.structs import NOTIFICATION_SETUP, OPEN_CHANNEL_PARAMS, REQUEST_NETWORK_PARAMS
from openvisor.link import messages as msg

App = Any  # tests/unit/kernel_net/conftest.py: App
DEVICE = "UV" + "5" * 32

NET_CALLS = sorted(
    name
    for name, address in CALL_ADDRESSES.items()
    if address in registered()
    and registered()[address].handler.__module__.startswith("openvisor.kernel.net")
)


def prepare(app: App) -> list[int]:
    """Open a centre, a network request and one channel of each type with queued replies."""
    ring = app.alloc(128, 8)
    out = app.alloc(4)
    app.call(
        "mvSetupNotifications",
        app.put_struct(NOTIFICATION_SETUP, irq=51, buffer=ring, buffer_size=128),
        out,
    )
    centre = app.u32(out)
    app.call(
        "mvRequestNetwork",
        app.put_struct(REQUEST_NETWORK_PARAMS, version=1, v1__notification_handle=centre),
        out,
    )
    network = app.u32(out)
    handles = [centre, network]
    for channel_type in range(4):
        rx, tx = app.alloc(1024, 512), app.alloc(1024, 512)
        params = app.put_struct(
            OPEN_CHANNEL_PARAMS,
            version=1,
            v1__notification_handle=centre,
            v1__network_handle=network,
            v1__receive_buffer=rx,
            v1__receive_buffer_len=1024,
            v1__send_buffer=tx,
            v1__send_buffer_len=1024,
            v1__channel_type=channel_type,
            v1__endpoint__data=app.put(b"echo"),
            v1__endpoint__length=4,
        )
        assert app.call("mvOpenChannel", params, out) == MvStatus.OKAY
        handles.append(app.u32(out))

    _, _, opaque, mqtt, http, config = handles

    send = app.service.send
    send(DEVICE, msg.ChannelData(channel=opaque, data=b"abc"))
    send(DEVICE, msg.HttpResponse(channel=http, status_code=200, headers=(b"A: b",), body=b"x"))
    send(DEVICE, msg.ConfigFetchResponse(channel=config, items=(msg.ConfigItem(0, b"v"),)))
    for event, args in [
        ("connect", {"request_state": 0, "reason_code": 0}),
        ("subscribe", {"request_state": 0, "reason_codes": [1, 2]}),
        ("message", {"topic": b"t", "payload": b"p", "qos": 1}),
        ("publish", {"request_state": 0}),
        ("unsubscribe", {"request_state": 0, "reason_codes": []}),
        ("disconnect", {"request_state": 0, "disconnect_code": 0}),
    ]:
        send(DEVICE, msg.MqttEvent(channel=mqtt, event=event, correlation_id=3, args=args))
    app.pump()
    return handles


@functools.cache
def program(handles: tuple[int, ...]) -> st.SearchStrategy[list[tuple[str, list[int], bytes, int]]]:
    """A list of calls: name, four arguments, and bytes to scribble over SRAM first."""
    argument = st.one_of(
        st.sampled_from(handles),
        st.integers(0x2000_0000, 0x2008_0000 + 64),
        st.integers(0x0800_0000, 0x0810_0000),
        st.sampled_from([0, 1, 0xFFFF_FFFF, 0x0C00_0000, 0x3000_0000, 0x2007_FFFE]),
        st.integers(0, 0xFFFF_FFFF),
    )
    call = st.tuples(
        st.sampled_from(NET_CALLS),
        st.lists(argument, min_size=4, max_size=4),
        st.binary(max_size=48),
        st.integers(0x2000_1000, 0x2000_9000),
    )
    return st.lists(call, min_size=1, max_size=40)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_net_calls_return_documented_statuses(make_app: Any, data: st.DataObject) -> None:
    app = make_app()
    handles = prepare(app)
    documented = {int(status) for status in MvStatus} - {int(MvStatus.INTERNALERROR)}
    for name, args, scribble, where in data.draw(program(tuple(handles))):
        # Scribbling over SRAM garbles the structures the earlier calls set up.
        if scribble:
            app.machine.mem_write(where, scribble)
        status = app.call(name, *args)
        assert status in documented, (name, [hex(a) for a in args], status)
        app.pump()
