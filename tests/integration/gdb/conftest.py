"""The stack behind remote debugging: a private Mosquitto, the cloud with its debug relay,
and a device on the MQTT link, all on loopback with free ports."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from openvisor.cloud.app import create_app
from openvisor.cloud.db import session_scope
from openvisor.cloud.debugrelay import DebugRelay
from openvisor.cloud.service.accounts import create_account, create_api_key
from openvisor.cloud.service.devices import provision_device
from openvisor.cloud.settings import Settings
from openvisor.gdb.proxy import DebugProxy, ProxyOptions
from openvisor.link.mqtt import MqttServiceLink, parse_broker_url

MOSQUITTO = "/usr/sbin/mosquitto"


def free_port() -> int:
    """Return a TCP port that was free on loopback a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    """Block until something accepts connections on ``127.0.0.1:port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[str]:
    """Start a private Mosquitto on a free loopback port; yield its URL."""
    if not Path(MOSQUITTO).exists() and shutil.which("mosquitto") is None:
        pytest.skip("mosquitto is not installed: apt-get install mosquitto")
    port = free_port()
    config = tmp_path / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    process = subprocess.Popen(
        [MOSQUITTO, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_port(port)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class Cloud:
    """A running cloud service with the debug relay, and an account to use it with."""

    api_url: str
    relay: DebugRelay
    sessions: Any
    account_sid: str
    key_sid: str
    key_secret: str
    service_link: MqttServiceLink
    captured: list[tuple[str, str, bytes]] = field(default_factory=list)

    def provision(self, device_id: str, public_key_pem: str) -> None:
        """Register a device of this account in the cloud database."""
        with session_scope(self.sessions) as session:
            provision_device(
                session, self.account_sid, public_key=public_key_pem, device_sid=device_id
            )

    def proxy_options(self, device: str, key: ec.EllipticCurvePrivateKey) -> ProxyOptions:
        """Options for an ``ov debug`` proxy on a free port."""
        return ProxyOptions(
            api_url=self.api_url,
            device=device,
            key_sid=self.key_sid,
            key_secret=self.key_secret,
            private_key=key,
            port=0,
            handshake_timeout=10.0,
        )


@pytest.fixture
def cloud(tmp_path: Path, broker: str) -> Iterator[Cloud]:
    """Run the cloud app (uvicorn, SQLite) with the debug relay on the private broker."""
    port = free_port()
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'cloud.db'}", broker_url=broker)
    service_link = MqttServiceLink(parse_broker_url(broker))
    app = create_app(settings, service_link=service_link)
    relay: DebugRelay = app.state.debug_relay

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, ws="websockets")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_port(port)
    assert service_link.wait_ready(10), "service link did not connect to the broker"
    sessions = app.state.ov.sessions
    with session_scope(sessions) as session:
        account, _token = create_account(session, friendly_name="debugging")
        key, secret = create_api_key(session, account.sid)
        account_sid, key_sid = account.sid, key.sid
    result = Cloud(
        api_url=f"http://127.0.0.1:{port}",
        relay=relay,
        sessions=sessions,
        account_sid=account_sid,
        key_sid=key_sid,
        key_secret=secret,
        service_link=service_link,
    )
    relay.taps.append(lambda sid, direction, data: result.captured.append((sid, direction, data)))
    try:
        yield result
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def pem_of(key: ec.EllipticCurvePrivateKey) -> bytes:
    """Return the PKCS#8 PEM text of a private key."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class ProxyThread:
    """An ``ov debug`` proxy running its event loop on a thread of its own."""

    def __init__(self, options: ProxyOptions) -> None:
        self.proxy = DebugProxy(options)
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, timeout: float = 15.0) -> ProxyThread:
        """Open the session and start relaying; raise the proxy's error if it failed."""
        self._thread.start()
        self._ready.wait(timeout)
        if self.error is not None:
            raise self.error
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.proxy.open())
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread by start()
            self.error = exc
            self._ready.set()
            return
        # The task exists before start() returns, so an early stop() can cancel it.
        self._task = self.loop.create_task(self.proxy.serve_forever())
        self._ready.set()
        try:
            self.loop.run_until_complete(self._task)
        except BaseException as exc:  # noqa: BLE001 - cancelled at stop, or the relay closed
            self.error = exc
        finally:
            self.loop.run_until_complete(self.proxy.close())

    @property
    def port(self) -> int:
        """The loopback port GDB connects to."""
        return self.proxy.status.port

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run a coroutine factory on the proxy's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(fn(), self.loop).result(10)

    def stop(self) -> None:
        """Cancel the relay task and wait for the thread."""
        if self._thread.is_alive() and hasattr(self, "_task"):
            self.loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(timeout=10)


@pytest.fixture
def start_proxy() -> Iterator[Callable[[ProxyOptions], ProxyThread]]:
    """Start ``ov debug`` proxies on threads; every one is stopped at the end of the test."""
    started: list[ProxyThread] = []

    def start(options: ProxyOptions) -> ProxyThread:
        proxy = ProxyThread(options)
        started.append(proxy)
        return proxy.start()

    yield start
    for proxy in started:
        proxy.stop()


GDB = "gdb-multiarch"


@dataclass
class GdbRun:
    """The output of one batch GDB run."""

    output: str
    returncode: int


def _run_gdb(
    elf: Path,
    port: int,
    commands: list[str],
    *,
    timeout: float = 60.0,
    interrupt_when: Callable[[], bool] | None = None,
) -> GdbRun:
    """Run ``gdb-multiarch`` in batch mode against ``127.0.0.1:port`` with ``commands``.

    With ``interrupt_when`` the test sends SIGINT to GDB, as Ctrl-C in a
    terminal does (GDB passes it on as 0x03), once the predicate holds and
    the app has run on for another half second.
    """
    if shutil.which(GDB) is None:
        pytest.fail(f"{GDB} is not installed: apt-get install gdb-multiarch")
    args = [GDB, "-q", "-nx", "-batch", "-ex", "set pagination off", "-ex", "set confirm off"]
    # The tunnel's first round trips can exceed GDB's 2 s default on a loaded machine.
    args += ["-ex", "set remotetimeout 10"]
    args += ["-ex", f"target remote 127.0.0.1:{port}"]
    for command in commands:
        args += ["-ex", command]
    args.append(str(elf))
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True
    )
    if interrupt_when is not None:
        predicate = interrupt_when

        def interrupt() -> None:
            deadline = time.monotonic() + timeout
            while not predicate() and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.5)
            if process.poll() is None:
                process.send_signal(signal.SIGINT)

        threading.Thread(target=interrupt, daemon=True).start()
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"GDB timed out after {timeout} s; output so far:\n{output}")
    return GdbRun(output=output, returncode=process.returncode)


class DeviceRunner:
    """Run a device's slices on a thread, the way ``ov run`` does."""

    def __init__(self, device: Any) -> None:
        self.device = device
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> DeviceRunner:
        self.device.boot()
        self._thread.start()
        return self

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                self.device.step()
                debugger = self.device.debugger
                if debugger is not None and debugger.holds_app():
                    # Halted: only packets and link traffic to serve.
                    self.device.kernel.wakeup.wait(0.001)
        except BaseException as exc:  # noqa: BLE001 - reported by stop()
            self.error = exc

    def stop(self) -> None:
        """Stop the loop; raise what the device loop raised, if anything."""
        self._stop.set()
        self._thread.join(timeout=10)
        if self.error is not None:
            raise self.error


@pytest.fixture
def run_gdb() -> Callable[..., GdbRun]:
    """Return the batch GDB runner (see ``_run_gdb``)."""
    return _run_gdb


@pytest.fixture
def device_runner() -> Iterator[Callable[[Any], DeviceRunner]]:
    """Boot devices and run their loops on threads; every loop is stopped at teardown."""
    runners: list[DeviceRunner] = []

    def start(device: Any) -> DeviceRunner:
        runner = DeviceRunner(device).start()
        runners.append(runner)
        return runner

    yield start
    for runner in runners:
        runner.stop()
