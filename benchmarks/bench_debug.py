"""Single-step round trip of the GDB stub, locally and through the encrypted tunnel.

Starts everything on loopback: a private Mosquitto, the cloud service with
its debug relay (SQLite), a virtual device on the MQTT link running
``firmware/build/g_debug.elf`` from a bundle with a debugging key, and the
``ov debug`` proxy. A raw RSP client then halts the app and times
``vCont;s`` packets from send to the stop reply, in no-ack mode as GDB
uses them. The same is measured against the local stub (``ov run --gdb``).

Run: ``.venv/bin/python benchmarks/bench_debug.py [--steps 500]`` (needs
``make -C firmware`` and ``/usr/sbin/mosquitto``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec

from openvisor.bundle import ManifestOptions, create_bundle
from openvisor.cloud.app import create_app
from openvisor.cloud.db import session_scope
from openvisor.cloud.service.accounts import create_account, create_api_key
from openvisor.cloud.service.devices import provision_device
from openvisor.cloud.settings import Settings
from openvisor.device.device import Device
from openvisor.device.image import AppImage
from openvisor.gdb import serve_local
from openvisor.gdb.packets import encode_packet
from openvisor.gdb.proxy import DebugProxy, ProxyOptions
from openvisor.gdb.tunnel import public_point
from openvisor.link.identity import DeviceIdentity
from openvisor.link.mqtt import MqttDeviceLink, MqttServiceLink, parse_broker_url

ROOT = Path(__file__).resolve().parent.parent
# Steps start from the reset vector and stay in the startup code's copy and
# clear loops. NOTE: Machine.step() hangs on some Thumb CBNZ instructions of
# the main loop (seen at g_debug main+0x20), so the benchmark avoids them.
STEPS_PER_RESET = 40
ELF = ROOT / "firmware" / "build" / "g_debug.elf"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


class RspClient:
    """A minimal GDB: sends packets and waits for one reply packet each."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def request(self, payload: bytes) -> bytes:
        self.sock.sendall(encode_packet(payload))
        while True:
            start = self.buffer.find(b"$")
            end = self.buffer.find(b"#", start)
            if start >= 0 and end >= 0 and len(self.buffer) >= end + 3:
                reply = self.buffer[start + 1 : end]
                self.buffer = self.buffer[end + 3 :]
                return reply
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("stub closed the connection")
            self.buffer += chunk

    def start(self) -> None:
        self.request(b"qSupported:swbreak+;hwbreak+")
        self.request(b"QStartNoAckMode")
        self.sock.sendall(b"+")
        self.buffer = self.buffer.replace(b"+", b"")
        self.request(b"?")

    def time_steps(self, count: int) -> list[float]:
        samples = []
        for n in range(count):
            if n % STEPS_PER_RESET == 0:
                self.reset()
            started = time.perf_counter()
            reply = self.request(b"vCont;s")
            samples.append((time.perf_counter() - started) * 1000)
            if not reply.startswith(b"T05"):
                raise RuntimeError(f"unexpected stop reply {reply!r}")
        return samples

    def reset(self) -> None:
        """Restart the app held at its reset vector (``monitor reset``); not timed."""
        self.request(b"qRcmd," + b"reset".hex().encode())
        while not self.buffer.startswith(b"$OK#") and b"$OK#" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("stub closed the connection")
            self.buffer += chunk
        self.buffer = self.buffer[self.buffer.index(b"$OK#") + 6 :]

    def close(self) -> None:
        self.request(b"D")
        self.sock.close()


def _run_device(device: Device, stop: threading.Event) -> None:
    device.boot()
    while not stop.is_set():
        device.step()
        if device.debugger is not None and device.debugger.holds_app():
            device.kernel.wakeup.wait(0.001)


def _report(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    print(
        f"{name}: n={len(samples)} median={statistics.median(samples):.2f} ms "
        f"p95={p95:.2f} ms max={ordered[-1]:.2f} ms"
    )


def bench_local(steps: int, workdir: Path) -> list[float]:
    device = Device(workdir / "local", image=AppImage.from_path(ELF))
    server = serve_local(device, 0)
    stop = threading.Event()
    thread = threading.Thread(target=_run_device, args=(device, stop), daemon=True)
    thread.start()
    client = RspClient(server.port)
    client.start()
    samples = client.time_steps(steps)
    client.close()
    server.close()
    stop.set()
    thread.join()
    return samples


def bench_tunnel(steps: int, workdir: Path) -> list[float]:
    broker_port = _free_port()
    config = workdir / "mosquitto.conf"
    # set_tcp_nodelay: without it Mosquitto delays small frames for Nagle's algorithm.
    config.write_text(
        f"listener {broker_port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n"
    )
    mosquitto = subprocess.Popen(
        ["/usr/sbin/mosquitto", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stop = threading.Event()
    try:
        _wait_port(broker_port)
        broker = f"mqtt://127.0.0.1:{broker_port}"

        api_port = _free_port()
        service_link = MqttServiceLink(parse_broker_url(broker))
        app = create_app(
            Settings(database_url=f"sqlite:///{workdir / 'cloud.db'}"), service_link=service_link
        )
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=api_port, log_config=None, ws="websockets")
        )
        threading.Thread(target=server.run, daemon=True).start()
        _wait_port(api_port)
        service_link.wait_ready(10)

        key = ec.generate_private_key(ec.SECP256R1())
        bundle = create_bundle(ELF, ManifestOptions(debug_auth_pubkey=public_point(key)))
        state_dir = workdir / "remote"
        identity = DeviceIdentity.load_or_create(state_dir)
        with session_scope(app.state.ov.sessions) as session:
            account, _token = create_account(session)
            api_key, secret = create_api_key(session, account.sid)
            provision_device(
                session,
                account.sid,
                public_key=identity.public_key_pem(),
                device_sid=identity.device_id,
            )
            key_sid = api_key.sid
        link = MqttDeviceLink(identity.device_id, parse_broker_url(broker), state_dir=state_dir)
        device = Device(
            state_dir,
            image=AppImage.from_bundle(bundle, name="g_debug", allow_unsigned=True),
            link=link,
        )
        link.start()
        link.wait_online(10)
        device_thread = threading.Thread(target=_run_device, args=(device, stop), daemon=True)
        device_thread.start()

        loop = asyncio.new_event_loop()
        proxy = DebugProxy(
            ProxyOptions(
                api_url=f"http://127.0.0.1:{api_port}",
                device=identity.device_id,
                key_sid=key_sid,
                key_secret=secret,
                private_key=key,
                port=0,
            )
        )
        loop.run_until_complete(proxy.open())
        task: Any = loop.create_task(proxy.serve_forever())
        threading.Thread(target=loop.run_forever, daemon=True).start()

        client = RspClient(proxy.status.port)
        client.start()
        client.time_steps(20)  # warm-up
        samples = client.time_steps(steps)
        client.close()
        loop.call_soon_threadsafe(task.cancel)
        stop.set()
        device_thread.join()
        server.should_exit = True
        link.stop()
        return samples
    finally:
        stop.set()
        mosquitto.terminate()
        mosquitto.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500, help="single steps to time per path")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not ELF.exists():
        print(f"{ELF} is missing: run make -C firmware", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        _report("local stub, vCont;s round trip", bench_local(args.steps, workdir))
        _report(
            "tunnel (WebSocket + MQTT + AES-GCM), vCont;s round trip",
            bench_tunnel(args.steps, workdir),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
