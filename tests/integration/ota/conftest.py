"""Fixtures for OTA integration tests: a loopback HTTP server with range support, and bundles."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from openvisor.bundle import (
    ManifestOptions,
    PrivateKeySigner,
    TrustStore,
    build_app_body,
    build_image,
    build_opaque_manifest,
    write_bundle,
)

_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


@dataclass
class BundleServer:
    """Serves bundles by path with RFC 9110 byte ranges; records every request."""

    base_url: str
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    # path -> number of body bytes after which the next response drops the connection
    drop_after: dict[str, int] = field(default_factory=dict)

    def add(self, path: str, data: bytes) -> str:
        """Publish ``data`` at ``path`` and return its URL."""
        self.files[path] = data
        return f"{self.base_url}{path}"


def _handler(server_state: BundleServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            range_header = self.headers.get("Range")
            server_state.requests.append((self.path, range_header))
            data = server_state.files.get(self.path)
            if data is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start, end = 0, len(data) - 1
            status = 200
            if range_header:
                match = _RANGE.fullmatch(range_header)
                assert match is not None, range_header
                start = int(match.group(1))
                end = int(match.group(2)) if match.group(2) else len(data) - 1
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
            body = data[start : end + 1]
            self.send_response(status)
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            drop = server_state.drop_after.pop(self.path, None)
            if drop is not None:
                self.wfile.write(body[:drop])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.wfile.write(body)

    return Handler


@pytest.fixture
def bundle_server() -> Iterator[BundleServer]:
    """Start a loopback HTTP server on a free port for the test."""
    state = BundleServer(base_url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@dataclass(frozen=True)
class AppVersion:
    """One signed test bundle and the values a device must see after installing it."""

    name: str
    bundle: bytes
    app_id: str
    image: bytes  # flash image, unpadded
    measurement: bytes  # SHA-256 of the image padded with 0xFF to 1 MiB


def _app_image(firmware: Callable[[str], Path], name: str, filler: int) -> bytes:
    """Return the flash image of firmware ``name``, or of hello plus filler bytes when absent.

    ``filler`` random bytes are appended so versions differ and downloads span
    several HTTP chunks.
    """
    app_dir = Path(__file__).resolve().parents[3] / "firmware" / "apps" / name
    image = build_image(firmware(name if app_dir.is_dir() else "hello"))
    return image + os.urandom(filler)


@pytest.fixture(scope="session")
def signer() -> PrivateKeySigner:
    """The account signing key that test devices trust."""
    return PrivateKeySigner.generate()


@pytest.fixture(scope="session")
def app_versions(
    firmware: Callable[[str], Path], signer: PrivateKeySigner
) -> dict[str, AppVersion]:
    """Signed bundles v1, v2 and v3 (v3 is the one test devices treat as crashing)."""
    versions = {}
    for index, name in enumerate(("demo_v1", "demo_v2", "demo_v3"), start=1):
        image = _app_image(firmware, name, 48 * 1024 + index)
        body = build_app_body(image, ManifestOptions(minimum_kernel_version=1))
        manifest = build_opaque_manifest(body, signer)
        padded = image + b"\xff" * (0x100000 - len(image))
        versions[f"v{index}"] = AppVersion(
            name=name,
            bundle=write_bundle(manifest, [image]),
            app_id=hashlib.sha256(body).hexdigest(),
            image=image,
            measurement=hashlib.sha256(padded).digest(),
        )
    return versions


@pytest.fixture
def trust(signer: PrivateKeySigner) -> TrustStore:
    """A trust store holding the test signing key."""
    store = TrustStore()
    store.add(signer.public_key, label="cloud")
    return store
