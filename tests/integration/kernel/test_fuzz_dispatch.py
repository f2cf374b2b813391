"""Fuzz the system-call dispatcher: random registers and memory never raise, and only
documented statuses come back."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openvisor.kernel import gateway
from openvisor.kernel.abi import CALL_ADDRESSES, GATEWAY_BASE, MvStatus
from openvisor.kernel.handles import HandleKind

ARENA_SPAN = 4096
DOCUMENTED = {int(status) for status in MvStatus} - {int(MvStatus.INTERNALERROR)}


def register_values(arena: int) -> st.SearchStrategy[int]:
    """Register values that reach deep into handlers: pointers, sizes, handles, garbage."""
    return st.one_of(
        st.integers(0, 0xFFFF_FFFF),
        st.integers(0, 64),
        st.sampled_from([0, 1, 16, 34, 512, 1024, 4096, 0xFFFF_FFFF, 0x8000_0000]),
        st.integers(arena, arena + ARENA_SPAN).map(lambda a: a & ~3),
        st.integers(arena - 64, arena + ARENA_SPAN + 64),
        st.sampled_from(
            [0x0800_0000, 0x0800_0001, 0x0C00_0000, 0x2007_FFFC, 0x2008_0000, 0x3000_0000]
        ),
    )


def fuzz_settings(examples: int) -> Any:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def run_one(harness: Any, address: int, registers: list[int], memory: bytes) -> int:
    kernel = harness.device.kernel
    harness.write(harness.arena, memory)
    # Pointers inside structures must also be able to name live handles.
    live = [handle for kind in HandleKind for handle, _ in kernel.handles.live(kind)]
    if live and registers[0] % 3 == 0:
        registers[0] = live[registers[1] % len(live)]
    status = gateway.dispatch(kernel, address, tuple(registers))  # type: ignore[arg-type]
    kernel.take_exit()
    return status


def call_inputs(arena: int) -> st.SearchStrategy[tuple[int, list[int], bytes]]:
    """A gateway entry, four registers and arena contents to put behind the pointers."""
    values = register_values(arena)

    def build(parts: tuple[int, list[int], list[int], bytes]) -> tuple[int, list[int], bytes]:
        address, registers, words, tail = parts
        # Pointer-like words first, so pointers nested in structures vary too.
        memory = b"".join(word.to_bytes(4, "little") for word in words) + tail
        return address, registers, memory

    return st.tuples(
        st.sampled_from(sorted(CALL_ADDRESSES.values())),
        st.lists(values, min_size=4, max_size=4),
        st.lists(values, max_size=8),
        st.binary(max_size=32),
    ).map(build)


def test_dispatcher_returns_documented_statuses(harness: Any) -> None:
    seen: set[int] = set()

    @fuzz_settings(600)
    @given(inputs=call_inputs(harness.arena))
    def check(inputs: tuple[int, list[int], bytes]) -> None:
        address, registers, memory = inputs
        status = run_one(harness, address, registers, memory)
        assert status in DOCUMENTED, (hex(address), [hex(r) for r in registers], status)
        seen.add(status)

    check()
    assert {MvStatus.OKAY, MvStatus.PARAMETERFAULT, MvStatus.INVALIDHANDLE} <= seen


def test_unknown_gateway_addresses_crash_the_app(harness: Any) -> None:
    @fuzz_settings(200)
    @given(offset=st.integers(0, 0x400).map(lambda o: o & ~1))
    def check(offset: int) -> None:
        address = GATEWAY_BASE + offset
        kernel = harness.device.kernel
        status = kernel.handle_gateway(harness.machine, address)
        app_exit = kernel.take_exit()
        if address in CALL_ADDRESSES.values():
            assert status in DOCUMENTED
        else:
            assert app_exit is not None and app_exit.kind.value == "crash"

    check()
