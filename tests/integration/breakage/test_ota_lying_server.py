"""Bundle downloads from servers that drop, lie or change the bundle, and a full disk.

A loopback HTTP server misbehaves in one chosen way per request. After
each failure the partial file must be a prefix of the real bundle (or
absent), and the next honest attempt must finish with the exact bytes.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from openvisor.bundle import (
    ManifestOptions,
    build_app_body,
    build_opaque_manifest,
    verify_bundle,
    write_bundle,
)
from openvisor.errors import UpdateError
from openvisor.ota import DeployRequest, OtaManager
from openvisor.ota.download import download
from openvisor.ota.journal import load_journal


@dataclass
class Reply:
    """What the server sends for one request."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_length: int | None = None  # None: len(body)
    chunk_delay_s: float = 0.0


# A behaviour takes (data, first byte requested or None, If-Range value) and returns a Reply.
Behaviour = Callable[[bytes, "int | None", "str | None"], Reply]


def honest(data: bytes, start: int | None, if_range: str | None, etag: str = "") -> Reply:
    headers = {"ETag": etag} if etag else {}
    if start is None or (if_range is not None and if_range != etag):
        return Reply(200, data, headers)
    if start >= len(data):
        return Reply(416, b"", {"Content-Range": f"bytes */{len(data)}"})
    headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
    return Reply(206, data[start:], headers)


@dataclass
class LyingServer:
    """A server of one resource whose ``script`` lists the behaviour of each next request."""

    url: str = ""
    data: bytes = b""
    script: list[Behaviour] = field(default_factory=list)
    requests: list[dict[str, str | None]] = field(default_factory=list)

    def reply(self, start: int | None, if_range: str | None) -> Reply:
        behaviour = self.script.pop(0) if self.script else honest
        return behaviour(self.data, start, if_range)


@pytest.fixture
def server() -> Iterator[LyingServer]:
    state = LyingServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            range_header = self.headers.get("Range")
            if_range = self.headers.get("If-Range")
            state.requests.append({"range": range_header, "if_range": if_range})
            start = int(range_header.split("=")[1].rstrip("-")) if range_header else None
            reply = state.reply(start, if_range)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            length = len(reply.body) if reply.content_length is None else reply.content_length
            self.send_header("Content-Length", str(length))
            self.end_headers()
            if reply.chunk_delay_s:
                for index in range(0, len(reply.body), 4096):
                    self.wfile.write(reply.body[index : index + 4096])
                    self.wfile.flush()
                    time.sleep(reply.chunk_delay_s)
            else:
                self.wfile.write(reply.body)
            if len(reply.body) < length:
                self.close_connection = True
                self.wfile.flush()
                self.connection.shutdown(2)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/bundle.zip"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def _bundle(seed: int, size: int = 60_000) -> bytes:
    image = bytes([seed]) * 1024 + os.urandom(size)
    return write_bundle(build_opaque_manifest(build_app_body(image, ManifestOptions())), [image])


def _cut(after: int) -> Behaviour:
    """Honest headers, then the connection drops after ``after`` body bytes."""

    def behaviour(data: bytes, start: int | None, if_range: str | None) -> Reply:
        reply = honest(data, start, if_range)
        return Reply(reply.status, reply.body[:after], reply.headers, len(reply.body))

    return behaviour


def _fetch(url: str, dest: Path) -> int:
    with httpx.Client(timeout=10) as client:
        return download(client, url, dest)


def test_resume_with_200_restarts(server: LyingServer, tmp_path: Path) -> None:
    server.data = _bundle(1)
    dest = tmp_path / "part"
    server.script = [_cut(10_000), lambda data, start, if_range: Reply(200, data)]
    with pytest.raises(UpdateError, match="resumes on the next try"):
        _fetch(server.url, dest)
    assert dest.read_bytes() == server.data[:10_000]
    assert _fetch(server.url, dest) == len(server.data)
    assert dest.read_bytes() == server.data
    assert server.requests[1]["range"] == "bytes=10000-"


def test_wrong_content_range_keeps_partial(server: LyingServer, tmp_path: Path) -> None:
    server.data = _bundle(2)
    dest = tmp_path / "part"

    def wrong_start(data: bytes, start: int | None, if_range: str | None) -> Reply:
        assert start is not None
        return Reply(206, data[start:], {"Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"})

    server.script = [_cut(8_000), wrong_start]
    with pytest.raises(UpdateError):
        _fetch(server.url, dest)
    with pytest.raises(UpdateError, match="for a request from byte 8000"):
        _fetch(server.url, dest)
    assert dest.read_bytes() == server.data[:8_000]
    _fetch(server.url, dest)
    assert dest.read_bytes() == server.data


def test_body_past_total_not_written(server: LyingServer, tmp_path: Path) -> None:
    server.data = _bundle(3)
    dest = tmp_path / "part"

    def too_long(data: bytes, start: int | None, if_range: str | None) -> Reply:
        assert start is not None
        body = data[start:] + b"JUNK" * 5000
        return Reply(206, body, {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})

    server.script = [_cut(5_000), too_long]
    with pytest.raises(UpdateError):
        _fetch(server.url, dest)
    with pytest.raises(UpdateError, match=f"more than the {len(server.data)} bytes"):
        _fetch(server.url, dest)
    assert server.data.startswith(dest.read_bytes())
    _fetch(server.url, dest)
    assert dest.read_bytes() == server.data


def test_changed_bundle_refetched_via_if_range(server: LyingServer, tmp_path: Path) -> None:
    old, new = _bundle(4), _bundle(5)
    dest = tmp_path / "part"
    server.data = old

    def old_version_cut(data: bytes, start: int | None, if_range: str | None) -> Reply:
        reply = honest(old, start, if_range, etag='"v1"')
        return Reply(reply.status, reply.body[:7_000], reply.headers, len(reply.body))

    server.script = [old_version_cut, lambda data, start, ir: honest(new, start, ir, etag='"v2"')]
    with pytest.raises(UpdateError):
        _fetch(server.url, dest)
    _fetch(server.url, dest)
    assert server.requests[1] == {"range": "bytes=7000-", "if_range": '"v1"'}
    assert dest.read_bytes() == new


def test_changed_etag_restarts_download(server: LyingServer, tmp_path: Path) -> None:
    old, new = _bundle(6), _bundle(7)
    dest = tmp_path / "part"

    def old_version_cut(data: bytes, start: int | None, if_range: str | None) -> Reply:
        reply = honest(old, start, None, etag='"v1"')
        return Reply(reply.status, reply.body[:7_000], reply.headers, len(reply.body))

    def ignores_if_range(data: bytes, start: int | None, if_range: str | None) -> Reply:
        return honest(new, start, None, etag='"v2"')  # a server that ignores If-Range

    server.script = [old_version_cut, ignores_if_range]
    with pytest.raises(UpdateError):
        _fetch(server.url, dest)
    with pytest.raises(UpdateError, match='changed during the download .*"v1" became "v2"'):
        _fetch(server.url, dest)
    assert not dest.exists()
    server.data = new
    _fetch(server.url, dest)
    assert dest.read_bytes() == new


def test_complete_download_is_kept_on_416(server: LyingServer, tmp_path: Path) -> None:
    server.data = _bundle(8)
    dest = tmp_path / "part"
    assert _fetch(server.url, dest) == len(server.data)
    assert _fetch(server.url, dest) == len(server.data)
    assert server.requests[1]["range"] == f"bytes={len(server.data)}-"
    assert dest.read_bytes() == server.data


@pytest.mark.parametrize("origin", ["unknown", "other url"])
def test_foreign_partial_file_not_resumed(server: LyingServer, tmp_path: Path, origin: str) -> None:
    server.data = _bundle(15)
    dest = tmp_path / "part"
    if origin == "other url":
        server.script = [_cut(9_000)]
        with pytest.raises(UpdateError):
            _fetch(server.url + "?other", dest)
    else:
        dest.write_bytes(b"PK" + os.urandom(9_000))
    _fetch(server.url, dest)
    assert server.requests[-1]["range"] is None
    assert dest.read_bytes() == server.data


@pytest.mark.parametrize("url", ["http://[::1", "ftp://127.0.0.1/bundle.zip", ""])
def test_unusable_url_is_an_update_error(tmp_path: Path, url: str) -> None:
    with pytest.raises(UpdateError, match="bundle"):
        _fetch(url, tmp_path / "part")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 96 KiB tmpfs, mounted for this test only; skipped where mounting is not permitted."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)


def test_full_disk_pauses_download(server: LyingServer, small_disk: Path) -> None:
    server.data = _bundle(9, size=150_000)
    dest = small_disk / "download" / "bundle.zip.part"
    with pytest.raises(UpdateError, match="free space") as caught:
        _fetch(server.url, dest)
    assert "No space left" in str(caught.value)
    assert server.data.startswith(dest.read_bytes())


def test_full_disk_update_resumes_later(
    server: LyingServer, tmp_path: Path, small_disk: Path
) -> None:
    # The installed app lives on the big disk; only the download folder is small.
    ota = OtaManager(tmp_path, kernel_version=1, allow_unsigned=True, background=False)
    first = ota.install_local(_bundle(10, size=2_000))
    ota.download_path = small_disk / "bundle.zip.part"
    server.data = _bundle(11, size=150_000)

    ota.deploy(DeployRequest("DFULL", server.url))
    journal = load_journal(ota.journal_path)
    assert journal.update is not None and journal.update.phase == "download"
    boot = ota.select_boot()
    assert boot is not None and boot.app_id == first

    ota.download_path = tmp_path / "roomy" / "bundle.zip.part"
    ota.resume()
    journal = load_journal(ota.journal_path)
    assert journal.update is not None and journal.update.phase == "staged"


def test_new_deployment_discards_old_download(server: LyingServer, tmp_path: Path) -> None:
    ota = OtaManager(tmp_path, kernel_version=1, allow_unsigned=True)
    ota.install_local(_bundle(12, size=2_000))
    old, new = _bundle(13, size=200_000), _bundle(14, size=200_000)

    def slow_old(data: bytes, start: int | None, if_range: str | None) -> Reply:
        reply = honest(old, start, if_range)
        return Reply(reply.status, reply.body, reply.headers, chunk_delay_s=0.01)

    server.script = [slow_old]
    ota.deploy(DeployRequest("DOLD", server.url + "?v=old"))
    time.sleep(0.2)
    server.data = new
    ota.deploy(DeployRequest("DNEW", server.url + "?v=new"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        journal = load_journal(ota.journal_path)
        if journal.update is not None and journal.update.phase == "staged":
            break
        ota.resume()
        ota.wait(1)
    journal = load_journal(ota.journal_path)
    assert journal.update is not None
    assert journal.update.deployment_id == "DNEW"
    assert journal.update.phase == "staged"
    contents = ota.slots.read(journal.update.slot)
    assert contents is not None
    assert contents.app_id == verify_bundle(new, trust=None, allow_unsigned=True).app_id


def test_second_deployment_of_same_bundle_is_adopted(server: LyingServer, tmp_path: Path) -> None:
    ota = OtaManager(tmp_path, kernel_version=1, allow_unsigned=True, background=False)
    ota.install_local(_bundle(16, size=2_000))
    server.data = _bundle(17)
    server.script = [_cut(6_000)]
    ota.deploy(DeployRequest("DFIRST", server.url))
    assert ota.download_path.stat().st_size == 6_000

    ota.deploy(DeployRequest("DSECOND", server.url))
    journal = load_journal(ota.journal_path)
    assert journal.update is not None
    assert journal.update.deployment_id == "DSECOND"
    assert journal.update.phase == "staged"
    assert server.requests[-1]["range"] == "bytes=6000-"
    reports = [(r.deployment_id, r.status.value) for r in ota.take_reports()]
    assert ("DSECOND", "downloading") in reports
    assert ("DSECOND", "installed") in reports
