"""Priority rules of the NVIC state: grouping, selection and execution priority."""

from __future__ import annotations

from openvisor.machine import nvic as nv


def test_priority_keeps_four_bits() -> None:
    state = nv.Nvic()
    state.set_priority(nv.IRQ_BASE + 3, 0xFF)
    assert state.priority[nv.IRQ_BASE + 3] == 0xF0


def test_fixed_priorities_cannot_change() -> None:
    state = nv.Nvic()
    state.set_priority(nv.HARDFAULT, 0x10)
    state.set_priority(nv.NMI, 0x10)
    assert state.priority[nv.HARDFAULT] == -1
    assert state.priority[nv.NMI] == -2


def test_best_pending_needs_enable() -> None:
    state = nv.Nvic()
    state.set_pending(nv.IRQ_BASE + 5)
    assert state.best_pending() is None
    state.set_enabled(nv.IRQ_BASE + 5, True)
    assert state.best_pending() == nv.IRQ_BASE + 5


def test_best_pending_orders_by_priority_then_number() -> None:
    state = nv.Nvic()
    for irq, priority in ((10, 0x80), (4, 0x40), (2, 0x40)):
        state.set_enabled(nv.IRQ_BASE + irq, True)
        state.set_priority(nv.IRQ_BASE + irq, priority)
        state.set_pending(nv.IRQ_BASE + irq)
    assert state.best_pending() == nv.IRQ_BASE + 2
    state.clear_pending(nv.IRQ_BASE + 2)
    assert state.best_pending() == nv.IRQ_BASE + 4


def test_prigroup_splits_subpriority() -> None:
    state = nv.Nvic()
    state.prigroup = 5  # group priority in bits 7:6
    state.set_priority(nv.IRQ_BASE, 0x50)
    state.set_priority(nv.IRQ_BASE + 1, 0x60)
    assert state.group_priority(nv.IRQ_BASE) == 0x40
    assert state.group_priority(nv.IRQ_BASE + 1) == 0x40
    # Same group: the lower subpriority is taken first, but neither preempts the other.
    for irq in (0, 1):
        state.set_enabled(nv.IRQ_BASE + irq, True)
        state.set_pending(nv.IRQ_BASE + irq)
    assert state.best_pending() == nv.IRQ_BASE


def test_execution_priority_masks() -> None:
    state = nv.Nvic()
    assert state.execution_priority(primask=0, basepri=0, faultmask=0) == nv.THREAD_PRIORITY
    assert state.execution_priority(primask=0, basepri=0x40, faultmask=0) == 0x40
    assert state.execution_priority(primask=1, basepri=0x40, faultmask=0) == 0
    assert state.execution_priority(primask=1, basepri=0, faultmask=1) == -1
    state.set_priority(nv.SVCALL, 0x20)
    state.activate(nv.SVCALL)
    assert state.execution_priority(primask=0, basepri=0x40, faultmask=0) == 0x20


def test_rettobase_with_nested_exceptions() -> None:
    state = nv.Nvic()
    state.activate(nv.SVCALL)
    assert state.rettobase()
    state.activate(nv.PENDSV)
    assert not state.rettobase()
