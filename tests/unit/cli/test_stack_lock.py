"""`ov up` state directory lock and the embedded broker's saved port."""

from __future__ import annotations

import json
import logging
import os
import socket
from pathlib import Path

import pytest

from openvisor.cli.stack import BROKER_FILE, LocalStack
from openvisor.cli.statelock import LOCK_FILE, StateLock
from openvisor.errors import StateError
from openvisor.link.broker import EmbeddedBroker


def test_second_lock_names_holder(tmp_path: Path) -> None:
    first = StateLock(tmp_path)
    first.acquire()
    first.record(url="http://127.0.0.1:18080")
    try:
        with pytest.raises(StateError) as caught:
            StateLock(tmp_path).acquire()
    finally:
        first.release()
    message = str(caught.value)
    assert str(tmp_path) in message
    assert f"pid {os.getpid()}" in message
    assert "http://127.0.0.1:18080" in message
    assert "--state DIR" in message


def test_lock_free_after_release(tmp_path: Path) -> None:
    first = StateLock(tmp_path)
    first.acquire()
    first.release()
    second = StateLock(tmp_path)
    second.acquire()
    stored = json.loads((tmp_path / LOCK_FILE).read_text())
    second.release()
    assert stored["pid"] == os.getpid()
    assert (tmp_path / LOCK_FILE).read_text() == ""


def test_lock_while_starting_says_so(tmp_path: Path) -> None:
    first = StateLock(tmp_path)
    first.acquire()
    try:
        with pytest.raises(StateError, match="still starting"):
            StateLock(tmp_path).acquire()
    finally:
        first.release()


def _stack_broker(stack: LocalStack) -> EmbeddedBroker:
    return stack._start_broker(EmbeddedBroker, "service-password")


def test_taken_broker_port_logs_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        (tmp_path / BROKER_FILE).write_text(json.dumps({"port": taken}))
        stack = LocalStack(tmp_path, devices=0)
        with caplog.at_level(logging.DEBUG):
            broker = _stack_broker(stack)
        broker.stop()
    assert broker.port != taken
    assert json.loads((tmp_path / BROKER_FILE).read_text())["port"] == broker.port
    moved = [r for r in caplog.records if "Saved broker port is in use" in r.getMessage()]
    assert len(moved) == 1
    assert str(taken) in moved[0].getMessage()
    failures = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert failures == []
    assert not any(r.exc_info for r in caplog.records)


def test_race_on_broker_port_stays_quiet(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The port is free at the check but taken when amqtt binds it."""
    import openvisor.cli.stack as stack_module

    monkeypatch.setattr(stack_module, "_port_free", lambda port, host="127.0.0.1": True)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        (tmp_path / BROKER_FILE).write_text(json.dumps({"port": taken}))
        stack = LocalStack(tmp_path, devices=0)
        with caplog.at_level(logging.DEBUG):
            broker = _stack_broker(stack)
        broker.stop()
    assert broker.port != taken
    assert not [r for r in caplog.records if r.name.startswith("amqtt") and r.levelno >= 30]
    assert not any("Broker startup failed" in r.getMessage() for r in caplog.records)
    assert logging.getLogger("amqtt").level == logging.NOTSET
