"""Device HTTP requests executed by the service against a local TLS server."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from openvisor.cloud.service.httpproxy import HttpResult, ProxyPolicy, ProxyRequest, execute_request


def _certificate(
    subject: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    *,
    ca: bool,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/big":
            payload = b"x" * 100_000
        else:
            payload = (
                f"{self.command} {self.path} {self.headers.get('X-Test', '')} ".encode() + body
            )
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _reply


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """An HTTPS server on a free loopback port with a certificate from a test CA."""
    folder = tmp_path_factory.mktemp("tls")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _certificate("openvisor test CA", ca_key, ca_key, "openvisor test CA", ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _certificate("localhost", ca_key, server_key, "openvisor test CA", ca=False)
    ca_path = folder / "ca.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.block_on_close = False  # do not wait for keep-alive handler threads
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], ca_path
    server.shutdown()
    server.server_close()


def _run(request: ProxyRequest, policy: ProxyPolicy) -> object:
    return asyncio.run(execute_request(request, policy, device_sid="UV" + "1" * 32))


def test_proxy_executes_https_requests(tls_server: tuple[int, Path]) -> None:
    port, ca = tls_server
    policy = ProxyPolicy(allow_hosts=("localhost",), ca_bundle=ca)
    response = _run(
        ProxyRequest(
            "POST",
            f"https://localhost:{port}/echo",
            headers=["X-Test: yes", "Content-Type: text/plain"],
            body=b"payload",
            timeout_ms=5000,
        ),
        policy,
    )
    assert response.result is HttpResult.OK
    assert response.status_code == 201
    assert response.body == b"POST /echo yes payload"
    assert "Content-Type: text/plain" in response.headers
    for method in ("GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"):
        result = _run(ProxyRequest(method, f"https://localhost:{port}/m"), policy)
        assert result.result is HttpResult.OK, method
        assert result.status_code == 200, method


def test_proxy_enforces_request_rules(tls_server: tuple[int, Path]) -> None:
    port, ca = tls_server
    policy = ProxyPolicy(allow_hosts=("localhost",), ca_bundle=ca)
    url = f"https://localhost:{port}/x"
    cases = [
        (ProxyRequest("GET", f"http://localhost:{port}/x"), HttpResult.UNSUPPORTEDURISCHEME),
        (ProxyRequest("TRACE", url), HttpResult.UNSUPPORTEDMETHOD),
        (ProxyRequest("GET", url, timeout_ms=4999), HttpResult.INVALIDTIMEOUT),
        (ProxyRequest("GET", url, timeout_ms=10001), HttpResult.INVALIDTIMEOUT),
        (
            ProxyRequest("GET", url, headers=[f"X-{i}: v" for i in range(33)]),
            HttpResult.INVALIDHEADERS,
        ),
        (ProxyRequest("GET", url, headers=["no colon"]), HttpResult.INVALIDHEADERS),
        (ProxyRequest("GET", f"https://127.0.0.1:{port}/x"), HttpResult.REQUESTFAILED),
        (ProxyRequest("GET", f"https://localhost:{port}/big"), HttpResult.RESPONSETOOLARGE),
    ]
    for request, expected in cases:
        assert _run(request, policy).result is expected, request
    exactly_32 = ProxyRequest("GET", url, headers=[f"X-{i}: v" for i in range(32)])
    assert _run(exactly_32, policy).result is HttpResult.OK


def test_proxy_trusts_only_the_configured_ca(tls_server: tuple[int, Path]) -> None:
    port, ca = tls_server
    system_trust = ProxyPolicy(allow_hosts=("localhost",))
    assert _run(ProxyRequest("GET", f"https://localhost:{port}/x"), system_trust).result is (
        HttpResult.REQUESTFAILED
    )
    wildcard = ProxyPolicy(allow_hosts=("*.example.com", "local*"), ca_bundle=ca)
    assert (
        _run(ProxyRequest("GET", f"https://localhost:{port}/x"), wildcard).result is HttpResult.OK
    )
