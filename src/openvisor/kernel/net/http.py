"""HTTP requests: mvSendHttpRequest, mvReadHttpResponseData,
mvReadHttpResponseHeader and mvReadHttpResponseBody.

One request per channel. The cloud executes it and applies the rules on
method, scheme, headers and timeout (`openvisor.cloud.service.httpproxy`),
reporting a violation in the response's ``result``, not in the call's
status. The request must fit the send buffer and the response the receive
buffer, both counted as method or status line, URL, body, each header plus
16 bytes, and 64 bytes of framing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from openvisor.kernel.abi import MvChannelType, MvEventType, MvHttpResult, MvStatus, StatusError
from openvisor.kernel.gateway import syscall
from openvisor.kernel.net.channels import (
    RECEIVERS,
    Channel,
    lookup_channel,
    read_nested,
    read_nested_struct,
)
from openvisor.kernel.structs import HTTP_HEADER, HTTP_REQUEST, HTTP_RESPONSE_DATA
from openvisor.link import messages as msg

if TYPE_CHECKING:
    from openvisor.kernel.kernel import Kernel

log = logging.getLogger(__name__)

MAX_HEADERS = 32
HEADER_OVERHEAD = 16
FRAMING_OVERHEAD = 64


@dataclass
class HttpExchange:
    """The HTTP state of one channel: whether a request left, and its response."""

    sent: bool = False
    response: msg.HttpResponse | None = None


def response_size(response: msg.HttpResponse) -> int:
    """Bytes a response takes in the receive buffer (see the module docstring)."""
    headers = sum(len(header) + HEADER_OVERHEAD for header in response.headers)
    return len(response.body) + headers + FRAMING_OVERHEAD


def _exchange(channel: Channel) -> HttpExchange:
    if channel.family is None:
        channel.family = HttpExchange()
    exchange: HttpExchange = channel.family
    return exchange


@syscall("mvSendHttpRequest")
def send_http_request(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Send the request ``*r1`` (MvHttpRequest) on HTTP channel ``r0``."""
    kernel.memory.check_read_struct(r1, HTTP_REQUEST)
    channel = lookup_channel(kernel, r0, MvChannelType.HTTP)
    channel.check_open()
    exchange = _exchange(channel)
    if exchange.sent:
        raise StatusError(MvStatus.REQUESTALREADYSENT)
    request = kernel.memory.read_struct(r1, HTTP_REQUEST)
    count = request["num_headers"]
    if count > MAX_HEADERS:
        raise StatusError(MvStatus.TOOMANYELEMENTS, f"{count} headers > {MAX_HEADERS}")

    method = read_nested(kernel, request["method.data"], request["method.length"])
    url = read_nested(kernel, request["url.data"], request["url.length"])
    body = read_nested(kernel, request["body.data"], request["body.length"])
    headers = []
    for index in range(count):
        entry = read_nested_struct(
            kernel, request["headers"] + index * HTTP_HEADER.size, HTTP_HEADER
        )
        headers.append(read_nested(kernel, entry["data"], entry["length"]))
    size = (
        len(method)
        + len(url)
        + len(body)
        + FRAMING_OVERHEAD
        + sum(len(header) + HEADER_OVERHEAD for header in headers)
    )
    if size > channel.send_size:
        raise StatusError(MvStatus.INVALIDBUFFERSIZE, f"request {size} bytes > {channel.send_size}")

    exchange.sent = True
    channel.send(
        msg.HttpRequest(
            channel=channel.handle,
            method=method.decode("latin-1"),
            url=url.decode("latin-1"),
            headers=tuple(headers),
            body=body,
            timeout_ms=request["timeout_ms"],
        )
    )
    log.debug(
        "Send HTTP request (device=%s, channel=%#010x, method=%s)",
        kernel.device_id,
        channel.handle,
        method.decode("latin-1"),
    )
    return MvStatus.OKAY


def _receive(channel: Channel, message: msg.Message) -> None:
    if not isinstance(message, msg.HttpResponse):
        return
    exchange = _exchange(channel)
    if exchange.response is not None:
        return
    if response_size(message) > channel.receive_size:
        log.info(
            "Reject HTTP response larger than receive buffer (device=%s, channel=%#010x, "
            "size=%d, buffer=%d)",
            channel.kernel.device_id,
            channel.handle,
            response_size(message),
            channel.receive_size,
        )
        message = msg.HttpResponse(channel=channel.handle, result=MvHttpResult.RESPONSETOOLARGE)
    exchange.response = message
    channel.notify(MvEventType.CHANNELDATAREADABLE)


RECEIVERS[MvChannelType.HTTP] = _receive


def _response(kernel: Kernel, handle: int) -> msg.HttpResponse:
    channel = lookup_channel(kernel, handle, MvChannelType.HTTP)
    channel.check_open()
    response = _exchange(channel).response
    if response is None:
        raise StatusError(MvStatus.RESPONSENOTPRESENT)
    return response


@syscall("mvReadHttpResponseData")
def read_http_response_data(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Write the response summary of channel ``r0`` to ``*r1`` (MvHttpResponseData)."""
    kernel.memory.check_write_struct(r1, HTTP_RESPONSE_DATA)
    response = _response(kernel, r0)
    ok = response.result == MvHttpResult.OK
    kernel.memory.write_struct(
        r1,
        HTTP_RESPONSE_DATA,
        {
            "result": response.result,
            "status_code": response.status_code if ok else 0,
            "num_headers": len(response.headers) if ok else 0,
            "body_length": len(response.body) if ok else 0,
        },
    )
    return MvStatus.OKAY


@syscall("mvReadHttpResponseHeader")
def read_http_response_header(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Copy up to ``r3`` bytes of header line ``r1`` of channel ``r0`` to ``r2``."""
    kernel.memory.check_write(r2, r3)
    response = _response(kernel, r0)
    if response.result != MvHttpResult.OK:
        raise StatusError(MvStatus.REQUESTUNSUCCESSFUL, f"result {response.result}")
    if r1 >= len(response.headers):
        raise StatusError(MvStatus.INDEXINVALID, f"header {r1} of {len(response.headers)}")
    kernel.memory.write(r2, response.headers[r1][:r3])
    return MvStatus.OKAY


@syscall("mvReadHttpResponseBody")
def read_http_response_body(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Copy up to ``r3`` body bytes from offset ``r1`` of channel ``r0`` to ``r2``."""
    kernel.memory.check_write(r2, r3)
    response = _response(kernel, r0)
    if response.result != MvHttpResult.OK:
        raise StatusError(MvStatus.REQUESTUNSUCCESSFUL, f"result {response.result}")
    if r1 > len(response.body):
        raise StatusError(MvStatus.OFFSETINVALID, f"offset {r1} > body {len(response.body)}")
    kernel.memory.write(r2, response.body[r1 : r1 + r3])
    return MvStatus.OKAY
