"""Loads from the call gateway after the app has called through it.

A call fetches from the gateway page, and the machine fills Unicorn's TLB
for that fetch itself. The gateway is secure memory, so every load from
it must still end the app, however many calls came first.
"""

from __future__ import annotations

from typing import Any

import pytest

MV_NO_OP = 0x0C1F_E0D8
MV_STATUS_OKAY = 0


@pytest.mark.parametrize("address", [MV_NO_OP, 0x0C1F_E010, 0x0C1F_E3FC])
def test_gateway_load_after_call_crashes(attacker: Any, address: int) -> None:
    assert attacker.do("call", MV_NO_OP | 1) == MV_STATUS_OKAY
    report = attacker.crash("read32", address)
    assert report.detail == f"read of call gateway at {address:#010x}"
    assert report.fault_address == address
