"""The call registry and the dispatcher's error paths."""

from __future__ import annotations

import pytest

from openvisor.kernel import Kernel, gateway
from openvisor.kernel.abi import CALL_ADDRESSES, MvStatus
from openvisor.kernel.calls import device_info

NON_NETWORK_CALLS = 40


def make_kernel() -> Kernel:
    return Kernel(device_id="UV" + "0" * 32, seed=7)


def test_every_non_network_call_is_registered() -> None:
    make_kernel()
    names = {call.name for call in gateway.registered().values()}
    for name in (
        "mvGetMicroseconds",
        "mvSetupNotifications",
        "mvExternalFlashEraseBlocking",
        "mvGetWifiConfig",
        "mvTestingComplete",
        "mvTemporaryStructTest",
    ):
        assert name in names
    assert len(names) >= NON_NETWORK_CALLS
    assert names <= set(CALL_ADDRESSES)


def test_registered_addresses_match_the_table() -> None:
    make_kernel()
    for address, call in gateway.registered().items():
        assert CALL_ADDRESSES[call.name] == address


def test_unknown_entry_raises_for_the_kernel_to_crash_the_app() -> None:
    kernel = make_kernel()
    for address in (0x0C1F_E0A0, 0x0C1F_E238, 0x0C1F_E250, 0x0C1F_E004):
        with pytest.raises(gateway.UnknownEntryError) as info:
            gateway.dispatch(kernel, address, (0, 0, 0, 0))
        assert info.value.address == address


def test_thumb_bit_is_ignored() -> None:
    kernel = make_kernel()
    assert gateway.dispatch(kernel, 0x0C1F_E0D9, (0, 0, 0, 0)) == MvStatus.OKAY


def test_status_error_becomes_the_status() -> None:
    kernel = make_kernel()
    status = gateway.dispatch(kernel, CALL_ADDRESSES["mvGetDeviceId"], (0x2000_0000, 3, 0, 0))
    assert status == MvStatus.INVALIDBUFFERSIZE


def test_unexpected_exception_becomes_internal_error(caplog: pytest.LogCaptureFixture) -> None:
    kernel = make_kernel()  # no machine attached: memory accesses fail inside the handler
    status = gateway.dispatch(kernel, CALL_ADDRESSES["mvGetMicroseconds"], (0x2000_0000, 0, 0, 0))
    assert status == MvStatus.INTERNALERROR
    assert "mvGetMicroseconds" in caplog.text


def test_registers_are_masked_to_32_bits() -> None:
    kernel = make_kernel()
    status = gateway.dispatch(kernel, CALL_ADDRESSES["mvGetDeviceId"], (0, (1 << 32) + 34, 0, 0))
    assert status == MvStatus.PARAMETERFAULT


def test_double_registration_is_rejected() -> None:
    with pytest.raises(ValueError, match="already has a handler"):
        gateway.syscall("mvNoOp")(device_info.get_sysclk)
    with pytest.raises(ValueError, match="not a call"):
        gateway.syscall("mvMadeUp")
