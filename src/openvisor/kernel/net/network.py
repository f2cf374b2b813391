"""Network requests: mvRequestNetwork, mvReleaseNetwork, mvGetNetworkStatus,
mvGetNetworkReasons.

A request is reference counted: the device keeps its cloud link in use
while any request is live. Status changes are not queued; each posts
NETWORKSTATUSCHANGED and the app reads the current state.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from openvisor.kernel.abi import MvStatus, StatusError
from openvisor.kernel.calls.notifications import NotificationCentre
from openvisor.kernel.gateway import syscall
from openvisor.kernel.handles import HandleKind
from openvisor.kernel.net.state import MAX_NETWORK_REQUESTS, NetState, NetworkRequest
from openvisor.kernel.structs import REQUEST_NETWORK_PARAMS

if TYPE_CHECKING:
    from openvisor.kernel.kernel import Kernel

log = logging.getLogger(__name__)


@syscall("mvRequestNetwork")
def request_network(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Create a network request from ``*r0`` and write its handle to ``*r1``."""
    memory = kernel.memory
    memory.check_read_struct(r0, REQUEST_NETWORK_PARAMS)
    memory.check_write(r1, 4, align=4)
    params = memory.read_struct(r0, REQUEST_NETWORK_PARAMS)
    if params["version"] != 1:
        raise StatusError(MvStatus.UNSUPPORTEDSTRUCTUREVERSION, f"version {params['version']}")
    centre = params["v1.notification_handle"]
    # An invalid centre or a full request table is a bad parameter, as the SDK
    # header documents (the call has no INVALIDHANDLE status).
    try:
        kernel.handles.lookup(HandleKind.NOTIFICATION, centre, NotificationCentre)
    except StatusError:
        raise StatusError(MvStatus.PARAMETERFAULT, f"notification handle {centre:#010x}") from None
    state = kernel.family_state(NetState)
    if state.request_count() >= MAX_NETWORK_REQUESTS:
        raise StatusError(MvStatus.PARAMETERFAULT, f"{MAX_NETWORK_REQUESTS} requests already live")

    handle = kernel.handles.allocate(
        HandleKind.NETWORK, NetworkRequest(centre, params["v1.notification_tag"])
    )
    memory.write_u32(r1, handle)
    state.ever_requested = True
    log.debug("Request network (device=%s, handle=%#010x)", kernel.device_id, handle)
    state.update_status()
    state.schedule_drain()
    return MvStatus.OKAY


@syscall("mvReleaseNetwork")
def release_network(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Release the request named by ``*r0`` and write 0 there."""
    memory = kernel.memory
    memory.check_write(r0, 4, align=4)
    handle = memory.read_u32(r0)
    kernel.handles.lookup(HandleKind.NETWORK, handle, NetworkRequest)
    state = kernel.family_state(NetState)
    kernel.handles.release(HandleKind.NETWORK, handle)
    memory.write_u32(r0, 0)
    state.update_status()
    return MvStatus.OKAY


@syscall("mvGetNetworkStatus")
def get_network_status(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Write the status seen by request ``r0`` to ``*r1``."""
    kernel.memory.check_write(r1, 4, align=4)
    kernel.handles.lookup(HandleKind.NETWORK, r0, NetworkRequest)
    kernel.memory.write_u32(r1, kernel.family_state(NetState).status())
    return MvStatus.OKAY


@syscall("mvGetNetworkReasons")
def get_network_reasons(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
    """Write the reason bits to ``*r0`` and the live request count to ``*r1``."""
    memory = kernel.memory
    memory.check_write(r0, 4, align=4)
    memory.check_write(r1, 4, align=4)
    state = kernel.family_state(NetState)
    memory.write_u32(r0, state.reasons())
    memory.write_u32(r1, state.request_count())
    return MvStatus.OKAY
