"""Cloud restart requests reaching the kernel: valid, unknown and hostile targets."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from openvisor.kernel.abi import MvWakeReason
from openvisor.kernel.kernel import ExitKind
from openvisor.link import messages as msg

DEVICE = "UV" + "5" * 32  # the app fixture's device id

App = Any  # tests/unit/kernel_net/conftest.py: App


def test_app_target_requests_restart(app: App) -> None:
    app.service.send(DEVICE, msg.RestartRequest(target="app"))
    app.pump()
    app_exit = app.kernel.take_exit()
    assert app_exit is not None
    assert app_exit.kind is ExitKind.RESTART
    assert app_exit.wake_reason is MvWakeReason.REMOTEAPPLICATIONRESTART


def test_unknown_target_ignored_briefly(app: App, caplog: pytest.LogCaptureFixture) -> None:
    hostile = "\x00" * 100_000
    with caplog.at_level(logging.WARNING, logger="openvisor.kernel.net.state"):
        app.service.send(DEVICE, msg.RestartRequest(target=hostile))
        app.service.send(DEVICE, msg.RestartRequest(target="device"))
        app.pump()
    assert app.kernel.take_exit() is None
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 2
    assert "'device'" in warnings[1]
    assert max(len(text) for text in warnings) < 500
