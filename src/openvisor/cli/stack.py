"""`LocalStack`: cloud, embedded MQTT broker, device-link consumer and devices in one process.

`ov up` and `ov demo` run on it. State lives under one folder::

    <state>/cloud.db        SQLite database of the cloud (apps and bundles included)
    <state>/admin.json      the admin account's SID and auth token (mode 0600)
    <state>/broker.json     the embedded broker's port, reused by the next start
    <state>/lock            held by the running stack (pid and API URL inside)
    <state>/devices/UV…/    one state directory per virtual device
    <state>/devices/control.sock   fault requests for `ov device fault`
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from openvisor import atomicfile
from openvisor.cli.hosting import DeviceHost
from openvisor.cli.local import AdminCredentials, LocalCloud, provision_device
from openvisor.cli.statelock import StateLock
from openvisor.errors import LinkError, StateError

log = logging.getLogger(__name__)

ADMIN_FILE = "admin.json"
BROKER_FILE = "broker.json"
DEVICES_DIR = "devices"


def load_admin(state_dir: Path) -> AdminCredentials:
    """Read the admin credentials of a state folder, creating them on first use."""
    path = state_dir / ADMIN_FILE
    stored = atomicfile.read_json(path, default=None)
    if stored is None:
        credentials = AdminCredentials.generate()
        atomicfile.write_json(
            path,
            {"account_sid": credentials.account_sid, "auth_token": credentials.auth_token},
        )
        os.chmod(path, 0o600)
        return credentials
    try:
        return AdminCredentials(stored["account_sid"], stored["auth_token"])
    except (KeyError, TypeError) as exc:
        raise StateError(
            f"{path} is malformed ({exc!r}): delete it to create new credentials"
        ) from exc


def device_dirs(folder: Path) -> list[Path]:
    """Return the provisioned device folders under ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if (p / "identity" / "device.json").exists()]
    return sorted(found, key=lambda p: ((p / "identity" / "device.json").stat().st_mtime, p.name))


class LocalStack:
    """Everything of openvisor in this process, on 127.0.0.1.

    Example::

        with LocalStack(Path("state"), devices=2) as stack:
            print(stack.cloud.url, stack.device_ids)
    """

    def __init__(
        self, state_dir: Path, *, devices: int = 1, port: int = 0, realtime: bool = True
    ) -> None:
        self.state_dir = state_dir
        self.device_count = devices
        self.port = port
        self.realtime = realtime
        state_dir.mkdir(parents=True, exist_ok=True)
        self.lock = StateLock(state_dir)
        self.cloud = LocalCloud(state_dir, credentials=load_admin(state_dir), port=port)
        self.host = DeviceHost(state_dir / DEVICES_DIR, realtime=realtime)
        self._broker: Any = None
        self._service_link: Any = None

    @property
    def broker_url(self) -> str:
        """The embedded broker's ``mqtt://`` URL."""
        return str(self._broker.url) if self._broker is not None else ""

    @property
    def device_ids(self) -> list[str]:
        """SIDs of the running devices."""
        return self.host.device_ids

    def start(self) -> None:
        """Start the broker and the cloud, provision missing devices and run them all."""
        from openvisor.cloud.client import CloudClient
        from openvisor.link.broker import EmbeddedBroker

        credentials = self.cloud.credentials
        service_password = secrets.token_hex(16)
        # A second stack on the same folder would serve the same database and devices.
        self.lock.acquire()
        try:
            self._broker = self._start_broker(EmbeddedBroker, service_password)
            self._service_link = self._connect_service(service_password)
            self.cloud.broker_url = self._broker.url
            self.cloud.service_link = self._service_link
            self.cloud.start()
            self.lock.record(url=self.cloud.url)
            if not self._service_link.wait_ready(10.0):
                raise LinkError(
                    f"the cloud could not subscribe on the embedded broker {self._broker.url}"
                )
            folder = self.state_dir / DEVICES_DIR
            dirs = device_dirs(folder)
            with CloudClient(
                self.cloud.url, credentials.account_sid, credentials.auth_token
            ) as client:
                while len(dirs) < self.device_count:
                    device_sid, device_dir = provision_device(client, folder)
                    # Local devices log from the start, so `ov logs` shows lines at once.
                    client.update_device(device_sid, logging_enabled=True)
                    dirs.append(device_dir)
            self.host.start(dirs[: self.device_count], broker_url=self._broker.url)
        except BaseException:
            self.stop()
            raise
        log.info(
            "Started local stack (api=%s, broker=%s, devices=%d)",
            self.cloud.url,
            self._broker.url,
            len(self.host.device_ids),
        )

    def _start_broker(self, broker_class: Any, service_password: str) -> Any:
        """Start the embedded broker on the port of the last run, else on a free port.

        Keeping the port keeps the broker URL stored at provisioning valid, so
        devices run elsewhere (`ov device run`) reconnect after a restart.
        """
        path = self.state_dir / BROKER_FILE
        stored = atomicfile.read_json(path, default={})
        previous = stored.get("port", 0) if isinstance(stored, dict) else 0
        ports = [0]
        if previous and _port_free(int(previous)):
            ports.insert(0, int(previous))
        elif previous:
            log.info("Saved broker port is in use, picking a free one (port=%d)", previous)
        for port in ports:
            broker = broker_class(
                service_password=service_password, device_key=self._device_key, port=port
            )
            try:
                # The port can still be taken after the check, and amqtt then logs
                # a traceback that would hide the one line below.
                with _quiet_logger("amqtt", enabled=port != 0):
                    broker.start()
            except LinkError:
                if port == 0:
                    raise
                log.info("Saved broker port is in use, picking a free one (port=%d)", port)
                continue
            atomicfile.write_json(path, {"port": broker.port})
            return broker
        raise LinkError("the embedded broker did not start")

    def _connect_service(self, service_password: str) -> Any:
        """Build the cloud's MQTT link to the embedded broker (the cloud starts it)."""
        from openvisor.link.mqtt import MqttServiceLink, parse_broker_url
        from openvisor.link.topics import SERVICE_USERNAME

        address = parse_broker_url(self._broker.url, username=SERVICE_USERNAME)
        return MqttServiceLink(address, password=service_password)

    def _device_key(self, device_id: str) -> str | None:
        """Return a device's registered public key as PEM, for broker authentication."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        from openvisor.cloud.db import session_scope
        from openvisor.cloud.models import Device

        with session_scope(self.cloud.service.sessions) as session:
            device = session.get(Device, device_id)
            point = device.public_key if device is not None else None
        if point is None:
            return None
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        pem = key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem.decode()

    def stop(self) -> None:
        """Stop the devices, the cloud (with its device-link consumer) and the broker.

        The state stays on disk and the state directory lock is released.
        """
        self.host.stop()
        self.cloud.stop()
        self._service_link = None
        if self._broker is not None:
            self._broker.stop()
            self._broker = None
        self.lock.release()
        log.info("Stopped local stack (state_dir=%s)", self.state_dir)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Return whether a TCP listener can bind ``host:port`` now (SO_REUSEADDR, as asyncio does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


@contextmanager
def _quiet_logger(name: str, *, enabled: bool) -> Iterator[None]:
    """Drop the records of logger ``name`` and its children inside the block when ``enabled``.

    Children without their own level inherit the raised level; the change is process-wide.
    """
    if not enabled:
        yield
        return
    logger = logging.getLogger(name)
    previous = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(previous)
