"""Real gdb-multiarch through ``ov debug``, the cloud relay and MQTT to a device's stub."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from openvisor.bundle import ManifestOptions, create_bundle
from openvisor.device.device import Device
from openvisor.device.image import AppImage
from openvisor.gdb.packets import encode_packet
from openvisor.gdb.tunnel import public_point
from openvisor.kernel.abi import MvNetworkReason, MvWakeReason
from openvisor.kernel.net.state import NetState
from openvisor.link.identity import DeviceIdentity
from openvisor.link.messages import DebugFrame
from openvisor.link.mqtt import MqttDeviceLink, parse_broker_url

APP = "g_debug"


@dataclass
class Remote:
    """A device on the MQTT link running a bundle with a debugging key."""

    device: Device
    device_id: str
    key: ec.EllipticCurvePrivateKey
    wake_reasons: list[MvWakeReason]


@pytest.fixture
def elf(firmware: Callable[[str], Path]) -> Path:
    return firmware(APP)


@pytest.fixture
def remote(
    tmp_path: Path, broker: str, cloud: Any, elf: Path, device_runner: Any
) -> Iterator[Remote]:
    key = ec.generate_private_key(ec.SECP256R1())
    bundle = create_bundle(elf, ManifestOptions(debug_auth_pubkey=public_point(key)))
    image = AppImage.from_bundle(bundle, name=APP, allow_unsigned=True)
    state_dir = tmp_path / "device"
    identity = DeviceIdentity.load_or_create(state_dir)
    cloud.provision(identity.device_id, identity.public_key_pem())
    link = MqttDeviceLink(identity.device_id, parse_broker_url(broker), state_dir=state_dir)
    device = Device(state_dir, image=image, link=link)
    wake_reasons: list[MvWakeReason] = []
    device.boot_listeners.append(lambda _count, wake: wake_reasons.append(wake))
    link.start()
    assert link.wait_online(10), "device link did not connect"
    device_runner(device)
    yield Remote(device, identity.device_id, key, wake_reasons)
    link.stop()


class Sniffer:
    """An MQTT client that records every payload on the broker, as a traffic capture."""

    def __init__(self, broker: str) -> None:
        address = parse_broker_url(broker)
        self.payloads: list[tuple[str, bytes]] = []
        self._subscribed = threading.Event()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2)
        self.client.on_message = lambda _c, _u, msg: self.payloads.append(
            (msg.topic, bytes(msg.payload))
        )
        self.client.on_subscribe = lambda *_args: self._subscribed.set()
        self.client.connect(address.host, address.port)
        self.client.subscribe("#")
        self.client.loop_start()
        assert self._subscribed.wait(5), "sniffer did not subscribe"

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_gdb_session_through_tunnel(
    remote: Remote, cloud: Any, broker: str, elf: Path, start_proxy: Any, run_gdb: Any
) -> None:
    sniffer = Sniffer(broker)
    proxy = start_proxy(cloud.proxy_options(remote.device_id, remote.key))
    result = run_gdb(
        elf,
        proxy.port,
        [
            "monitor reset",
            "maintenance flush register-cache",
            "break main",
            "continue",
            "next",
            "next",
            "step",
            "print counter",
            "set var counter = 41",
            "print counter",
            "delete",
            "watch watched",
            "continue",
            "delete",
            "break irq_work",
            "continue",
            "backtrace",
            "delete",
            "set var fault_request = 1",
            "continue",
            "info registers pc sp",
            "kill",
        ],
        timeout=120,
    )
    sniffer.stop()
    out = result.output

    assert "Application restarted and held at its reset vector" in out, out
    assert remote.wake_reasons[-1] is MvWakeReason.DEBUGGERRESTART
    assert "Breakpoint 1, main () at apps/g_debug/main.c" in out, out
    assert re.search(r"add_step \(value=0, step=(step@entry=)?1\)", out), out
    assert "$1 = 0" in out, out
    assert "$2 = 41" in out, out
    assert "Hardware watchpoint 2: watched" in out, out
    assert "New value = 16" in out, out
    assert "<signal handler called>" in out, out
    assert "IRQ41_Handler" in out, out
    assert "Program received signal SIGSEGV" in out, out
    assert "[Inferior 1 (Remote target) killed]" in out, out
    assert remote.wake_reasons.count(MvWakeReason.DEBUGGERRESTART) == 2
    assert remote.device.crash_log.crash_count == 0

    # The relay and the broker carried only ciphertext.
    relayed = [data for _sid, _direction, data in cloud.captured]
    assert len(relayed) > 20
    assert not any(b"$g#67" in data for data in relayed)
    assert not any(b"qSupported" in data for data in relayed)
    debug_topics = [(topic, data) for topic, data in sniffer.payloads if "/debug" in topic]
    assert len(debug_topics) > 20
    assert not any(b"$g#67" in data for _topic, data in debug_topics)
    assert not any(b"qSupported" in data for _topic, data in debug_topics)


def _app_running(device: Device) -> bool:
    debugger = device.debugger
    return debugger is not None and debugger.attached and not debugger.holds_app()


def test_interrupt_through_tunnel(
    remote: Remote, cloud: Any, elf: Path, start_proxy: Any, run_gdb: Any
) -> None:
    proxy = start_proxy(cloud.proxy_options(remote.device_id, remote.key))
    result = run_gdb(
        elf,
        proxy.port,
        ["continue", "print counter > 0", "detach"],
        interrupt_when=lambda: _app_running(remote.device),
    )
    assert "Program received signal SIGINT, Interrupt." in result.output
    assert "$1 = 1" in result.output


def _exchange(sock: socket.socket, payload: bytes, expect: bytes) -> bytes:
    sock.sendall(encode_packet(payload))
    data = b""
    deadline = time.monotonic() + 10
    while expect not in data and time.monotonic() < deadline:
        data += sock.recv(65536)
    return data


def test_replayed_frame_is_rejected(remote: Remote, cloud: Any, start_proxy: Any) -> None:
    proxy = start_proxy(cloud.proxy_options(remote.device_id, remote.key))
    endpoint = remote.device.debugger.remote
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        assert b"$S05#b8" in _exchange(sock, b"?", b"#b8")
        assert endpoint.attached
        reasons = remote.device.kernel.family_state(NetState).reasons()
        assert reasons & MvNetworkReason.DEBUGGERATTACHED

        # Work the link queues for the kernel still runs while the app is halted.
        ran = threading.Event()
        remote.device.kernel.call_soon(lambda _kernel: ran.set())
        assert ran.wait(5)
        assert remote.device.debugger.holds_app()

        sid, _direction, frame = [item for item in cloud.captured if item[1] == "up"][-1]
        cloud.service_link.send(remote.device_id, DebugFrame(session=sid, data=frame))
        deadline = time.monotonic() + 5
        while endpoint.rejected_frames == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert endpoint.rejected_frames == 1

        # The session goes on: the replay neither ended it nor ran the packet twice.
        reply = _exchange(sock, b"m20000000,4", b"#")
        assert re.search(rb"\$[0-9a-f]{8}#", reply), reply
