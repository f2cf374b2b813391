"""The cloud debug relay with a device tunnel endpoint on MQTT: keys, sessions, records.

The device side here is the kernel's tunnel endpoint without an application
core, which is all the handshake needs; the GDB tests drive full devices.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from openvisor.cloud.db import session_scope
from openvisor.cloud.models import DebugSession
from openvisor.cloud.service import reports
from openvisor.errors import DebugAuthError, DebugError
from openvisor.gdb.remote import RemoteDebugEndpoint
from openvisor.gdb.tunnel import public_point
from openvisor.link.identity import DeviceIdentity
from openvisor.link.mqtt import MqttDeviceLink, parse_broker_url

Starter = Callable[[Any], Any]


class TunnelDevice:
    """A device's link and tunnel endpoint, serviced on a thread like a device loop."""

    def __init__(self, state_dir: Path, broker: str, pubkey: bytes | None) -> None:
        identity = DeviceIdentity.load_or_create(state_dir)
        self.device_id = identity.device_id
        self.public_key_pem = identity.public_key_pem()
        self.link = MqttDeviceLink(
            identity.device_id, parse_broker_url(broker), state_dir=state_dir
        )
        self.endpoint = RemoteDebugEndpoint(
            target=self._no_core, debug_auth_pubkey=lambda: pubkey, send=self.link.send
        )
        self.link.on_message(self.endpoint.on_message)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    @staticmethod
    def _no_core() -> object:
        raise AssertionError("the relay tests attach no GDB")

    def start(self) -> None:
        self.link.start()
        assert self.link.wait_online(10), "device link did not connect"
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.endpoint.service()
            time.sleep(0.001)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.link.stop()


@pytest.fixture
def bundle_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def device(
    tmp_path: Path, broker: str, cloud: Any, bundle_key: ec.EllipticCurvePrivateKey
) -> Iterator[TunnelDevice]:
    dev = TunnelDevice(tmp_path / "device", broker, public_point(bundle_key))
    cloud.provision(dev.device_id, dev.public_key_pem)
    dev.start()
    yield dev
    dev.stop()


def _records(cloud: Any, device_id: str) -> list[DebugSession]:
    with session_scope(cloud.sessions) as session:
        rows = session.scalars(
            select(DebugSession).where(DebugSession.device_sid == device_id)
        ).all()
        session.expunge_all()
        return list(rows)


def _wait(predicate: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_right_key_opens_and_records(
    start_proxy: Starter, cloud: Any, device: TunnelDevice, bundle_key: ec.EllipticCurvePrivateKey
) -> None:
    proxy = start_proxy(cloud.proxy_options(device.device_id, bundle_key))
    try:
        assert proxy.proxy.status.session_sid.startswith("DS")
        assert proxy.port > 0
        (record,) = _records(cloud, device.device_id)
        assert record.account_sid == cloud.account_sid
        assert record.status == "active"
        assert len(record.client_public_key) == 130
    finally:
        proxy.stop()
    assert _wait(lambda: _records(cloud, device.device_id)[0].status == "closed")
    (record,) = _records(cloud, device.device_id)
    assert record.date_ended is not None


def test_wrong_key_is_refused(start_proxy: Starter, cloud: Any, device: TunnelDevice) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(DebugAuthError, match="does not match the debug_auth_pubkey"):
        start_proxy(cloud.proxy_options(device.device_id, other))
    assert device.endpoint.attachment is None


def test_bundle_without_key_is_refused(
    start_proxy: Starter,
    tmp_path: Path,
    broker: str,
    cloud: Any,
    bundle_key: ec.EllipticCurvePrivateKey,
) -> None:
    dev = TunnelDevice(tmp_path / "plain", broker, None)
    cloud.provision(dev.device_id, dev.public_key_pem)
    dev.start()
    try:
        with pytest.raises(DebugAuthError, match="no debug_auth_pubkey"):
            start_proxy(cloud.proxy_options(dev.device_id, bundle_key))
    finally:
        dev.stop()


def test_second_session_is_refused(
    start_proxy: Starter, cloud: Any, device: TunnelDevice, bundle_key: ec.EllipticCurvePrivateKey
) -> None:
    first = start_proxy(cloud.proxy_options(device.device_id, bundle_key))
    try:
        with pytest.raises(DebugError, match="already has a debug session open"):
            start_proxy(cloud.proxy_options(device.device_id, bundle_key))
    finally:
        first.stop()
    assert _wait(lambda: cloud.relay.open_sessions == 0)
    second = start_proxy(cloud.proxy_options(device.device_id, bundle_key))
    second.stop()


def test_closing_session_keeps_device_reserved(
    start_proxy: Starter,
    cloud: Any,
    device: TunnelDevice,
    bundle_key: ec.EllipticCurvePrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Sample the relay's live sessions when the closing record is written, because
    # a session opened before that write would find the record still open.
    open_while_recording: list[int] = []
    close_record = reports.close_debug_session

    def recording_close(session: Any, session_sid: str) -> DebugSession:
        open_while_recording.append(cloud.relay.open_sessions)
        return close_record(session, session_sid)

    monkeypatch.setattr(reports, "close_debug_session", recording_close)
    first = start_proxy(cloud.proxy_options(device.device_id, bundle_key))
    first.stop()
    assert _wait(lambda: cloud.relay.open_sessions == 0)
    assert open_while_recording == [1]
    (record,) = _records(cloud, device.device_id)
    assert record.status == "closed"

    second = start_proxy(cloud.proxy_options(device.device_id, bundle_key))
    second.stop()
    assert _wait(lambda: cloud.relay.open_sessions == 0)
    assert [row.status for row in _records(cloud, device.device_id)] == ["closed", "closed"]


def test_bad_credentials_are_refused(
    start_proxy: Starter, cloud: Any, device: TunnelDevice, bundle_key: ec.EllipticCurvePrivateKey
) -> None:
    options = cloud.proxy_options(device.device_id, bundle_key)
    options.key_secret = "wrong"
    with pytest.raises(DebugAuthError, match="rejected the debug session"):
        start_proxy(options)
    assert _records(cloud, device.device_id) == []


def test_unknown_device_is_refused(
    start_proxy: Starter, cloud: Any, bundle_key: ec.EllipticCurvePrivateKey
) -> None:
    with pytest.raises(DebugError, match="was not found"):
        start_proxy(cloud.proxy_options("UV" + "0" * 32, bundle_key))
