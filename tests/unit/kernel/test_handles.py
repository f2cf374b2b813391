"""Handle table: random non-zero handles, per-kind lookups, release."""

from __future__ import annotations

import pytest

from openvisor.kernel.abi import MvStatus, StatusError
from openvisor.kernel.handles import HandleKind, HandleTable


class Thing:
    pass


def test_handles_are_non_zero_and_unique() -> None:
    table = HandleTable(seed=1)
    handles = {table.allocate(HandleKind.NOTIFICATION, Thing()) for _ in range(500)}
    assert len(handles) == 500
    assert 0 not in handles
    assert all(0 < h <= 0xFFFF_FFFF for h in handles)


def test_lookup_rejects_wrong_kind() -> None:
    table = HandleTable(seed=2)
    handle = table.allocate(HandleKind.NETWORK, Thing())
    with pytest.raises(StatusError) as info:
        table.lookup(HandleKind.CHANNEL, handle, Thing)
    assert info.value.status is MvStatus.INVALIDHANDLE


def test_lookup_returns_object() -> None:
    table = HandleTable(seed=3)
    thing = Thing()
    handle = table.allocate(HandleKind.EXTERNAL_FLASH, thing)
    assert table.lookup(HandleKind.EXTERNAL_FLASH, handle, Thing) is thing


def test_release_makes_handle_stale() -> None:
    table = HandleTable(seed=4)
    handle = table.allocate(HandleKind.SYSTEM_EVENT, Thing())
    table.release(HandleKind.SYSTEM_EVENT, handle)
    with pytest.raises(StatusError) as info:
        table.lookup(HandleKind.SYSTEM_EVENT, handle, Thing)
    assert info.value.status is MvStatus.INVALIDHANDLE
    with pytest.raises(StatusError):
        table.release(HandleKind.SYSTEM_EVENT, handle)


def test_count_and_clear() -> None:
    table = HandleTable(seed=5)
    for _ in range(3):
        table.allocate(HandleKind.CHANNEL, Thing())
    table.allocate(HandleKind.NETWORK, Thing())
    assert table.count(HandleKind.CHANNEL) == 3
    assert len(table.live(HandleKind.NETWORK)) == 1
    table.clear()
    assert table.count(HandleKind.CHANNEL) == 0
