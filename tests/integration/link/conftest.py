"""Private brokers, a test CA, an HTTPS echo server and cloud databases for the
device-link integration tests.

Each private Mosquitto runs on a free loopback port with its own
configuration in ``tmp_path``. The tests start, stop and restart it
themselves, so they never touch the machine's broker on 1883.
"""

from __future__ import annotations

import datetime
import getpass
import ipaddress
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy.orm import Session, sessionmaker

from openvisor.cloud.db import create_db_engine, create_session_factory, migrate, session_scope
from openvisor.cloud.security import SecretBox
from openvisor.cloud.service import accounts, devices

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` every 20 ms until it is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@dataclass
class Mosquitto:
    """A private Mosquitto process with a configuration written by the test."""

    folder: Path
    port: int
    config_lines: list[str]
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.folder / "mosquitto.log"

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        config = self.folder / "mosquitto.conf"
        config.write_text("\n".join(self.config_lines) + "\n")
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the process lifetime
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(config)], stdout=log, stderr=log)
        if not wait_until(self._listening, 10):
            self.stop()
            pytest.fail(f"mosquitto did not listen on {self.port}:\n{self.log_path.read_text()}")

    def _listening(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Callable[..., Mosquitto]]:
    """Return a factory ``mosquitto(*config_lines, port=None)`` that starts a private broker."""
    if not Path(MOSQUITTO).exists():
        pytest.skip("the mosquitto binary is not installed (apt-get install mosquitto)")
    started: list[Mosquitto] = []

    def make(*lines: str, port: int | None = None) -> Mosquitto:
        folder = tmp_path / f"mosquitto-{len(started)}"
        folder.mkdir()
        port = port or free_port()
        # Mosquitto started by root switches to the "mosquitto" user unless the
        # configuration names a user, and that user cannot read tmp_path.
        config = [f"user {getpass.getuser()}", f"listener {port} 127.0.0.1", *lines]
        broker = Mosquitto(folder, port, config)
        started.append(broker)
        broker.start()
        return broker

    yield make
    for broker in started:
        broker.stop()


@dataclass
class TestCa:
    """A throwaway certificate authority for TLS tests."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    folder: Path

    @property
    def cert_path(self) -> Path:
        path = self.folder / "ca.pem"
        if not path.exists():
            path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        return path

    def issue(
        self,
        common_name: str,
        *,
        public_key: ec.EllipticCurvePublicKey | None = None,
        server: bool = False,
    ) -> tuple[Path, Path | None]:
        """Issue a certificate; return (cert file, key file or None when the key was given)."""
        key = None
        if public_key is None:
            key = ec.generate_private_key(ec.SECP256R1())
            public_key = key.public_key()
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            ).add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
        else:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
            )
        cert = builder.sign(self.key, hashes.SHA256())
        cert_path = self.folder / f"{common_name}.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path = None
        if key is not None:
            key_path = self.folder / f"{common_name}.key"
            key_path.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        return cert_path, key_path


@pytest.fixture
def test_ca(tmp_path: Path) -> TestCa:
    """A fresh CA whose files live in ``tmp_path/ca``."""
    folder = tmp_path / "ca"
    folder.mkdir()
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "openvisor test CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return TestCa(key, cert, folder)


class EchoHandler(BaseHTTPRequestHandler):
    """Replies to every request with 201, a JSON echo of it and an X-Echo header."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length", 0) or 0)
        body = self.rfile.read(length) if length else b""
        payload = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "header": self.headers.get("X-Test", ""),
                "body": body.decode(),
            }
        ).encode()
        self.server.seen.append(json.loads(payload))  # type: ignore[attr-defined]
        self.send_response(201)
        self.send_header("X-Echo", "yes")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class HttpsEcho:
    """An HTTPS echo server on loopback with a certificate from `test_ca`."""

    url: str
    seen: list[dict[str, str]]


@pytest.fixture
def https_echo(test_ca: TestCa) -> Iterator[HttpsEcho]:
    cert, key = test_ca.issue("localhost", server=True)
    assert key is not None
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
    server.seen = []  # type: ignore[attr-defined]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield HttpsEcho(f"https://127.0.0.1:{server.server_address[1]}", server.seen)  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


@pytest.fixture
def https_server(https_echo: HttpsEcho) -> str:
    """The base URL of `https_echo`."""
    return https_echo.url


@dataclass
class Cloud:
    """A migrated cloud database with one account."""

    sessions: sessionmaker[Session]
    account_sid: str
    box: SecretBox

    def provision(self, identity: Any) -> None:
        """Register a device identity with this account."""
        with session_scope(self.sessions) as session:
            devices.provision_device(
                session,
                self.account_sid,
                public_key=identity.public_key_pem(),
                device_sid=identity.device_id,
            )


@pytest.fixture
def make_cloud() -> Callable[[str], Cloud]:
    """Return a factory that migrates the database at a URL and creates an account."""

    def make(url: str) -> Cloud:
        engine = create_db_engine(url)
        migrate(engine)
        sessions = create_session_factory(engine)
        with session_scope(sessions) as session:
            account, _ = accounts.create_account(session, friendly_name="link test")
        return Cloud(sessions, account.sid, SecretBox(None))

    return make
