"""The system-call registry: one handler per call-gateway entry.

Each API family module registers its handlers with :func:`syscall`::

    @syscall("mvGetMicroseconds")
    def get_microseconds(kernel: Kernel, r0: int, r1: int, r2: int, r3: int) -> int:
        kernel.memory.write_u64(r0, kernel.micros())
        return MvStatus.OKAY

A handler gets the kernel and the four argument registers (unsigned 32-bit) and
returns an ``MvStatus``. It checks every pointer through ``kernel.memory`` before
any side effect, and ends early by raising :class:`~openvisor.kernel.abi.StatusError`.
:func:`dispatch` turns whatever a handler does into a status word: no Python
exception leaves it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from openvisor.kernel.abi import (
    CALL_ADDRESSES,
    CALL_NAMES,
    GATEWAY_BASE,
    GATEWAY_SIZE,
    MvStatus,
    StatusError,
)

if TYPE_CHECKING:
    from openvisor.kernel.kernel import Kernel

log = logging.getLogger(__name__)
trace = logging.getLogger(__name__ + ".trace")

Handler = Callable[["Kernel", int, int, int, int], int]


@dataclass(frozen=True)
class Call:
    """A registered call: its gateway address, SDK name and handler."""

    address: int
    name: str
    handler: Handler


_REGISTRY: dict[int, Call] = {}
_internal_errors: dict[str, int] = {}
MAX_LOGGED_INTERNAL_ERRORS = 10
"""Handler exceptions logged per call name. Later ones are only counted."""


def syscall(name: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of the call ``name``."""
    try:
        address = CALL_ADDRESSES[name]
    except KeyError:
        raise ValueError(f"{name!r} is not a call of the Microvisor ABI") from None

    def register(handler: Handler) -> Handler:
        existing = _REGISTRY.get(address)
        if existing is not None and existing.handler is not handler:
            raise ValueError(
                f"{name} ({address:#010x}) already has a handler: "
                f"{existing.handler.__module__}.{existing.handler.__qualname__}"
            )
        _REGISTRY[address] = Call(address, name, handler)
        return handler

    return register


def lookup(address: int) -> Call | None:
    """Return the call registered at a gateway entry, or None."""
    return _REGISTRY.get(address)


def registered() -> dict[int, Call]:
    """Return every registered call by gateway address."""
    return dict(_REGISTRY)


def is_gateway_entry(address: int) -> bool:
    """Tell whether ``address`` (Thumb bit clear) is an entry of the call table."""
    return address in CALL_NAMES


def in_gateway(address: int) -> bool:
    """Tell whether ``address`` falls inside the used part of the gateway region."""
    return GATEWAY_BASE <= address < GATEWAY_BASE + GATEWAY_SIZE


class UnknownEntryError(Exception):
    """The app branched to a gateway address that has no call, so the app crashes."""

    def __init__(self, address: int) -> None:
        super().__init__(f"no system call at gateway address {address:#010x}")
        self.address = address


def dispatch(kernel: Kernel, address: int, args: tuple[int, int, int, int]) -> int:
    """Run the handler of the entry at ``address`` and return the status word for R0.

    Raises :class:`UnknownEntryError` for an address outside the call table, which
    the kernel reports as an application crash. A table entry with no handler
    registered returns ``MV_STATUS_UNAVAILABLE``; an unexpected Python exception in
    a handler is logged and returns ``MV_STATUS_INTERNALERROR``.
    """
    address &= ~1
    name = CALL_NAMES.get(address)
    if name is None:
        raise UnknownEntryError(address)
    call = _REGISTRY.get(address)
    if call is None:
        log.warning("Reject call with no handler (call=%s, address=%#010x)", name, address)
        return int(MvStatus.UNAVAILABLE)

    r0, r1, r2, r3 = (value & 0xFFFF_FFFF for value in args)
    try:
        status = int(call.handler(kernel, r0, r1, r2, r3))
    except StatusError as exc:
        status = int(exc.status)
        trace.debug("Fail call %s (status=%s, detail=%s)", name, exc.status.name, exc)
    except Exception:
        # A handler bug must not flood the log when the app retries in a loop.
        _internal_errors[name] = count = _internal_errors.get(name, 0) + 1
        if count <= MAX_LOGGED_INTERNAL_ERRORS:
            log.exception(
                "Handler raised; returning INTERNALERROR "
                "(call=%s, r0=%#x, r1=%#x, r2=%#x, r3=%#x, count=%d)",
                name,
                r0,
                r1,
                r2,
                r3,
                count,
            )
        status = int(MvStatus.INTERNALERROR)
    trace.debug("Call %s(%#x, %#x, %#x, %#x) -> %d", name, r0, r1, r2, r3, status)
    return status
