"""A whole openvisor installation in one process, for `ov up`, `ov demo` and tests.

:class:`LocalCloud` serves the cloud (SQLite under a state directory) with
uvicorn on a loopback port from a background thread. Nothing here listens
beyond 127.0.0.1.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from openvisor import atomicfile
from openvisor.errors import ConfigError, OpenvisorError, StateError

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
PROVISIONING_FILE = "provisioning.json"
TRUST_FILE = "trust.json"


@dataclass(frozen=True)
class AdminCredentials:
    """The admin account of a local cloud: account SID and auth token."""

    account_sid: str
    auth_token: str

    @classmethod
    def generate(cls) -> AdminCredentials:
        """Create random credentials in the Microvisor SID format (AC + 32 hex digits)."""
        return cls(account_sid="AC" + secrets.token_hex(16), auth_token=secrets.token_hex(16))

    @property
    def key(self) -> str:
        """The credentials as ``SID:SECRET``."""
        return f"{self.account_sid}:{self.auth_token}"


def bind_loopback(port: int) -> socket.socket:
    """Bind a listening TCP socket on 127.0.0.1 (``port`` 0 picks a free one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((LOOPBACK, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {LOOPBACK}:{port} ({exc.strerror}): another program uses the "
            "port; pass --port with a free port, or --port 0 to pick one"
        ) from exc
    sock.listen(128)
    return sock


class LocalCloud:
    """The cloud service on a loopback port, run by uvicorn in a background thread.

    With ``service_link`` (and ``broker_url``, the broker handed to devices)
    the service also serves devices over that link.

    Example::

        cloud = LocalCloud(state_dir, credentials=AdminCredentials.generate())
        cloud.start()
        print(cloud.url)      # http://127.0.0.1:<port>
        cloud.stop()
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        credentials: AdminCredentials,
        port: int = 0,
        broker_url: str | None = None,
        service_link: Any = None,
    ) -> None:
        self.state_dir = state_dir
        self.credentials = credentials
        self._requested_port = port
        self.broker_url = broker_url
        self.service_link = service_link
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._app: Any = None
        self.port = 0

    @property
    def service(self) -> Any:
        """The running service's state (database sessions, signer), valid after :meth:`start`."""
        if self._app is None:
            raise OpenvisorError("the cloud is not running: call start() first")
        return self._app.state.ov

    @property
    def url(self) -> str:
        """The REST base URL (without ``/v1``), valid after :meth:`start`."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def database_url(self) -> str:
        """The SQLite database of this cloud."""
        return f"sqlite:///{self.state_dir / 'cloud.db'}"

    def start(self, timeout: float = 30.0) -> None:
        """Start serving and wait until the service has migrated its database."""
        import uvicorn

        from openvisor.cloud.app import create_app
        from openvisor.cloud.settings import Settings

        self.state_dir.mkdir(parents=True, exist_ok=True)
        sock = bind_loopback(self._requested_port)
        self.port = sock.getsockname()[1]
        settings = Settings(
            database_url=self.database_url,
            public_url=self.url,
            admin_account_sid=self.credentials.account_sid,
            admin_auth_token=self.credentials.auth_token,
        )
        if self.broker_url:
            settings = settings.model_copy(update={"broker_url": self.broker_url})
        self._app = create_app(settings, service_link=self.service_link)
        config = uvicorn.Config(
            self._app,
            log_config=None,
            log_level="warning",
            ws="websockets-sansio",
            lifespan="on",
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="local-cloud", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive():
                raise OpenvisorError(
                    f"the cloud failed to start on {self.url}: run with -vv to see why"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise OpenvisorError(f"the cloud did not start on {self.url} within {timeout} s")
            time.sleep(0.02)
        log.info("Started local cloud (url=%s, state_dir=%s)", self.url, self.state_dir)

    def stop(self) -> None:
        """Stop serving and join the server thread."""
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._server = None
        self._thread = None
        log.info("Stopped local cloud (url=%s)", self.url)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def provision_device(
    client: Any, folder: Path, *, unique_name: str | None = None, exact_dir: bool = False
) -> tuple[str, Path]:
    """Create a device identity, register it with the cloud and store what it needs.

    The state directory is ``folder`` itself when ``exact_dir`` is set, else
    ``folder/<device SID>``. It receives the identity (``identity/``), the
    registration response with the broker settings and link secret
    (``provisioning.json``, mode 0600) and the cloud's bundle-signing key in
    the trust store (``trust.json``). Returns the device SID and the directory.
    """
    from openvisor.bundle import TrustStore
    from openvisor.link.identity import DeviceIdentity, new_device_id

    device_id = new_device_id()
    state_dir = folder if exact_dir else folder / device_id
    if (state_dir / "identity" / "device.json").exists():
        raise StateError(f"{state_dir} already contains a device: choose an empty state directory")
    identity = DeviceIdentity.create(state_dir, device_id=device_id)
    registration = client.provision_device(
        identity.public_key_pem(), device_sid=identity.device_id, unique_name=unique_name
    )
    path = state_dir / PROVISIONING_FILE
    atomicfile.write_json(path, {**registration, "api_url": client.base_url})
    os.chmod(path, 0o600)
    trust = TrustStore()
    signing_key = base64.b64decode(registration["bundle_signing_key"]["public_key"])
    trust.add(signing_key, label="cloud")
    trust.save(state_dir / TRUST_FILE)
    log.info("Provisioned device (device=%s, state_dir=%s)", identity.device_id, state_dir)
    return identity.device_id, state_dir
