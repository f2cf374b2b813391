"""Config and secret fetches: mvSendConfigFetchRequest,
mvReadConfigFetchResponseData and mvReadConfigResponseItem.

One fetch per channel, of at most 16 keys. Keys are 1 to 100 printable
ASCII characters. The request must fit the send buffer, counted as each
key's length plus 16 bytes, plus 64 bytes of framing. The response is
counted the same way against the receive buffer, and a response that does
not fit reports RESPONSETOOLARGE with no items.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from openvisor.kernel.abi import (
    MvChannelType,
    MvConfigFetchResult,
    MvConfigKeyFetchResult,
    MvConfigKeyFetchScope,
    MvConfigKeyFetchStore,
    MvEventType,
    MvStatus,
    StatusError,
)
from openvisor.kernel.gateway import syscall
from openvisor.kernel.net.channels import (
    RECEIVERS,
    Channel,
    lookup_channel,
    read_nested,
    read_nested_struct,
)
from openvisor.kernel.structs import (
    CONFIG_KEY_FETCH_PARAMS,
    CONFIG_KEY_TO_FETCH,
    CONFIG_RESPONSE_DATA,
    CONFIG_RESPONSE_READ_ITEM_PARAMS,
)
from openvisor.link import messages as msg

if TYPE_CHECKING:
    from openvisor.kernel.kernel import Kernel

log = logging.getLogger(__name__)

MAX_KEYS = 16
MAX_KEY_LENGTH = 100
ITEM_OVERHEAD = 16
FRAMING_OVERHEAD = 64
_SCOPES = frozenset(int(scope) for scope in MvConfigKeyFetchScope)
_STORES = frozenset(int(store) for store in MvConfigKeyFetchStore)


@dataclass
class ConfigFetch:
    """The config-fetch state of one channel."""

    sent: bool = False
    response: msg.ConfigFetchResponse | None = None
    too_large: bool = False


def _fetch(channel: Channel) -> ConfigFetch:
    if channel.family is None:
        channel.family = ConfigFetch()
    fetch: ConfigFetch = channel.family
    return fetch


def _valid_key(key: bytes) -> bool:
    return 0 < len(key) <= MAX_KEY_LENGTH and all(0x20 <= byte < 0x7F for byte in key)


@syscall("mvSendConfigFetchRequest")
def send_config_fetch_request(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Send the fetch ``*r1`` (MvConfigKeyFetchParams) on config channel ``r0``."""
    kernel.memory.check_read_struct(r1, CONFIG_KEY_FETCH_PARAMS)
    channel = lookup_channel(kernel, r0, MvChannelType.CONFIGFETCH)
    channel.check_open()
    fetch = _fetch(channel)
    if fetch.sent:
        raise StatusError(MvStatus.REQUESTALREADYSENT)
    params = kernel.memory.read_struct(r1, CONFIG_KEY_FETCH_PARAMS)
    count = params["num_items"]
    if count > MAX_KEYS:
        raise StatusError(MvStatus.TOOMANYCONFIGKEYS, f"{count} keys > {MAX_KEYS}")

    keys = []
    for index in range(count):
        item = read_nested_struct(
            kernel, params["keys_to_fetch"] + index * CONFIG_KEY_TO_FETCH.size, CONFIG_KEY_TO_FETCH
        )
        key = read_nested(kernel, item["key.data"], item["key.length"])
        if item["scope"] not in _SCOPES:
            raise StatusError(MvStatus.UNKNOWNCONFIGSCOPE, f"scope {item['scope']}")
        if item["store"] not in _STORES:
            raise StatusError(MvStatus.UNKNOWNCONFIGSTORE, f"store {item['store']}")
        if not _valid_key(key):
            raise StatusError(MvStatus.INVALIDCONFIGKEY, f"key {key[:MAX_KEY_LENGTH]!r}")
        keys.append(
            msg.ConfigKey(scope=item["scope"], store=item["store"], key=key.decode("ascii"))
        )
    size = FRAMING_OVERHEAD + sum(len(key.key) + ITEM_OVERHEAD for key in keys)
    if size > channel.send_size:
        raise StatusError(MvStatus.INVALIDBUFFERSIZE, f"request {size} bytes > {channel.send_size}")

    fetch.sent = True
    channel.send(msg.ConfigFetchRequest(channel=channel.handle, keys=tuple(keys)))
    log.debug(
        "Send config fetch (device=%s, channel=%#010x, keys=%d)",
        kernel.device_id,
        channel.handle,
        len(keys),
    )
    return MvStatus.OKAY


def _receive(channel: Channel, message: msg.Message) -> None:
    if not isinstance(message, msg.ConfigFetchResponse):
        return
    fetch = _fetch(channel)
    if fetch.response is not None:
        return
    size = FRAMING_OVERHEAD + sum(len(item.value) + ITEM_OVERHEAD for item in message.items)
    fetch.too_large = size > channel.receive_size
    fetch.response = message
    channel.notify(MvEventType.CHANNELDATAREADABLE)


RECEIVERS[MvChannelType.CONFIGFETCH] = _receive


def _response(kernel: Kernel, handle: int) -> ConfigFetch:
    channel = lookup_channel(kernel, handle, MvChannelType.CONFIGFETCH)
    channel.check_open()
    fetch = _fetch(channel)
    if fetch.response is None:
        raise StatusError(MvStatus.RESPONSENOTPRESENT)
    return fetch


@syscall("mvReadConfigFetchResponseData")
def read_config_fetch_response_data(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Write the fetch result and item count of channel ``r0`` to ``*r1``."""
    kernel.memory.check_write_struct(r1, CONFIG_RESPONSE_DATA)
    fetch = _response(kernel, r0)
    assert fetch.response is not None
    if fetch.too_large:
        values = {"result": MvConfigFetchResult.RESPONSETOOLARGE, "num_items": 0}
    else:
        values = {"result": MvConfigFetchResult.OK, "num_items": len(fetch.response.items)}
    kernel.memory.write_struct(r1, CONFIG_RESPONSE_DATA, values)
    return MvStatus.OKAY


@syscall("mvReadConfigResponseItem")
def read_config_response_item(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Copy one fetched value as ``*r1`` (MvConfigResponseReadItemParams) describes."""
    memory = kernel.memory
    memory.check_read_struct(r1, CONFIG_RESPONSE_READ_ITEM_PARAMS)
    params = memory.read_struct(r1, CONFIG_RESPONSE_READ_ITEM_PARAMS)
    memory.check_write(params["result"], 4, align=4)
    memory.check_write(params["buf.data"], params["buf.size"])
    memory.check_write(params["buf.length"], 4, align=4)
    fetch = _response(kernel, r0)
    assert fetch.response is not None
    items = () if fetch.too_large else fetch.response.items
    index = params["item_index"]
    if index >= len(items):
        raise StatusError(MvStatus.INDEXINVALID, f"item {index} of {len(items)}")

    item = items[index]
    value = item.value if item.result == MvConfigKeyFetchResult.OK else b""
    if len(value) > params["buf.size"]:
        memory.write_u32(params["buf.length"], len(value))
        raise StatusError(
            MvStatus.INVALIDBUFFERSIZE, f"value {len(value)} bytes > buffer {params['buf.size']}"
        )
    memory.write(params["buf.data"], value)
    memory.write_u32(params["buf.length"], len(value))
    memory.write_u32(params["result"], item.result)
    return MvStatus.OKAY
