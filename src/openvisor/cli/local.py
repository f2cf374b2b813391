"""A whole openvisor installation in one process, for `ov up`, `ov demo` and tests.

:class:`LocalCloud` serves the cloud (SQLite under a state directory) with
uvicorn on a loopback port from a background thread. Nothing here listens
beyond 127.0.0.1.
"""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from openvisor.errors import ConfigError, OpenvisorError

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


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
    ) -> None:
        self.state_dir = state_dir
        self.credentials = credentials
        self._requested_port = port
        self._broker_url = broker_url
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

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
        from openvisor.cloud.app import create_app
        from openvisor.cloud.settings import Settings

        self.state_dir.mkdir(parents=True, exist_ok=True)
        sock = bind_loopback(self._requested_port)
        self.port = sock.getsockname()[1]
        options: dict[str, object] = {
            "database_url": self.database_url,
            "public_url": self.url,
            "admin_account_sid": self.credentials.account_sid,
            "admin_auth_token": self.credentials.auth_token,
        }
        if self._broker_url:
            options["broker_url"] = self._broker_url
        config = uvicorn.Config(
            create_app(Settings(**options)),
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

    def __enter__(self) -> LocalCloud:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
