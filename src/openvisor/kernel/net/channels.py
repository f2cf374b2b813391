"""Channels: mvOpenChannel, mvCloseChannel, mvGetChannelClosureReason and the
opaque-bytes calls mvWriteChannel, mvWriteChannelStream, mvReadChannel and
mvReadChannelComplete.

A channel is a pair of app buffers (both a multiple of 512 bytes and
512-byte aligned) bound to a notification centre and a network request.
The HTTP, config-fetch and MQTT families keep their request state in
``Channel.family`` and register a receiver for cloud messages in
`RECEIVERS`. Opaque-bytes data from the cloud is copied into the receive
buffer from its start. `mvReadChannelComplete` moves unread bytes back to
the start, and bytes that do not fit wait in the kernel until there is room.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from openvisor.kernel.abi import MvChannelType, MvClosureReason, MvEventType, MvStatus, StatusError
from openvisor.kernel.calls.notifications import NotificationCentre, NotificationCentres
from openvisor.kernel.gateway import syscall
from openvisor.kernel.handles import HandleKind
from openvisor.kernel.net.state import NetState, NetworkRequest
from openvisor.kernel.structs import OPEN_CHANNEL_PARAMS
from openvisor.link import messages as msg

if TYPE_CHECKING:
    from openvisor.kernel.kernel import Kernel

log = logging.getLogger(__name__)

MAX_CHANNELS = 4
OPENS_PER_SECOND = 8
BUFFER_UNIT = 512
MAX_ENDPOINT_LENGTH = 64
_ENDPOINT = re.compile(rb"^[A-Za-z0-9._:/-]+$")

Receiver = Callable[["Channel", msg.Message], None]
RECEIVERS: dict[MvChannelType, Receiver] = {}
"""Cloud-message handlers by channel type, registered by the family modules."""


@dataclass
class Channel:
    """One open channel and its app buffers."""

    kernel: Kernel
    handle: int
    channel_type: MvChannelType
    notification_handle: int
    tag: int
    receive_buffer: int
    receive_size: int
    send_buffer: int
    send_size: int
    endpoint: str
    closure_reason: MvClosureReason = MvClosureReason.NONE
    family: Any = None
    """Per-type state (HTTP request, config fetch, MQTT session)."""
    rx_length: int = 0
    """Opaque bytes: unread bytes at the start of the receive buffer."""
    rx_backlog: bytearray = field(default_factory=bytearray)
    """Opaque bytes: received bytes that do not fit the receive buffer yet."""

    @property
    def closed(self) -> bool:
        """Whether the channel was closed by the server or the network."""
        return self.closure_reason != MvClosureReason.NONE

    def check_open(self) -> None:
        """Raise CHANNELCLOSED if the server or the network closed the channel."""
        if self.closed:
            raise StatusError(MvStatus.CHANNELCLOSED, f"closed ({self.closure_reason.name})")

    def notify(self, event: MvEventType) -> None:
        """Post ``event`` with the channel's tag to its centre (emulation thread)."""
        self.kernel.family_state(NotificationCentres).post(
            self.notification_handle, event, self.tag
        )

    def send(self, message: msg.Message) -> bool:
        """Send ``message`` to the cloud; a dead link closes the channel."""
        link = self.kernel.link
        if link is not None and link.send(message):
            return True
        log.info(
            "Close channel, link is down (device=%s, channel=%#010x)",
            self.kernel.device_id,
            self.handle,
        )
        self.kernel.call_soon(lambda kernel: self.close_remote(MvClosureReason.NETWORKDISCONNECTED))
        return False

    def receive(self, message: msg.Message) -> None:
        """Apply a cloud message for this channel (emulation thread)."""
        if isinstance(message, msg.ChannelClose):
            try:
                reason = MvClosureReason(message.reason)
            except ValueError:
                reason = MvClosureReason.CHANNELCLOSEDBYSERVER
            self.close_remote(reason)
            return
        if self.closed:
            return
        receiver = RECEIVERS.get(self.channel_type)
        if receiver is not None:
            receiver(self, message)

    def close_remote(self, reason: MvClosureReason) -> None:
        """Mark the channel closed by the server or network and tell the app once."""
        if self.closed or self.handle not in self.kernel.family_state(NetState).channels:
            return
        self.closure_reason = reason
        log.info(
            "Close channel remotely (device=%s, channel=%#010x, reason=%s)",
            self.kernel.device_id,
            self.handle,
            reason.name,
        )
        self.notify(MvEventType.CHANNELNOTCONNECTED)

    def forget(self) -> None:
        """Tell the cloud the channel is gone (the app closed it or restarted)."""
        if not self.closed and self.kernel.link is not None:
            self.kernel.link.send(
                msg.ChannelClose(channel=self.handle, reason=MvClosureReason.CLOSEDBYAPPLICATION)
            )

    # ------------------------------------------------------------ opaque bytes

    def accept_bytes(self, data: bytes) -> None:
        """Place received bytes in the receive buffer or the backlog, then notify."""
        self.rx_backlog.extend(data)
        if self._fill_from_backlog():
            self.notify(MvEventType.CHANNELDATAREADABLE)

    def _fill_from_backlog(self) -> int:
        room = self.receive_size - self.rx_length
        chunk = bytes(self.rx_backlog[:room])
        if not chunk:
            return 0
        del self.rx_backlog[: len(chunk)]
        self.kernel.memory.write(self.receive_buffer + self.rx_length, chunk)
        self.rx_length += len(chunk)
        return len(chunk)


def lookup_channel(
    kernel: Kernel, handle: int, channel_type: MvChannelType | None = None
) -> Channel:
    """Return the live channel ``handle``; INVALIDHANDLE if it is not one of ``channel_type``."""
    channel = kernel.handles.lookup(HandleKind.CHANNEL, handle, Channel)
    if channel_type is not None and channel.channel_type != channel_type:
        raise StatusError(
            MvStatus.INVALIDHANDLE, f"{handle:#010x} is a {channel.channel_type.name} channel"
        )
    return channel


def _check_buffer(kernel: Kernel, address: int, size: int) -> None:
    kernel.memory.check_write(address, size)
    if address % BUFFER_UNIT:
        raise StatusError(MvStatus.INVALIDBUFFERALIGNMENT, f"buffer {address:#010x}")
    if size == 0 or size % BUFFER_UNIT:
        raise StatusError(MvStatus.INVALIDBUFFERSIZE, f"buffer size {size}")


@syscall("mvOpenChannel")
def open_channel(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Open a channel from ``*r0`` (MvOpenChannelParams) and write its handle to ``*r1``."""
    memory = kernel.memory
    memory.check_read_struct(r0, OPEN_CHANNEL_PARAMS)
    memory.check_write(r1, 4, align=4)
    params = memory.read_struct(r0, OPEN_CHANNEL_PARAMS)
    if params["version"] != 1:
        raise StatusError(MvStatus.UNSUPPORTEDSTRUCTUREVERSION, f"version {params['version']}")
    rx, rx_size = params["v1.receive_buffer"], params["v1.receive_buffer_len"]
    tx, tx_size = params["v1.send_buffer"], params["v1.send_buffer_len"]
    memory.check_write(rx, rx_size)
    memory.check_write(tx, tx_size)
    endpoint = memory.read(params["v1.endpoint.data"], params["v1.endpoint.length"])

    kernel.handles.lookup(
        HandleKind.NOTIFICATION, params["v1.notification_handle"], NotificationCentre
    )
    kernel.handles.lookup(HandleKind.NETWORK, params["v1.network_handle"], NetworkRequest)
    _check_buffer(kernel, tx, tx_size)
    _check_buffer(kernel, rx, rx_size)
    try:
        channel_type = MvChannelType(params["v1.channel_type"])
    except ValueError:
        raise StatusError(
            MvStatus.UNKNOWNCHANNELTYPE, f"channel type {params['v1.channel_type']}"
        ) from None
    if channel_type == MvChannelType.OPAQUEBYTES and (
        len(endpoint) > MAX_ENDPOINT_LENGTH or not _ENDPOINT.fullmatch(endpoint)
    ):
        raise StatusError(MvStatus.UNKNOWNCHANNELENDPOINT, f"endpoint {endpoint!r}")

    state = kernel.family_state(NetState)
    if not state.link_online or kernel.link is None:
        raise StatusError(MvStatus.NETWORKNOTCONNECTED)
    now = kernel.micros()
    state.open_times_us[:] = [t for t in state.open_times_us if now - t < 1_000_000]
    if len(state.open_times_us) >= OPENS_PER_SECOND:
        raise StatusError(MvStatus.RATELIMITED, f"{OPENS_PER_SECOND} opens in the last second")
    if len(state.channels) >= MAX_CHANNELS:
        raise StatusError(MvStatus.TOOMANYCHANNELS, f"{MAX_CHANNELS} channels open")

    channel = Channel(
        kernel=kernel,
        handle=0,
        channel_type=channel_type,
        notification_handle=params["v1.notification_handle"],
        tag=params["v1.notification_tag"],
        receive_buffer=rx,
        receive_size=rx_size,
        send_buffer=tx,
        send_size=tx_size,
        endpoint=endpoint.decode("ascii", errors="replace"),
    )
    channel.handle = kernel.handles.allocate(HandleKind.CHANNEL, channel)
    state.channels[channel.handle] = channel
    state.open_times_us.append(now)
    memory.write_u32(r1, channel.handle)
    channel.send(
        msg.ChannelOpen(
            channel=channel.handle, channel_type=int(channel_type), endpoint=channel.endpoint
        )
    )
    log.info(
        "Open channel (device=%s, channel=%#010x, type=%s)",
        kernel.device_id,
        channel.handle,
        channel_type.name,
    )
    return MvStatus.OKAY


@syscall("mvCloseChannel")
def close_channel(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Close the channel named by ``*r0`` and write 0 there."""
    memory = kernel.memory
    memory.check_write(r0, 4, align=4)
    handle = memory.read_u32(r0)
    channel = lookup_channel(kernel, handle)
    kernel.handles.release(HandleKind.CHANNEL, handle)
    kernel.family_state(NetState).channels.pop(handle, None)
    channel.forget()
    memory.write_u32(r0, 0)
    log.info("Close channel (device=%s, channel=%#010x)", kernel.device_id, handle)
    return MvStatus.OKAY


@syscall("mvGetChannelClosureReason")
def get_channel_closure_reason(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Write why channel ``r0`` closed (NONE while open) to ``*r1``."""
    kernel.memory.check_write(r1, 4, align=4)
    channel = lookup_channel(kernel, r0)
    kernel.memory.write_u32(r1, channel.closure_reason)
    return MvStatus.OKAY


def _write_bytes(kernel: Kernel, channel: Channel, data: bytes) -> None:
    channel.send(msg.ChannelData(channel=channel.handle, data=data))


@syscall("mvWriteChannel")
def write_channel(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Send all ``r2`` bytes at ``r1`` or none; write the free send space to ``*r3``."""
    memory = kernel.memory
    memory.check_read(r1, r2)
    memory.check_write(r3, 4, align=4)
    channel = lookup_channel(kernel, r0, MvChannelType.OPAQUEBYTES)
    channel.check_open()
    # Data leaves for the cloud at once, so the whole send buffer is free again
    # after every call.
    if r2 > channel.send_size:
        raise StatusError(
            MvStatus.INVALIDBUFFERSIZE, f"{r2} bytes > send buffer {channel.send_size}"
        )
    if r2:
        _write_bytes(kernel, channel, memory.read(r1, r2))
    memory.write_u32(r3, channel.send_size)
    return MvStatus.OKAY


@syscall("mvWriteChannelStream")
def write_channel_stream(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Send as many of the ``r2`` bytes at ``r1`` as fit; write the count to ``*r3``."""
    memory = kernel.memory
    memory.check_read(r1, r2)
    memory.check_write(r3, 4, align=4)
    channel = lookup_channel(kernel, r0, MvChannelType.OPAQUEBYTES)
    channel.check_open()
    count = min(r2, channel.send_size)
    if count:
        _write_bytes(kernel, channel, memory.read(r1, count))
    memory.write_u32(r3, count)
    return MvStatus.OKAY


@syscall("mvReadChannel")
def read_channel(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Write a pointer to the unread bytes to ``*r1`` and their count to ``*r2``."""
    memory = kernel.memory
    memory.check_write(r1, 4, align=4)
    memory.check_write(r2, 4, align=4)
    channel = lookup_channel(kernel, r0, MvChannelType.OPAQUEBYTES)
    channel.check_open()
    memory.write_u32(r1, channel.receive_buffer)
    memory.write_u32(r2, channel.rx_length)
    return MvStatus.OKAY


@syscall("mvReadChannelComplete")
def read_channel_complete(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Release the first ``r1`` unread bytes of channel ``r0``."""
    channel = lookup_channel(kernel, r0, MvChannelType.OPAQUEBYTES)
    channel.check_open()
    if r1 > channel.rx_length:
        raise StatusError(MvStatus.INVALIDBUFFERSIZE, f"{r1} bytes > {channel.rx_length} unread")
    remaining = channel.rx_length - r1
    if r1 and remaining:
        tail = kernel.memory.read(channel.receive_buffer + r1, remaining)
        kernel.memory.write(channel.receive_buffer, tail)
    channel.rx_length = remaining
    if channel._fill_from_backlog():
        channel.notify(MvEventType.CHANNELDATAREADABLE)
    return MvStatus.OKAY


def _receive_opaque(channel: Channel, message: msg.Message) -> None:
    if isinstance(message, msg.ChannelData):
        channel.accept_bytes(message.data)


RECEIVERS[MvChannelType.OPAQUEBYTES] = _receive_opaque


def read_nested(kernel: Kernel, address: int, size: int) -> bytes:
    """Read bytes named by a pointer inside a request structure.

    A bad nested pointer in an HTTP, config or MQTT request is LATEFAULT, as
    the SDK header documents for these calls. Nothing is sent, and the app
    is expected to close the channel.
    """
    try:
        return kernel.memory.read(address, size)
    except StatusError as exc:
        raise StatusError(MvStatus.LATEFAULT, f"nested pointer: {exc}") from None


def read_nested_struct(kernel: Kernel, address: int, layout: Any) -> dict[str, int]:
    """Read a structure named by a pointer inside a request; LATEFAULT if it is bad."""
    try:
        return kernel.memory.read_struct(address, layout)
    except StatusError as exc:
        raise StatusError(MvStatus.LATEFAULT, f"nested {layout.name}: {exc}") from None
