"""Provisioned virtual devices run in this process, and the fault switch `ov device fault` uses.

:class:`DeviceHost` loads devices from their state directories (made by
`openvisor.cli.local.provision_device`), connects each to the broker over
MQTT and runs them on an `openvisor.device.fleet.Fleet`. It listens on a
Unix socket, ``control.sock`` in its folder, for fault requests: one JSON
line ``{"device": "UV…", "fault": "link-down"}`` with the response in one JSON line
``{"ok": true}`` or ``{"error": "…"}``.
"""

from __future__ import annotations

import json
import logging
import socket
import socketserver
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openvisor import atomicfile
from openvisor.errors import ConfigError, OpenvisorError, StateError

log = logging.getLogger(__name__)

CONTROL_SOCKET = "control.sock"
FAULTS = ("link-down", "link-up", "power-cut")


@dataclass
class HostedDevice:
    """One device with the parts a fault acts on."""

    state_dir: Path
    device: Any
    link: Any
    http: Any


def read_provisioning(state_dir: Path) -> dict[str, Any]:
    """Read what provisioning stored in a device state directory."""
    from openvisor.cli.local import PROVISIONING_FILE

    value = atomicfile.read_json(state_dir / PROVISIONING_FILE, default=None)
    if not isinstance(value, dict) or "link_secret" not in value:
        raise StateError(
            f"{state_dir} is not a provisioned device: create one with `ov device provision`"
        )
    return value


def connect_device(state_dir: Path, *, broker_url: str | None = None) -> HostedDevice:
    """Build a cloud-connected device from its state directory (not yet running).

    ``broker_url`` overrides the broker stored at provisioning, for a local
    broker whose port changed since.
    """
    import httpx

    from openvisor.bundle import TrustStore
    from openvisor.cli.local import TRUST_FILE
    from openvisor.device.device import Device, DeviceConfig
    from openvisor.kernel.abi import KERNEL_VERSION
    from openvisor.link.identity import DeviceIdentity
    from openvisor.link.mqtt import MqttDeviceLink, parse_broker_url
    from openvisor.ota.engine import OtaManager

    registration = read_provisioning(state_dir)
    identity = DeviceIdentity.load(state_dir)
    url = broker_url or registration["broker"]["url"]
    link = MqttDeviceLink(
        identity.device_id,
        parse_broker_url(url),
        password=identity.mqtt_password,
        state_dir=state_dir,
        prefix=registration["broker"].get("topic_prefix", "ov"),
    )
    # Bundles download over HTTP with the device's own credentials.
    http = httpx.Client(auth=(identity.device_id, registration["link_secret"]), timeout=30.0)
    ota = OtaManager(
        state_dir,
        kernel_version=KERNEL_VERSION,
        trust=TrustStore.load(state_dir / TRUST_FILE),
        cloud_configured=True,
        http_client=http,
    )
    device = Device(
        state_dir,
        link=link,
        ota=ota,
        config=DeviceConfig(),
        device_id=identity.device_id,
    )
    return HostedDevice(state_dir=state_dir, device=device, link=link, http=http)


class DeviceHost:
    """Runs provisioned devices on a fleet and serves fault requests.

    Example::

        host = DeviceHost(folder)
        host.start([dir1, dir2], broker_url="mqtt://127.0.0.1:41883")
        host.fault(device_id, "link-down")
        host.stop()
    """

    def __init__(self, folder: Path, *, realtime: bool = True, workers: int = 2) -> None:
        self.folder = folder
        self.realtime = realtime
        self.workers = workers
        self.devices: dict[str, HostedDevice] = {}
        self._broker_url: str | None = None
        self._fleet: Any = None
        self._server: socketserver.UnixStreamServer | None = None
        self._lock = threading.Lock()

    @property
    def device_ids(self) -> list[str]:
        """The hosted devices' SIDs, in the order they were added."""
        return list(self.devices)

    def start(self, state_dirs: list[Path], *, broker_url: str | None = None) -> None:
        """Connect and run the devices in ``state_dirs``; open the control socket."""
        from openvisor.device.fleet import Fleet

        self._broker_url = broker_url
        self._fleet = Fleet(workers=self.workers, realtime=self.realtime)
        for state_dir in state_dirs:
            self._add(connect_device(state_dir, broker_url=broker_url))
        self._fleet.start()
        self._serve_control()

    def _add(self, hosted: HostedDevice) -> None:
        hosted.link.start()
        self._fleet.add(hosted.device)
        self.devices[hosted.device.device_id] = hosted
        log.info("Host device (device=%s, state_dir=%s)", hosted.device.device_id, hosted.state_dir)

    def stop(self) -> None:
        """Close the control socket, stop the fleet (state is flushed) and the links."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            (self.folder / CONTROL_SOCKET).unlink(missing_ok=True)
            self._server = None
        if self._fleet is not None:
            self._fleet.stop()
            self._fleet = None
        for hosted in self.devices.values():
            hosted.link.stop()
            hosted.http.close()

    def fault(self, device_id: str, fault: str) -> None:
        """Apply ``fault`` to a hosted device: drop or restore its link, or cut its power."""
        with self._lock:
            hosted = self.devices.get(device_id)
            if hosted is None:
                known = ", ".join(self.devices) or "none"
                raise ConfigError(f"device {device_id} is not hosted here (hosted: {known})")
            if fault == "link-down":
                hosted.link.stop()
            elif fault == "link-up":
                hosted.link.start()
            elif fault == "power-cut":
                self._power_cut(hosted)
            else:
                raise ConfigError(f"unknown fault {fault!r}: use one of {', '.join(FAULTS)}")
        log.info("Applied fault (device=%s, fault=%s)", device_id, fault)

    def _power_cut(self, hosted: HostedDevice) -> None:
        """Drop the device without flushing anything, then boot it again from its state on disk."""
        self._fleet.remove(hosted.device.device_id)
        hosted.link.stop()
        hosted.http.close()
        del self.devices[hosted.device.device_id]
        self._add(connect_device(hosted.state_dir, broker_url=self._broker_url))

    def _serve_control(self) -> None:
        host = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                try:
                    request = json.loads(self.rfile.readline())
                    host.fault(str(request["device"]), str(request["fault"]))
                    response: dict[str, Any] = {"ok": True}
                except (OpenvisorError, KeyError, ValueError) as exc:
                    log.warning("Reject fault request (error=%s)", exc)
                    response = {"error": str(exc)}
                self.wfile.write(json.dumps(response).encode() + b"\n")

        path = self.folder / CONTROL_SOCKET
        self.folder.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        self._server = socketserver.UnixStreamServer(str(path), Handler)
        threading.Thread(
            target=self._server.serve_forever, name="device-control", daemon=True
        ).start()


def send_fault(folder: Path, device_id: str, fault: str, *, timeout: float = 10.0) -> None:
    """Ask the device host serving ``folder`` to apply a fault; raise its error if it fails."""
    path = folder / CONTROL_SOCKET
    if not path.exists():
        raise ConfigError(
            f"no running device host in {folder} (no {CONTROL_SOCKET}): start devices with "
            "`ov up` or `ov device run`, or pass --state with their folder"
        )
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except OSError as exc:
            raise ConfigError(
                f"the device host in {folder} does not respond ({exc.strerror}): is `ov up` "
                "still running?"
            ) from exc
        sock.sendall(json.dumps({"device": device_id, "fault": fault}).encode() + b"\n")
        response = json.loads(sock.makefile().readline() or "{}")
    if not response.get("ok"):
        raise ConfigError(response.get("error", f"the device host in {folder} sent no response"))
