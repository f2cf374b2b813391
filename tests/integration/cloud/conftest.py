"""Fixtures that run the real cloud service with uvicorn on a free loopback port."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import secrets
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ADMIN_SID = "AC" + "a0" * 16
ADMIN_TOKEN = "admin-token-" + "5" * 20
# The shared service encrypts secret values at rest with this key.
SECRETS_KEY = base64.b64encode(b"openvisor-test-secrets-key-32by!").decode()


@dataclass
class Service:
    """One running service process."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    database_url: str
    env: dict[str, str] = field(default_factory=dict)

    def log_text(self) -> str:
        """Return everything the process has logged so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 10 s)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_service(database_url: str, log_dir: Path, **settings: str) -> Service:
    """Start ``python -m openvisor.cloud serve`` on a socket bound here to a free port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENVISOR_", "TWILIO_"))}
    env.update(
        {
            "OPENVISOR_DATABASE_URL": database_url,
            "OPENVISOR_ADMIN_ACCOUNT_SID": ADMIN_SID,
            "OPENVISOR_ADMIN_AUTH_TOKEN": ADMIN_TOKEN,
            "OPENVISOR_LOG_POLL_INTERVAL_S": "0.1",
        }
    )
    env.update({f"OPENVISOR_{name.upper()}": value for name, value in settings.items()})
    log_path = log_dir / f"service-{port}.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "openvisor.cloud", "serve", "--fd", str(sock.fileno())],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            pass_fds=(sock.fileno(),),
        )
    sock.close()
    service = Service(f"http://127.0.0.1:{port}", process, log_path, database_url, env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"service exited with {process.returncode}:\n{service.log_text()}")
        try:
            if httpx.get(f"{service.url}/healthz", timeout=1).status_code == 200:
                return service
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    service.stop()
    raise RuntimeError(f"service did not become healthy in 60 s:\n{service.log_text()}")


@pytest.fixture(scope="session")
def fresh_postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a new schema, dropped afterwards."""
    base_url: str = request.getfixturevalue("postgres_url")
    schema = "ov_test_" + secrets.token_hex(6)
    engine = create_engine(base_url)
    with engine.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh database: a SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'cloud.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


@pytest.fixture(scope="session")
def service(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One service instance per database, shared by the whole run (tests use own accounts)."""
    running = start_service(
        database_url,
        tmp_path_factory.mktemp("logs"),
        secrets_key=SECRETS_KEY,
        # One long window, so that instances with other limits share counters.
        rate_limit_window_s="3600",
        rate_limit_per_key="100000",
    )
    yield running
    running.stop()


@dataclass
class Account:
    """An account created through the admin API."""

    sid: str
    token: str

    @property
    def auth(self) -> tuple[str, str]:
        """Basic credentials."""
        return (self.sid, self.token)


_clients: dict[str, httpx.Client] = {}


def _client(service_url: str) -> httpx.Client:
    """Return a pooled client for a service; creating TLS contexts per call is slow."""
    if service_url not in _clients:
        _clients[service_url] = httpx.Client(base_url=service_url, timeout=30)
    return _clients[service_url]


def create_account(service_url: str, name: str = "") -> Account:
    """Create an account with the admin credentials."""
    response = _client(service_url).post(
        "/v1/Accounts", auth=(ADMIN_SID, ADMIN_TOKEN), data={"FriendlyName": name}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Account(body["sid"], body["auth_token"])


def new_public_key() -> str:
    """Return the base64 of a fresh P-256 public key's uncompressed point."""
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return base64.b64encode(point).decode()


def provision(service_url: str, account: Account, unique_name: str | None = None) -> dict[str, str]:
    """Provision a device in an account; returns the response (with ``link_secret``)."""
    form = {"PublicKey": new_public_key()}
    if unique_name:
        form["UniqueName"] = unique_name
    response = _client(service_url).post("/v1/Provisioning", auth=account.auth, data=form)
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    return body


def _field(number: int, payload: bytes) -> bytes:
    length = len(payload)
    out = bytearray([number << 3 | 2])
    while True:
        byte = length & 0x7F
        length >>= 7
        out.append(byte | (0x80 if length else 0))
        if not length:
            break
    return bytes(out) + payload


def build_bundle(
    layer: bytes | None = None, *, signer_id: int = 0, signature: bytes = b""
) -> bytes:
    """Build a bundle zip in the Microvisor format with one internal-flash layer."""
    layer = layer if layer is not None else secrets.token_bytes(256)
    fetch_hash = hashlib.sha256(layer).digest()
    measurement = hashlib.sha256(layer + b"\xff" * (0x100000 - len(layer))).digest()
    region = _field(1, b"\x10\x80\x80\x40")  # InternalFlashRegion {size: 0x100000}
    reference = _field(1, region) + _field(3, fetch_hash) + _field(4, measurement)
    body = _field(1, reference)
    manifest = bytearray()
    if signer_id:
        value = signer_id
        manifest.append(0x08)
        while True:
            byte = value & 0x7F
            value >>= 7
            manifest.append(byte | (0x80 if value else 0))
            if not value:
                break
    manifest += _field(2, body)
    if signature:
        manifest += _field(3, signature)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest", bytes(manifest))
        archive.writestr(fetch_hash.hex(), layer)
    return out.getvalue()


def upload(service_url: str, account: Account, bundle: bytes, **form: str) -> httpx.Response:
    """Upload a bundle as multipart part ``File``."""
    return _client(service_url).post(
        "/v1/Apps", auth=account.auth, data=form, files={"File": ("b.zip", bundle)}
    )


@pytest.fixture
def new_account(service: Service) -> Callable[[str], Account]:
    """Return a function that creates an account on the module's service."""
    return lambda name="": create_account(service.url, name)


@dataclass(frozen=True)
class Helpers:
    """Helper functions for tests (test modules cannot import conftest directly)."""

    admin_sid: str = ADMIN_SID
    admin_token: str = ADMIN_TOKEN
    secrets_key: str = SECRETS_KEY
    start_service: Callable[..., Service] = start_service
    create_account: Callable[..., Account] = create_account
    provision: Callable[..., dict[str, str]] = provision
    new_public_key: Callable[[], str] = new_public_key
    build_bundle: Callable[..., bytes] = build_bundle
    upload: Callable[..., httpx.Response] = upload


@pytest.fixture(scope="session")
def helpers() -> Helpers:
    """Helper functions shared by the cloud integration tests."""
    return Helpers()


@pytest.fixture(scope="module")
def http(service: Service) -> Iterator[httpx.Client]:
    """An HTTP client for the module's service (one connection pool for speed)."""
    with httpx.Client(base_url=service.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def db_sessions(service: Service) -> Iterator[Callable[[], Any]]:
    """Open committed sessions on the service's database, as the device link does."""
    from openvisor.cloud.db import create_db_engine, create_session_factory, session_scope

    engine = create_db_engine(service.database_url)
    factory = create_session_factory(engine)
    yield lambda: session_scope(factory)
    engine.dispose()
